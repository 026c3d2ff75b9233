"""``azureml.core.compute_target``'s exception, for ``except ComputeTargetException:`` in ported code."""

from __future__ import annotations

from runconfig_jupyter.core.errors import UnknownTarget


class ComputeTargetException(UnknownTarget):
    """A compute target name that is neither configured nor an alias (the message says how to map it)."""


class UnknownComputeTargetKey(ComputeTargetException, KeyError):
    """``ws.compute_targets["cpu-cluster"]`` for an unmapped name: a KeyError too, for code that catches one."""

    __str__ = BaseException.__str__  # the message as written, not KeyError's quoted form


__all__ = ["ComputeTargetException"]
