"""``azureml.opendatasets`` (Azure Open Datasets: ``MNIST``, ``Diabetes``, ...): the data sits in Azure's storage and
is found through Azure's catalogue; importing it says how to bring the files in yourself.

Like ``azureml.dataprep``, the import fails with ``NotSupportedLocally`` (not ModuleNotFoundError), so a ported
quickstart stops at ``from azureml.opendatasets import MNIST`` with one sentence saying what to write instead.
"""

from runconfig_jupyter.core.errors import NotSupportedLocally

raise NotSupportedLocally(
    "Azure Open Datasets (azureml.opendatasets)",
    "Get the files once (for MNIST, its four idx .gz files), put them in a datastore with "
    "ws.get_default_datastore().upload(src_dir, target_path='mnist') and use "
    "Dataset.File.from_files((datastore, 'mnist/**')) where the notebook used MNIST.get_file_dataset(), "
    "or Datastore.register_fsspec(ws, name, url) for a web folder.",
)
