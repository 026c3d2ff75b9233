"""IPython magics: ``%%runconfig``, ``%submit``, ``%runs``, ``%logs``, ``%cancel``, ``%targets``.

Thin: parsing and display only; everything else is the core API, so what a
magic does can always be done from a plain script too.
"""

from __future__ import annotations

import getpass
import os
import sys
import warnings
from typing import Any

from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Unicode

from runconfig_jupyter.core.errors import ConfigError, RunConfigError, TargetAuthError

DEFAULT_CONFIG_NAME = "runconfig"


def _collect_garbage(args: Any) -> None:
    """``%runs --gc``: a dry run unless ``--yes`` (``collect_garbage`` in core/runs/gc.py gives the report)."""
    from runconfig_jupyter.core.runs.garbage import GcPolicy
    from runconfig_jupyter.core.runs.gc import collect_garbage

    if not args.gc:
        _show_error(ConfigError("--yes, --older-than, --max-size and --grace go with --gc", field="--gc"))
        return None
    try:
        report = collect_garbage(GcPolicy.parse(args.older_than, args.max_size, args.grace), dry_run=not args.yes)
    except RunConfigError as error:
        _show_error(error)
        return None
    print(report.summary())
    return None


def _show_error(error: Exception) -> None:
    """Typed errors are the user's to fix: show the message, not a traceback."""
    print(f"{type(error).__name__}: {error}", file=sys.stderr)


