"""``azureml.contrib.tensorboard.export``: the 2019 path of ``export_to_tensorboard`` (now
``azureml.tensorboard.export``); the same function as ``runconfig_jupyter.tensorboard.export``'s."""

from __future__ import annotations

from runconfig_jupyter.tensorboard.export import export_to_tensorboard

__all__ = ["export_to_tensorboard"]
