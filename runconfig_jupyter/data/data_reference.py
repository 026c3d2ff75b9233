"""``azureml.data.data_reference``: ``DataReference`` (and ``DataPath``) at v1's import path."""

from runconfig_jupyter.core.data.reference import DataPath, DataReference

__all__ = ["DataPath", "DataReference"]