@magics_class
class RunConfigMagics(Magics):
    default_experiment = Unicode("notebook", help="Experiment used by %submit without --experiment.").tag(config=True)
    default_target = Unicode(
        "", help="Target used by %submit without --target when the config names none ('' = the config's own)."
    ).tag(config=True)
    live_view = Bool(True, help="Show a live view of a submitted run (widgets when available).").tag(config=True)
    follow_poll_seconds = Float(0.1, help="How often %logs -f and the live view look for new output.").tag(config=True)

    # -- %%runconfig --------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", default=DEFAULT_CONFIG_NAME, help="Variable to store the ScriptRunConfig in.")
    @argument("--source-directory", "-s", default=None, help="Source directory (default: the notebook's folder).")
    @argument("--quiet", "-q", action="store_true", help="Do not print the summary.")
    @cell_magic
    def runconfig(self, line: str, cell: str) -> None:
        """Parse the cell's YAML run configuration, validate it and store it under NAME."""
        from runconfig_jupyter.core.config import ScriptRunConfig

        args = parse_argstring(self.runconfig, line)
        if not args.name.isidentifier():
            _show_error(RunConfigError(f"'{args.name}' is not a valid Python name; use e.g. %%runconfig train_cfg"))
            return
        try:
            config = ScriptRunConfig.from_yaml(cell, source_directory=args.source_directory or os.getcwd())
            config.validate()
            self._check_target_name(config)
        except RunConfigError as error:
            _show_error(error)
            return
        self.shell.user_ns[args.name] = config
        if not args.quiet:
            print(f"Stored run configuration '{args.name}':\n{config.summary()}")

    def _check_target_name(self, config: Any) -> None:
        """An unknown compute target is said at the cell, not first at %submit (UnknownTarget names the known)."""
        from runconfig_jupyter.core.runs.submit import default_target_name
        from runconfig_jupyter.core.target.configured import configured_targets, resolve_target

        name = default_target_name(config)
        if name not in configured_targets():
            resolve_target(name)  # raises UnknownTarget with the names it knows

    # -- %submit ------------------------------------------------------------
    @magic_arguments()
    @argument("name", nargs="?", default=DEFAULT_CONFIG_NAME, help="ScriptRunConfig variable (default: runconfig).")
    @argument("--target", "-t", default=None, help="Compute target name (local, docker, or a configured one).")
    @argument("--experiment", "-e", default=None, help="Experiment name.")
    @argument("--wait", "-w", action="store_true", help="Block and stream the log until the run ends.")
    @argument("-o", "--output", default=None, help="Store the ScriptRun in this variable.")
    @argument(
        "--dry-run",
        action="store_true",
        help="Check the configuration and the target and show what would be packaged; submit nothing.",
    )
    @line_magic
    def submit(self, line: str) -> Any:
        """Package the source directory and submit the run configuration NAME."""
        from runconfig_jupyter.core.config import ScriptRunConfig
        from runconfig_jupyter.core.runs.script_run import submit

        args = parse_argstring(self.submit, line)
        config = self.shell.user_ns.get(args.name)
        if not isinstance(config, ScriptRunConfig):
            _show_error(
                RunConfigError(
                    f"no run configuration named '{args.name}': define it with a %%runconfig {args.name} cell "
                    "or assign a ScriptRunConfig to that variable"
                )
            )
            return None
        named = config.target_name if config.compute_target or config.target_name != "local" else None
        target = args.target or named or self.default_target or None
        experiment = args.experiment or self.default_experiment
        if args.dry_run:
            self._dry_run(config, target)
            return None
        try:
            self._ask_for_token(target)
            run = submit(
                config,
                experiment,
                target=target,
                snapshot_progress=PackagingProgress(),
            )
        except RunConfigError as error:
            if isinstance(error, TargetAuthError):
                self._forget_token(target)
            _show_error(error)
            return None
        if args.output:
            self.shell.user_ns[args.output] = run
        if args.wait:
            try:
                run.wait_for_completion(show_output=True, raise_on_error=False)
            except KeyboardInterrupt:
                print(f"\nStopped following; the run goes on. Cancel it with %cancel {run.id}")
        elif self.live_view:
            shown = self._show_live(run)
            return None if args.output else shown
        return run if not args.output else None

    def _ask_for_token(self, target: str | None) -> None:
        """Prompt once for a remote target's token and keep it only in this process's environment."""
        if not target:
            return
        from runconfig_jupyter.core.target.configured import configured_targets

        spec = configured_targets().get(target, {})
        variable = spec.get("token_env")
        if variable and not os.environ.get(variable):
            os.environ[variable] = getpass.getpass(f"Token for target '{target}' (kept in ${variable} only): ")

    def _dry_run(self, config: Any, target: str | None) -> None:
        """What %submit would do, without recording, packaging or starting anything."""
        from runconfig_jupyter.core.runs.names import check_experiment_name
        from runconfig_jupyter.core.runs.submit import default_target_name
        from runconfig_jupyter.core.snapshot.create import SnapshotLimits, build_manifest
        from runconfig_jupyter.core.target.configured import resolve_target

        try:
            config.validate()
            compute = resolve_target(target or default_target_name(config))
            check_experiment_name(self.default_experiment)
            limits = SnapshotLimits.from_env()
            manifest = build_manifest(config.source_directory, limits)
            print(f"Would run on '{compute.name}' ({compute.type_name}):\n{config.summary()}")
            print(f"Snapshot: {manifest.summary()}")
            compute.validate(config)
            manifest.check(limits)
            self._describe_data(config)
        except RunConfigError as error:
            _show_error(error)
            return
        print("Nothing submitted (--dry-run).")

    @staticmethod
    def _describe_data(config: Any) -> None:
        """Each input's datastore, path, size and cache state, each output's destination ({run-id} kept)."""
        from runconfig_jupyter.core.data.describe import describe_plan
        from runconfig_jupyter.core.runs.submit import plan_data

        plan = plan_data(config, "{run-id}")
        if plan:
            print("Data:\n" + "\n".join(describe_plan(plan)))

    def _forget_token(self, target: str | None) -> None:
        """A refused token must not stick in the environment: the next %submit asks again."""
        from runconfig_jupyter.core.target.configured import configured_targets

        variable = configured_targets().get(target or "", {}).get("token_env")
        if variable:
            os.environ.pop(variable, None)

    def _show_live(self, run: Any) -> Any:
        """Show the one live view of a submitted run; return the run, which this cell then does not draw again."""
        try:
            from runconfig_jupyter.widgets.live import show_run, shown_run
        except ImportError:
            print(f"Submitted {run.id}; follow it with %logs {run.id} -f")
            return run
        show_run(run, poll=self.follow_poll_seconds)
        return shown_run(run, getattr(self.shell, "execution_count", None))

    # -- %runs / %logs / %cancel / %targets ------------------------------------
    @magic_arguments()
    @argument("--experiment", "-e", default=None)
    @argument("--status", "-s", default=None)
    @argument("--limit", "-n", type=int, default=20)
    @argument("--table", action="store_true", help="Show an interactive table widget instead of text.")
    @argument(
        "--rebuild-index",
        action="store_true",
        help="Rebuild the run index (runs.db) from the run folders, then list.",
    )
    @argument(
        "--gc",
        action="store_true",
        help="List the snapshots, environment images, virtualenvs and conda prefixes no run references "
        "(what would be removed, and the bytes); add --yes to remove them.",
    )
    @argument("--yes", action="store_true", help="With --gc: remove, rather than only list.")
    @argument("--older-than", default=None, help="With --gc: only what was last used this long ago (12h, 7d).")
    @argument("--max-size", default=None, help="With --gc: remove least recently used until all fits (10G).")
    @argument("--grace", type=float, default=None, help="With --gc: never what is younger (seconds; default 600).")
    @line_magic
    def runs(self, line: str) -> Any:
        """List recent runs, or collect what no run references (--gc)."""
        from runconfig_jupyter.core.runs.store import RunStore, RunStoreWarning, rebuild_index

        args = parse_argstring(self.runs, line)
        if args.gc or args.yes or args.older_than or args.max_size or args.grace is not None:
            return _collect_garbage(args)
        if args.rebuild_index:
            try:
                with warnings.catch_warnings():  # the summary below says it once
                    warnings.simplefilter("ignore", RunStoreWarning)
                    print(f"Run index rebuilt: {rebuild_index().summary()}")
            except RunConfigError as error:
                _show_error(error)
                return None
        if args.table:  # the one implementation behind %runs_table too
            from runconfig_jupyter.widgets.runs_table import show_runs_table

            show_runs_table(args.experiment, args.status, args.limit)
            return None
        try:
            records = RunStore().list(args.experiment, args.status, limit=args.limit)
        except (RunConfigError, ValueError) as error:
            _show_error(error)
            return None
        if not records:
            print("No runs yet. Submit one with %submit.")
            return None
        # A plain read: runs whose driver died are settled elsewhere (core/runs/settle.py)
        width = max(len(r.run_id) for r in records)
        print(f"{'RUN ID':<{width}}  {'STATUS':<15} {'TARGET':<10} {'DURATION':>9}  SCRIPT")
        for record in records:
            duration = f"{record.duration:.1f}s" if record.duration is not None else "-"
            print(
                f"{record.run_id:<{width}}  {record.status.value:<15} {record.target:<10} {duration:>9}  "
                f"{record.script or ''}"
            )
        return None

    @magic_arguments()
    @argument("run_id")
    @argument("-f", "--follow", action="store_true", help="Keep following until the run ends.")
    @line_magic
    def logs(self, line: str) -> None:
        """Print a run's log; with -f follow it live (Ctrl-C / interrupt stops following, not the run)."""
        from runconfig_jupyter.core.runs.script_run import ScriptRun

        args = parse_argstring(self.logs, line)
        try:
            run = ScriptRun(args.run_id)
            if not args.follow:
                print(run.get_log(), end="")
                return
            for chunk in run.follow(poll=self.follow_poll_seconds):
                print(chunk, end="", flush=True)
            record = run.record
            print(f"\n[{record.run_id}: {record.status.value}{' - ' + record.reason if record.reason else ''}]")
        except RunConfigError as error:
            _show_error(error)
        except KeyboardInterrupt:
            print("\nStopped following; the run goes on.")

    @line_magic
    def cancel(self, line: str) -> None:
        """Cancel a run: %cancel RUN_ID."""
        from runconfig_jupyter.core.runs.script_run import ScriptRun

        run_id = line.strip()
        if not run_id:
            _show_error(RunConfigError("usage: %cancel RUN_ID (see %runs)"))
            return
        try:
            run = ScriptRun(run_id)
            if run.cancel():
                print(f"Cancel requested for {run_id}.")
            else:
                print(f"{run_id} already ended: {run.get_status()}.")
        except RunConfigError as error:
            _show_error(error)

    @magic_arguments()
    @argument("--settings", nargs="?", const="", default=None, metavar="TYPE", help="Settings of a type (or all).")
    @line_magic
    def targets(self, line: str) -> None:
        """List configured compute targets, whether they are reachable, and what they can do."""
        from runconfig_jupyter.core.target.configured import list_targets

        args = parse_argstring(self.targets, line)
        if args.settings is not None:
            self._print_settings(args.settings)
            return
        try:
            infos = list_targets()
        except RunConfigError as error:
            _show_error(error)
            return
        for info in infos:
            caps = info.capabilities
            flags = ", ".join(name for name in ("gpu", "distributed", "cancel", "max_duration") if getattr(caps, name))
            state = "available" if info.available else f"unavailable: {info.detail}"
            alias = f"  (alias of {info.settings['alias_of']})" if "alias_of" in info.settings else ""
            print(f"{info.name:<14} {info.type:<7} {state}  [{flags}]{alias}")

    @staticmethod
    def _print_settings(type_name: str) -> None:
        """Each installed type's settings (name, type, default, help): what targets.yaml entries may hold."""
        from runconfig_jupyter.core.target.plugins import TARGET_TYPES, target_class
        from runconfig_jupyter.core.target.settings import settings_text

        try:
            for name in [type_name] if type_name else TARGET_TYPES.names():
                print(f"type: {name}\n{settings_text(target_class(name).Settings)}")
        except RunConfigError as error:
            _show_error(error)


