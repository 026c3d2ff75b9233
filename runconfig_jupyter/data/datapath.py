"""``azureml.data.datapath``: ``DataPath`` and ``DataPathComputeBinding`` at v1's import path."""

from runconfig_jupyter.core.data.reference import DataPath, DataPathComputeBinding

__all__ = ["DataPath", "DataPathComputeBinding"]
