"""``azureml.data``: the data classes ported code imports from there (``from azureml.data import
OutputFileDatasetConfig``). They live in ``runconfig_jupyter/core/data``; these modules keep v1's import paths.
"""

from runconfig_jupyter.core.data.consumption import DatasetConsumptionConfig, OutputFileDatasetConfig
from runconfig_jupyter.core.data.dataset import FileDataset, TabularDataset
from runconfig_jupyter.core.data.reference import DataPath, DataReference

__all__ = [
    "DataPath",
    "DataReference",
    "DatasetConsumptionConfig",
    "FileDataset",
    "OutputFileDatasetConfig",
    "TabularDataset",
]
