"""The data layer (issue 13): datastores, datasets, data references, the data plan and outputs."""
