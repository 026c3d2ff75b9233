"""The data layer (issue 13): datastores, data references and datasets, the download cache, outputs.

Core only: no Jupyter front end, no concrete target. Modules are imported by name where they are used
(fsspec and the store SDKs load only when data is actually touched).
"""
