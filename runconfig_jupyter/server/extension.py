"""Loading the server extension: one RunService, one RunWatcher and one settle timer per server, and the routes.

Settings are traitlets, so ``jupyter_server_config.py`` (or ``--RunconfigServer.poll_interval=1``)
can tune them like any Jupyter option.
"""

from __future__ import annotations

from typing import Any

from traitlets import Float, Unicode
from traitlets.config import Configurable

from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target.target_settings import current_target_settings
from runconfig_jupyter.server.handlers import handlers
from runconfig_jupyter.server.service import RunService
from runconfig_jupyter.server.settler import start_settling
from runconfig_jupyter.server.watcher import RunWatcher


class RunconfigServer(Configurable):
    """Options of the runconfig-jupyter server extension."""

    poll_interval = Float(
        0.5, help="Seconds between polls of the run store and followed logs for live updates.", config=True
    )
    settle_interval = Float(
        10.0,
        help="Seconds between checks of unfinished runs for a dead driver (core/runs/settle.py); 0 turns them off.",
        config=True,
    )
    home = Unicode(
        "", help="Run home folder; default $RUNCONFIG_JUPYTER_HOME, else <jupyter data dir>/runconfig.", config=True
    )


def load(serverapp: Any) -> None:
    settings = RunconfigServer(parent=serverapp)
    # c.TargetSettings.targets / .aliases in jupyter_server_config.py: the same targets %targets and the form see
    current_target_settings(parent=serverapp)
    store = RunStore(settings.home or None)
    service = RunService(store, root_dir=serverapp.root_dir)
    watcher = RunWatcher(service, interval=settings.poll_interval)
    web_app = serverapp.web_app
    web_app.settings["runconfig_service"] = service
    web_app.settings["runconfig_watcher"] = watcher
    web_app.settings["runconfig_settler"] = start_settling(store, settings.settle_interval)
    web_app.add_handlers(".*$", handlers(web_app.settings["base_url"]))
    serverapp.log.info("runconfig-jupyter server extension loaded; runs in %s", store.home)
