"""The one interface every compute target implements.

A run's lifecycle is owned by a detached *run driver* process
(``runconfig_jupyter.core.runs.driver``), not by the kernel that submitted it, so a
run keeps going and keeps a complete log when that kernel dies. The driver
rebuilds the target from its JSON spec and calls, in order::

    prepare(ctx)  -> status Preparing   (image build, upload; errors = phase "Preparing")
    start(ctx)    -> status Starting    (errors = phase "Starting")
    wait(ctx)     -> status Running     (blocks; returns an Outcome)
    collect(ctx)  -> status Finalizing  (outputs/ and logs/ back into the run folder)
    cleanup(ctx)  -> always, even after a failure or cancel

``cancel(ctx, reason)`` is called from another thread of the driver (user
cancel or max_run_duration_seconds) and must make ``wait`` return promptly.

``validate(config)`` runs in the submitting process *before* anything is
packaged or recorded, so bad input fails fast and leaves nothing behind.
Front ends never call targets directly except through the core API; they read
``capabilities()`` to hide what a target cannot do.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.folder import STD_LOG
from runconfig_jupyter.core.system.records import asdict, field, record
from runconfig_jupyter.core.target.plugins import target_class
from runconfig_jupyter.core.target.settings import NoSettings, check_settings

if TYPE_CHECKING:
    from runconfig_jupyter.core.config import ScriptRunConfig
    from runconfig_jupyter.core.data.plan import DataPlan
    from runconfig_jupyter.core.runs.status import RunStatus


@record(frozen=True)
class Capabilities:
    """What a target can do; the UI hides the rest."""

    gpu: bool = False
    distributed: bool = False
    max_duration: bool = True
    cancel: bool = True
    reattach: bool = False  # a target that implements ``reattach()`` says so (the contract tests check it)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@record
class Outcome:
    """How the script ended. ``status`` is Completed, Failed or Canceled."""

    status: RunStatus
    exit_code: int | None = None
    reason: str | None = None
    phase: str = "Running"


class TargetRunContext(Protocol):
    """What a target sees of the run (implemented by the driver)."""

    run_id: str
    run_dir: Path
    config: ScriptRunConfig
    snapshot_path: Path  # the source directory: a store manifest (snapshot.json) or, for older runs, a tar
    outputs_dir: Path  # run_dir / "outputs"
    cancel_event: threading.Event
    data_plan: DataPlan  # the run's inputs and outputs, resolved at submit (core/data/plan.py; empty: no data)
    # Output name -> the host folder holding what the script wrote to it; a target fills it by the end of
    # ``collect`` and the driver uploads each folder to its datastore right after (core/data/outputs.py).
    produced_outputs: dict[str, Path]
    # What the target recorded at submit to start the script without ``config`` (``recorded_launch``), or None.
    launch: dict[str, Any] | None

    def environment(self) -> dict[str, str]:
        """Variables for the script: the run's own plus RUNCONFIG_RUN_ID and friends."""

    def log_path(self, name: str = STD_LOG) -> Path:
        """A file under run_dir/logs; the default (``STD_LOG``) is the script's output."""

    def write_log(self, data: bytes | str, name: str = STD_LOG) -> None:
        """Append to a run log. Lines carrying in-script metrics are extracted, not written."""

    def prepare_log(self, line: str) -> None:
        """A line of preparation output (image build, upload), shown in the live view."""

    def progress(self, phase: str, fraction: float | None = None, message: str = "") -> None:
        """Report progress of a long preparation step (fraction 0..1, or None when unknown)."""

    def record(self, **details: Any) -> None:
        """Store target-specific details (container id, remote pid) for re-attach and display."""


