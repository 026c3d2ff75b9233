"""Typed errors.

Every error a user can trigger is one of these, so front ends can map them to
a message (magics), an HTTP status (server) or a widget state without parsing
text. Each message says what to do next, not only what went wrong.
"""

from __future__ import annotations

from collections.abc import Iterable


class RunConfigError(Exception):
    """Base class; ``http_status`` lets the server map errors without a table."""

    http_status = 400


class UserError(RunConfigError):
    """What Azure's ``UserErrorException`` covered (``azureml.exceptions`` names it so): a call the user can fix, a
    bad configuration or an unknown name, so v1's ``except UserErrorException:`` around ``Dataset.get_by_name`` or
    ``Environment.get`` still catches the asset that is not there."""


class ConfigError(UserError, ValueError):
    """A run configuration is invalid. ``field`` names the offending key (dotted path)."""

    def __init__(self, message: str, field: str | None = None, line: int | None = None):
        self.field = field
        self.line = line
        self.message = message  # without the field and line, for callers that re-raise with their own
        prefix = f"{field}: " if field else ""
        where = f" (line {line})" if line else ""
        super().__init__(f"{prefix}{message}{where}")


class UnknownKeyError(ConfigError):
    """A key that no section knows; carries the closest valid spelling when there is one."""

    def __init__(self, key: str, valid: Iterable[str], section: str | None = None, line: int | None = None):
        valid = sorted(set(valid))
        self.key = key
        self.suggestion = closest(key, valid)
        where = f" in '{section}'" if section else ""
        hint = f" Did you mean '{self.suggestion}'?" if self.suggestion else ""
        field = f"{section}.{key}" if section else key
        super().__init__(f"unknown key '{key}'{where}.{hint} Valid keys: {', '.join(valid)}.", field=field, line=line)


class SnapshotError(RunConfigError):
    """The source directory cannot be packaged (missing, unreadable, not a directory)."""


class UnsafeArchive(SnapshotError):
    """An archive member would land outside the extraction folder (absolute path, '..', or a link out)."""


class SnapshotTooLarge(SnapshotError):
    """The snapshot exceeds a size or file-count limit; the message lists the biggest offenders."""

    http_status = 413


class TargetUnavailable(RunConfigError):
    """A compute target cannot take the run right now (daemon down, server unreachable, no GPU)."""

    http_status = 409


class TargetAuthError(TargetUnavailable):
    """The target refused our credentials (wrong token); nothing was uploaded."""

    http_status = 403


class UnknownTarget(ConfigError):
    """``compute_target`` names no configured target."""

    http_status = 404


class TargetPluginError(TargetUnavailable):
    """An installed target plug-in (entry point) cannot be loaded; ``entry_point`` names it (``name = module:attr``)."""

    def __init__(self, message: str, entry_point: str):
        self.entry_point = entry_point
        super().__init__(message)


class RunNotFound(RunConfigError, LookupError):
    http_status = 404


class RunStateError(RunConfigError):
    """The operation does not fit the run's current status (e.g. download before completion)."""

    http_status = 409


class PreparationFailed(RunConfigError):
    """Raised inside a target while preparing (image build, upload): the run fails in phase Preparing."""

    def __init__(self, message: str, phase: str = "Preparing"):
        self.phase = phase
        super().__init__(message)


class CollectionFailed(RunConfigError):
    """Some outputs of a finished script could not be brought back; the others were.

    The driver records it as phase Finalizing with this reason and keeps the script's exit code,
    so a script that succeeded is never reported as a script failure.
    """


class RunStoreError(RunConfigError):
    """The run index (runs.db) could not be used; the message says what happened and what was done."""

    http_status = 503


class DiskFull(RunStoreError):
    """No space left where the run home lives (snapshot, run folder or index); nothing half-written was kept."""

    http_status = 507


class CondaChannelUnreachable(PreparationFailed):
    """No configured conda channel answered: names the packages, the channels tried and what to do."""

    def __init__(self, packages: Iterable[str], channels: Iterable[str], detail: str = ""):
        self.packages = list(packages)
        self.channels = list(channels)
        super().__init__(
            f"conda packages {', '.join(self.packages)} could not be installed: no channel was reachable "
            f"(tried {', '.join(self.channels)}{': ' + detail if detail else ''}). This machine may reach only "
            "PyPI, npm and Debian mirrors: set the environment's channels to a reachable conda mirror or a local "
            "channel folder (file:///path/to/channel), or list the packages as pip packages yourself."
        )


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """Best typo correction, comparing case- and underscore-insensitively (camelCase vs snake_case)."""

    def norm(text: str) -> str:
        return text.replace("_", "").replace("-", "").lower()

    by_norm = {norm(c): c for c in candidates}
    if norm(word) in by_norm:
        return by_norm[norm(word)]
    import difflib  # only when a name is unknown: every process imports this module

    match = difflib.get_close_matches(norm(word), list(by_norm), n=1, cutoff=0.6)
    return by_norm[match[0]] if match else None


class RunFailed(RunConfigError):
    """``wait_for_completion(raise_on_error=True)`` on a run that did not complete (Azure's ActivityFailedException)."""

    http_status = 409

    def __init__(self, run_id: str, status: str, phase: str | None, reason: str | None):
        self.run_id, self.status, self.phase, self.reason = run_id, status, phase, reason
        where = f" while {phase.lower()}" if phase and phase != "Running" else ""
        super().__init__(f"run {run_id} ended {status}{where}: {reason or 'no reason recorded'}")


class NotSupportedLocally(RunConfigError, NotImplementedError):
    """An Azure ML v1 call that needs Azure itself (portal, provisioning, HyperDrive, pipelines, ...).

    ``feature`` names the call, ``alternative`` what to do on your own machines instead. It is a
    NotImplementedError too, so generic ``except NotImplementedError`` handlers in ported code see it.
    """

    http_status = 501

    def __init__(self, feature: str, alternative: str):
        self.feature = feature
        self.alternative = alternative
        super().__init__(f"{feature} needs Azure ML and is not available locally. {alternative}")


class AssetNotFound(UserError, LookupError):
    """No registered environment or model with that name (and version) in the local registry."""

    http_status = 404


class AssetConflict(RunConfigError):
    """A write the registry or run history refuses (e.g. changing a property, which v1 made immutable)."""

    http_status = 409


class DataError(ConfigError):
    """A datastore or data input cannot be used as asked; ``field`` names the input or the datastore.

    A subclass of ConfigError so every front end already shows it under the field that named it, and so it
    is raised at submit, before anything is recorded or any target contacted.
    """


class UnknownDatastore(DataError, LookupError):
    """No datastore of that name is registered in this workspace (``<home>/datastores.yaml``)."""

    http_status = 404


class DatastoreUnreachable(DataError):
    """The store behind a datastore did not answer, or refused its credentials."""

    http_status = 409


class DataPathMissing(DataError, LookupError):
    """Nothing exists at that path on the datastore (no file, no folder, no container or bucket)."""

    http_status = 404


class DatastoreReadOnly(DataError):
    """A write (upload, output) was aimed at a datastore registered read-only."""

    http_status = 403
