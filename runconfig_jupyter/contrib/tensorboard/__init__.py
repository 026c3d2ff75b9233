"""``azureml.contrib.tensorboard``: where v1 kept ``Tensorboard`` until 2019, before it became ``azureml.tensorboard``.

The notebooks of that time import it from here; it is the same class as ``runconfig_jupyter.tensorboard``'s, so a
ported notebook behaves the same whichever of the two paths it was written against.
"""

from __future__ import annotations

from runconfig_jupyter.tensorboard import Tensorboard

__all__ = ["Tensorboard"]
