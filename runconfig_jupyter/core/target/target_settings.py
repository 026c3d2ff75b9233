"""``TargetSettings``: compute targets configured through traitlets, read the same way by every front end.

A target defined in ``jupyter_server_config.py`` or ``ipython_config.py``::

    c.TargetSettings.targets = {"gpu-box": {"type": "kernel", "url": "https://gpu-box:8888", "token_env": "GPU_TOKEN"}}
    c.TargetSettings.aliases = {"cpu-cluster": "local"}

is seen by the magics, the widgets' target dropdown and the server's targets route alike: each front end
builds one ``TargetSettings`` from its own config (``current_target_settings``) and that object becomes a
source of core/target/configured.py, merged there with targets.yaml and ``register_target``. Only
traitlets is imported (no Jupyter front end); plain scripts never import this module.
"""

from __future__ import annotations

from typing import Any

from traitlets import Dict, Unicode
from traitlets.config import Configurable

from runconfig_jupyter.core.target.configured import current_target_source, use_target_settings


class TargetSettings(Configurable):
    """Compute targets and aliases from traitlets config (merged with targets.yaml and register_target)."""

    targets = Dict(
        key_trait=Unicode(),
        value_trait=Dict(),
        help="Compute targets by name, e.g. {'gpu-box': {'type': 'kernel', 'url': ..., 'token_env': ...}}. "
        "Settings per type are listed by %targets --settings and in docs/ADDING_A_TARGET.md.",
    ).tag(config=True)
    aliases = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help="Other names for configured targets, e.g. {'cpu-cluster': 'local'} for code ported from Azure ML.",
    ).tag(config=True)


def current_target_settings(config: Any = None, parent: Any = None) -> TargetSettings:
    """Build the front end's ``TargetSettings`` from its config and make it the current source."""
    settings = TargetSettings(config=config) if parent is None else TargetSettings(parent=parent)
    use_target_settings(settings)
    return settings


def ensure_target_settings(config: Any = None) -> None:
    """Make ``config``'s TargetSettings current unless a front end already did (e.g. ``%load_ext``)."""
    if current_target_source() is None:
        current_target_settings(config=config)
