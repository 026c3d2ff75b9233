"""The runconfig-jupyter Jupyter Server extension: REST + websocket over the run store.

Enabled on install by ``jupyter-config/jupyter_server_config.d/runconfig_jupyter.json``
(``{"ServerApp": {"jpserver_extensions": {"runconfig_jupyter.server": true}}}``).
"""

from __future__ import annotations

from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "runconfig_jupyter.server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from runconfig_jupyter.server.extension import load

    load(serverapp)
