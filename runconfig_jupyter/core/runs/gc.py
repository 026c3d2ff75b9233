"""``collect_garbage``: list (and on request remove) what no run of the home references.

The one entry point behind ``%runs --gc``, the REST route ``POST runconfig/api/gc`` and
``python -m runconfig_jupyter.core.runs.gc``. A dry run is the default everywhere: it reports what would go
and the bytes, and removes nothing.

Sources: the snapshot store (core/runs/garbage_snapshots.py) and whatever each installed target type offers
through the optional ``garbage_sources(home)`` hook of its class (the local target: its virtualenvs and
conda prefixes; docker: the environment images it built for this home). Target types come from the
entry-point group like everywhere else, so a plug-in's caches are collected without core naming it. A type
that cannot be loaded, or a source that cannot list its items (no Docker engine), is reported as skipped
and the rest goes on. Two collections of one home never run at once (``<home>/gc.lock``).
"""

from __future__ import annotations

import fcntl
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runconfig_jupyter.core.errors import RunConfigError, RunStateError
from runconfig_jupyter.core.runs.garbage import (
    GRACE_SECONDS,
    GarbageItem,
    GarbageSource,
    GcPolicy,
    GcReport,
    apply,
    plan,
)
from runconfig_jupyter.core.runs.garbage_refs import run_references
from runconfig_jupyter.core.runs.garbage_snapshots import SnapshotSource
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.core.target import plugins

LOCK_FILE = "gc.lock"


def garbage_sources(
    home: Path, skipped: dict[str, str] | None = None, grace_seconds: float = GRACE_SECONDS
) -> dict[str, GarbageSource]:
    """Core's snapshot source and every source the installed target types contribute, by name."""
    sources: dict[str, GarbageSource] = {}
    snapshots = SnapshotSource(home / "snapshots", grace_seconds)
    sources[snapshots.name] = snapshots
    for type_name in plugins.TARGET_TYPES.names():
        try:
            hook = getattr(plugins.TARGET_TYPES.get(type_name), "garbage_sources", None)
            contributed = list(hook(home)) if hook is not None else []
        except Exception as error:  # a broken plug-in costs only its own caches
            if skipped is not None:
                skipped[f"target type {type_name}"] = _short(error)
            continue
        for source in contributed:
            sources.setdefault(source.name, source)  # two types may offer one shared cache (envs/)
    return sources


def collect_garbage(
    policy: GcPolicy | None = None,
    dry_run: bool = True,
    store: RunStore | None = None,
    sources: dict[str, GarbageSource] | None = None,
) -> GcReport:
    """Decide (and unless ``dry_run``, remove) what no run references, under ``policy``."""
    store = store or RunStore()
    policy = policy or GcPolicy()
    report = GcReport(policy, dry_run)
    with _exclusive(store.home):
        if sources is None:
            sources = garbage_sources(store.home, report.skipped, policy.grace_seconds)
        listed = list(_listed(sources, report.skipped))
        # References are read after the items: a run recorded while we listed is then seen, not missed.
        references = run_references(store)
        report.entries = plan(listed, references, policy)
        if not dry_run:
            apply(report.entries, sources)
            _finish(sources, report.skipped)
    return report


def _finish(sources: dict[str, GarbageSource], skipped: dict[str, str]) -> None:
    """Sources whose parts are shared between items (snapshot objects) clear what their removals orphaned."""
    for name, source in sources.items():
        finish = getattr(source, "finish", None)
        if finish is None:
            continue
        try:
            finish()
        except Exception as error:  # what was removed stays removed; the orphans wait for the next collection
            skipped[f"{name} (finishing)"] = _short(error)


def _listed(sources: dict[str, GarbageSource], skipped: dict[str, str]) -> Iterator[tuple[str, GarbageItem]]:
    for name, source in sources.items():
        try:
            items = list(source.items())
        except Exception as error:  # e.g. TargetUnavailable: the engine is not running
            skipped[name] = _short(error)
            continue
        for item in items:
            yield name, item


@contextmanager
def _exclusive(home: Path) -> Iterator[None]:
    with open(home / LOCK_FILE, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunStateError(
                f"another garbage collection of {home} is running; wait for it to finish and try again"
            ) from None
        yield


def _short(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:300]


def main(argv: list[str] | None = None) -> int:
    import argparse
    import json

    parser = argparse.ArgumentParser(
        prog="python -m runconfig_jupyter.core.runs.gc",
        description="Remove snapshots, environment images, virtualenvs and conda prefixes no run references. "
        "Lists what would go unless --yes is given.",
    )
    parser.add_argument("--yes", action="store_true", help="remove (default: only list what would be removed)")
    parser.add_argument("--older-than", default=None, help="only what was last used this long ago (30m, 12h, 7d)")
    parser.add_argument("--max-size", default=None, help="remove least recently used until all fits (500M, 10G)")
    parser.add_argument("--grace", type=float, default=None, help="never what is younger (seconds; default 600)")
    parser.add_argument("--home", default=None, help="run home (default: $RUNCONFIG_JUPYTER_HOME)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        policy = GcPolicy.parse(args.older_than, args.max_size, args.grace)
        report = collect_garbage(policy, dry_run=not args.yes, store=RunStore(args.home))
    except RunConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2) if args.json else report.summary())
    return 0 if not any(e.action == "failed" for e in report.entries) else 1


if __name__ == "__main__":
    sys.exit(main())
