"""RunDetails during a real preparation step: the local target builds a venv for the run's pip packages."""

from __future__ import annotations

from runconfig_jupyter.core.config import CondaDependencies, ScriptRunConfig
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.widgets.run_details import RunDetails
from tests.conftest import wait_for


def test_real_preparing_phase_shows_the_progress_bar(project):
    """pip packages make the local target build a venv first: the view shows Preparing with its step."""
    config = ScriptRunConfig(str(project), script="train.py", arguments=["--epochs", 1])
    config.run_config.environment.python.conda_dependencies = CondaDependencies.create(pip_packages=["six"])
    run = submit(config, "wd")  # six is installed system-wide: pip finds it, nothing is downloaded
    details = RunDetails(run).start()
    seen: list[str] = []

    def preparing_shown() -> bool:
        if details.progress_box.layout.display == "":
            seen.append(f"{details.progress.description}: {details.progress_label.value}")
        return "Preparing" in " ".join(seen) and "environment" in " ".join(seen).lower()

    wait_for(preparing_shown, 60, interval=0.02, message="the Preparing progress bar")
    assert details.wait(120)
    assert details.view.status == "Completed", details.view.detail
    assert details.progress_box.layout.display == "none"
