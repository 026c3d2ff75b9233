"""``azureml.data``: the data classes ported code imports from there (``from azureml.data import
OutputFileDatasetConfig``). They live in ``runconfig_jupyter/core/data``; these modules keep v1's import paths.
"""

from runconfig_jupyter.core.data.consumption import DatasetConsumptionConfig, OutputFileDatasetConfig
from runconfig_jupyter.core.data.dataset import FileDataset, TabularDataset
from runconfig_jupyter.core.data.reference import DataPath, DataReference


def __getattr__(name: str) -> str:
    if name == "__version__":  # v1 samples print azureml.data.__version__: the package's version
        from runconfig_jupyter import __version__

        return __version__
    raise AttributeError(f"module 'runconfig_jupyter.data' has no attribute {name!r}")


__all__ = [
    "DataPath",
    "DataReference",
    "DatasetConsumptionConfig",
    "FileDataset",
    "OutputFileDatasetConfig",
    "TabularDataset",
]
