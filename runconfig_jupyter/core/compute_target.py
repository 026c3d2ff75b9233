"""``azureml.core.compute_target``'s exception, for ``except ComputeTargetException:`` in ported code."""

from __future__ import annotations

from .errors import UnknownTarget


class ComputeTargetException(UnknownTarget):
    """A compute target name that is neither configured nor an alias (the message says how to map it)."""


__all__ = ["ComputeTargetException"]
