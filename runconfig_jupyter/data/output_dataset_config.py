"""``azureml.data.output_dataset_config``: ``OutputFileDatasetConfig`` at v1's import path."""

from runconfig_jupyter.core.data.consumption import OutputFileDatasetConfig

__all__ = ["OutputFileDatasetConfig"]
