"""``azureml.opendatasets`` (Azure Open Datasets: ``MNIST``, ``Diabetes``, ...): Azure's catalogue of hosted data.

The import fails with ``NotSupportedLocally`` (not ImportError), so a ported tutorial stops at that line with the
way to the same files: the catalogue classes only wrapped public URLs in a dataset, and a dataset of URLs works here
once their host is a registered datastore.
"""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Azure Open Datasets (azureml.opendatasets)",
    "Register the place the files are served from (Datastore.register_fsspec(ws, 'mnist', 'https://host/mnist/'), "
    "or a folder with Datastore.register_local) and make the dataset from their URLs: "
    "Dataset.File.from_files(path=[url, ...]), or Dataset.Tabular.from_delimited_files(path=[url]) for a table.",
)