class PackagingProgress:
    """Text progress for packaging a big source folder; silent for small ones (most submits)."""

    SHOW_ABOVE_BYTES = 64 << 20

    def __init__(self, stream: Any = None):
        self.stream = stream or sys.stdout
        self.shown = -1

    def __call__(self, done: int, total: int) -> None:
        if total < self.SHOW_ABOVE_BYTES:
            return
        percent = min(100, int(100 * done / total)) // 5 * 5
        if percent == self.shown:
            return
        self.shown = percent
        end = "\n" if done >= total else ""
        self.stream.write(f"\rPackaging the source directory: {percent:3d}% of {total / 2**20:,.0f} MB{end}")
        self.stream.flush()


def load_ipython_extension(ipython: Any) -> None:
    from runconfig_jupyter.core.target.target_settings import current_target_settings
    from runconfig_jupyter.widgets.magics import WidgetMagics  # imports ipywidgets only when a widget magic runs

    # One TargetSettings per shell, from ipython_config.py; `%config TargetSettings.targets = {...}` edits it live.
    ipython.configurables.append(current_target_settings(config=ipython.config))
    ipython.register_magics(RunConfigMagics(shell=ipython, config=ipython.config))
    from runconfig_jupyter.core.runs.drivers import prewarm

    prewarm()  # the first %submit gets a warm driver too
    ipython.register_magics(WidgetMagics(shell=ipython, config=ipython.config))
