"""Secret environment variables: redacted in every record, delivered to the run through a private file.

A run configuration's ``environment_variables`` often carry tokens (``HF_TOKEN``, ``WANDB_API_KEY``,
``AZURE_STORAGE_CONNECTION_STRING``). run.json, the store, logs and API answers are read by anyone
holding the server's token and are copied around (shared folders, backups, the Lab sidebar), so the
value of every variable whose *name* looks secret is replaced there by ``REDACTED``. The real values go
to ``<home>/secrets/<run_id>.json`` (folder 0700, file 0600, outside the run folder so no file listing
or outputs export can serve it); the driver reads them back when it builds the script's environment.

Why a file and not the driver's environment: a warm standby driver was started before the run existed
and a re-attaching driver is started later by whoever reads the run; both find the file by run id.
Re-run restores the values from the parent run's file; when that file is gone the re-run is refused
(naming the variable) instead of running with the placeholder. The file lives as long as the run folder.

``RUNCONFIG_SECRET_NAMES`` adds name patterns (``fnmatch``, comma-separated; ``*`` redacts every value).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.safety.secret_names import is_secret_name
from runconfig_jupyter.core.system.paths import check_run_id

REDACTED = "[redacted]"
# The two places a run configuration holds variables, as (to_dict path, field name in errors).
SECTIONS = (
    (("run_config", "environmentVariables"), "environment_variables"),
    (("run_config", "environment", "environmentVariables"), "environment.environment_variables"),
)


def refuse_secret_docker_env(arguments: Any, field: str) -> None:
    """A secret-named variable set with docker's ``--env/-e NAME=value`` would bypass redaction: refuse it.

    Docker arguments are recorded as written (run.json, ``GET /runs/{id}``); only ``environment_variables``
    have their secret values kept out of records. So the value must move there (every target passes those
    to the container or process as well).
    """
    if isinstance(arguments, Mapping):  # a target's mapping form: {env: [A=1, B=2]}
        arguments = [
            part
            for key, value in arguments.items()
            for item in (value if isinstance(value, list) else [value])
            for part in (f"--{key}", item)
        ]
    if not isinstance(arguments, list):
        return
    words = [word for argument in arguments for word in str(argument).split()]
    for index, word in enumerate(words):
        lowered = word.lower()
        if lowered in ("--env", "-e", "env"):
            value = words[index + 1] if index + 1 < len(words) else ""
        elif lowered.startswith(("--env=", "env=")):
            value = word.split("=", 1)[1]
        elif word.startswith("-e") and len(word) > 2:
            value = word[2:].removeprefix("=")
        else:
            continue
        name = value.split("=", 1)[0]
        if "=" in value and is_secret_name(name):
            raise ConfigError(
                f"'{name}' looks secret, and a value given with docker's --env/-e is copied into run "
                "records and API answers; set it in environment_variables instead, where secret values are kept "
                "out of records (docs/SECURITY.md)",
                field=field,
            )


class ScriptConfig(Protocol):
    """What this module reads of a ``ScriptRunConfig``: named by shape, since the config imports this module."""

    @property
    def run_config(self) -> Any: ...


def _section(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None  # type: ignore[assignment]
    return data if isinstance(data, dict) else None


def redact_config_dict(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Replace secret values in a ``ScriptRunConfig.to_dict()`` in place; return them by section."""
    found: dict[str, dict[str, str]] = {}
    for path, label in SECTIONS:
        variables = _section(data, path)
        for name, value in list((variables or {}).items()):
            if is_secret_name(name) and value not in (None, "", REDACTED):
                found.setdefault(label, {})[name] = str(value)
                variables[name] = REDACTED  # type: ignore[index]
    return found


def restore_config(config: ScriptConfig, secrets: Mapping[str, Mapping[str, str]]) -> None:
    """Put the real values back into a config read from run.json (driver, re-run)."""
    for _path, label in SECTIONS:
        variables = _variables(config, label)
        for name, value in secrets.get(label, {}).items():
            if variables.get(name) == REDACTED:
                variables[name] = value


def refuse_placeholders(config: ScriptConfig, hint: str) -> None:
    """A ``REDACTED`` value must never reach a script: it means the real value was lost (or copied from a record)."""
    for _path, label in SECTIONS:
        for name, value in _variables(config, label).items():
            if value == REDACTED:
                raise ConfigError(f"the value is the placeholder {REDACTED!r}; {hint}", field=f"{label}.{name}")


def _variables(config: ScriptConfig, label: str) -> dict[str, Any]:
    run_config = config.run_config
    return (
        run_config.environment_variables
        if label == "environment_variables"
        else run_config.environment.environment_variables
    )


class SecretFile:
    """``<home>/secrets/<run_id>.json``: the only place a run's secret values are written."""

    def __init__(self, home: Path, run_id: str):
        self.folder = Path(home) / "secrets"
        self.path = self.folder / f"{check_run_id(run_id)}.json"

    def write(self, secrets: Mapping[str, Mapping[str, str]]) -> None:
        if not secrets:
            return
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.folder, 0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)
            json.dump(secrets, out)

    def read(self) -> dict[str, dict[str, str]]:
        """The run's secrets, or {} when it had none (or the file was removed)."""
        try:
            with open(self.path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError:
            return {}
        return {str(k): {str(n): str(v) for n, v in dict(vs).items()} for k, vs in dict(data).items()}

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
