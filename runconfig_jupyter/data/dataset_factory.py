"""``azureml.data.dataset_factory``: the ``Dataset.File`` / ``Dataset.Tabular`` factories and ``DataType`` at v1's
import path."""

from runconfig_jupyter.core.data.dataset import DataType, FileDatasetFactory, TabularDatasetFactory

__all__ = ["DataType", "FileDatasetFactory", "TabularDatasetFactory"]
