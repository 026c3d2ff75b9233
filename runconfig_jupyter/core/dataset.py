"""``azureml.core.dataset``: ``from runconfig_jupyter.core.dataset import Dataset``.

The classes live in ``core/data/dataset.py``; this module keeps v1's import path for ported code.
"""

from runconfig_jupyter.core.data.dataset import Dataset, FileDataset, TabularDataset

__all__ = ["Dataset", "FileDataset", "TabularDataset"]
