"""``azureml.data.dataset_consumption_config``: ``DatasetConsumptionConfig`` at v1's import path."""

from runconfig_jupyter.core.data.consumption import DatasetConsumptionConfig

__all__ = ["DatasetConsumptionConfig"]