class ComputeTarget(ABC):
    """Base class of all targets. A type is installed through the ``runconfig_jupyter.targets`` entry-point
    group (see core/target/plugins.py) and declares its settings once, as the dataclass ``Settings``."""

    type_name: ClassVar[str] = ""
    Settings: ClassVar[type] = NoSettings
    # "module:function" that starts, with no argument and without importing this class's module, what
    # ``warm_up`` would start in the background; a fresh driver runs it before anything else
    # (core/runs/driver_entry.py). None: only ``warm_up``, after the plug-in loader and this module.
    head_start: ClassVar[str | None] = None

    def __init__(self, name: str | None = None, **settings: Any):
        self.name = name or self.type_name
        self.options: Any = check_settings(type(self).Settings, self.name, settings)  # the validated dataclass
        self.settings = settings  # as given: what to_spec records and the driver rebuilds the target from

    # -- description -------------------------------------------------------
    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    def to_spec(self) -> dict[str, Any]:
        """A JSON-able description the driver rebuilds the target from. Never holds secrets."""
        return {"type": self.type_name, "name": self.name, **self.settings}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> ComputeTarget:
        """The target a spec describes; its type's class comes from the entry-point group only."""
        spec = dict(spec)
        if "type" not in spec:
            raise ConfigError("a target spec needs a 'type' (an installed target type)", field="compute_target.type")
        odd = [key for key in spec if not isinstance(key, str)]
        if odd:  # e.g. a YAML key written as a number: name it rather than fail in Python's keyword call
            raise ConfigError(f"setting names must be text, got {odd[0]!r}", field=f"targets.{spec.get('name')}")
        return target_class(str(spec.pop("type")))(**spec)

    @classmethod  # noqa: B027 - optional hook
    def warm_up(cls) -> None:
        """Import what a run of this type needs and learn what is cheap to learn now.

        A standby driver calls this while nobody waits, so a claimed standby goes straight to work.
        Must not raise. Default: nothing.
        """

    @classmethod
    def garbage_sources(cls, home: Path) -> list[Any]:
        """The caches this type leaves in ``home`` (or on its engine) for ``collect_garbage`` (core/runs/gc.py).

        Each is a ``GarbageSource`` (core/runs/garbage.py): ``name``, ``items()``, ``remove(item)``; items carry
        the keys runs reference them by (core/runs/garbage_refs.py). Called only by a collection, never on a
        run's path; may raise (the collection reports the type as skipped). Default: none.
        """
        return []

    def available(self) -> tuple[bool, str]:
        """Whether the target can take a run now, and why not; cheap (used to fill dropdowns)."""
        return True, ""

    # -- submitting process ------------------------------------------------
    def validate(self, config: ScriptRunConfig) -> None:  # noqa: B027 - optional hook
        """Reject what this target cannot run, before anything is packaged or recorded."""

    def validate_data(self, plan: DataPlan) -> None:  # noqa: B027 - optional hook
        """Reject data this target cannot give the script (a host folder a remote cluster cannot see, a bad
        ``path_on_compute``). Called at submit right after the data plan is built, before ``validate`` (so a
        refusal here contacts nothing) and before anything is recorded."""

    def recorded_launch(self, config: ScriptRunConfig, plan: DataPlan) -> dict[str, Any] | None:
        """What this target's driver needs to start the script without rebuilding ``config`` (usually
        ``config.launch_record()`` plus the target's own facts), recorded in run.json as ``launch`` and given
        to the driver as ``ctx.launch``; None (the default) when its driver reads ``ctx.config``.

        Rebuilding the configuration costs a fresh driver its classes' import (~8 ms here), on the path between
        the submit and the script's first line. Not recorded for a run whose configuration holds secrets.
        """
        return None

    # -- driver process ----------------------------------------------------
    def prepare(self, ctx: TargetRunContext) -> None:  # noqa: B027 - optional hook
        """Build or fetch what the run needs (image, upload). Default: nothing."""

    @abstractmethod
    def start(self, ctx: TargetRunContext) -> None: ...

    @abstractmethod
    def wait(self, ctx: TargetRunContext) -> Outcome: ...

    @abstractmethod
    def cancel(self, ctx: TargetRunContext, reason: str) -> None: ...

    def collect(self, ctx: TargetRunContext) -> None:  # noqa: B027 - optional hook
        """Bring outputs/ and logs/ back into the run folder."""

    def cleanup(self, ctx: TargetRunContext) -> None:  # noqa: B027 - optional hook
        """Remove containers, kernels and temp folders. Must be safe to call twice."""

    def reattach(self, ctx: TargetRunContext) -> bool:
        """Resume following a run whose driver died; True when the run is still going.

        A target that returns True must make a later ``wait(ctx)`` follow that run,
        appending to the log from where it was left. Default: cannot re-attach.
        """
        return False


@record
class TargetInfo:
    """A configured target as listed by ``%targets`` and the server."""

    name: str
    type: str
    capabilities: Capabilities
    available: bool = True
    detail: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
