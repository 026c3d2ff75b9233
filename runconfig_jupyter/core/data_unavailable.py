"""``Datastore`` and ``Dataset``: importable for ported code, but the data layer is not local yet (issue 13)."""

from __future__ import annotations

from .azure_only import DATA_LAYER, azure_only_class

Datastore = azure_only_class("Datastore", "Datastore", DATA_LAYER, __name__)
Dataset = azure_only_class("Dataset", "Dataset", DATA_LAYER, __name__)

__all__ = ["Dataset", "Datastore"]
