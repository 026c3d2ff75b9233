"""``azureml.core.datastore``: ``from runconfig_jupyter.core.datastore import Datastore``.

The class lives in ``core/data/datastore.py``; this module keeps v1's import path for ported code.
"""

from runconfig_jupyter.core.data.datastore import Datastore

__all__ = ["Datastore"]
