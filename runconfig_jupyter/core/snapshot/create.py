"""Snapshots: what a snapshot is, and the checks every packaging of a source folder starts with.

The public facade of the snapshot modules; the work is done by small modules:

- :mod:`.ignore`    which files belong in (``.amlignore`` / ``.gitignore`` / built-ins)
- :mod:`.manifest`  the list of files from ``stat`` alone, shown before submit and checked against limits
- :mod:`.limits`    :class:`SnapshotLimits` and the "too large" message
- :mod:`.hashcache` digests remembered by (size, mtime, inode, ctime): an unchanged folder is not re-read
- :mod:`.stored`    the per-file store submits package into (objects named by digest, one manifest per snapshot)
- :mod:`.stream`    a stored snapshot as a tree or a tar stream for a target
- :mod:`.extract`   safe extraction into a run's working folder, of a stored manifest or of an archive

Run homes of earlier versions hold one ``<id>.tar`` per snapshot (hard-linked into run folders as
``snapshot.tar``); nothing writes that layout any more, every reader still accepts it.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import ConfigError, SnapshotError
from runconfig_jupyter.core.snapshot.limits import SnapshotLimits
from runconfig_jupyter.core.snapshot.manifest import Manifest, ManifestEntry, build_manifest
from runconfig_jupyter.core.system.records import record

if TYPE_CHECKING:  # imported when first asked for (module __getattr__ below)
    from runconfig_jupyter.core.snapshot.extract import extract_snapshot

__all__ = [
    "Manifest",
    "ManifestEntry",
    "Snapshot",
    "SnapshotLimits",
    "build_manifest",
    "extract_snapshot",
]


def __getattr__(name: str) -> object:
    """``extract_snapshot`` is offered here with the rest of the facade but imported only when asked for:
    packaging a folder (every submit) needs no ``tarfile``, only extracting an archive of an earlier version does."""
    if name == "extract_snapshot":
        from runconfig_jupyter.core.snapshot.extract import extract_snapshot

        return extract_snapshot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@record(frozen=True)
class Snapshot:
    id: str
    path: Path
    manifest: Manifest
    reused: bool = False  # True when an identical snapshot was already stored

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "path": str(self.path), "reused": self.reused, **self.manifest.to_dict()}


def checked_manifest(
    source_dir: Path | str,
    snapshots_dir: Path,
    limits: SnapshotLimits,
    extra_excludes: Iterable[Path | str],
    expect_source: Path | None,
) -> Manifest:
    """The walk and every check that comes before any byte is read: the source still resolves
    where the confinement check saw it, the limits hold, and the store folder can be created."""
    manifest = build_manifest(source_dir, limits, extra_excludes=[snapshots_dir, *map(Path, extra_excludes)])
    if expect_source is not None and manifest.source != expect_source:
        raise SnapshotError(
            f"{source_dir} changed after it was checked (it now resolves to {manifest.source}, not {expect_source}):"
            " a folder on the way was replaced by a link; nothing was packaged. Submit again"
        )
    manifest.check(limits)
    try:
        snapshots_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot create the snapshot store {snapshots_dir}: {exc.strerror}") from None
    return manifest


def check_script_packaged(manifest: Manifest, script: object) -> None:
    """The script must be in the snapshot: one left out (ignore rule, credential store) would fail at run time."""
    if not isinstance(script, str) or not script:
        return
    wanted = Path(script).as_posix()
    if any(
        entry.path == wanted or (entry.kind == "symlink" and wanted.startswith(entry.path + "/"))
        for entry in manifest.files
    ):
        return  # packaged, or reached through a link the snapshot keeps (the extractor recreates it)
    why = next((rule for path, rule in manifest.excluded if wanted == path or wanted.startswith(path)), None)
    raise ConfigError(
        f"'{script}' is left out of the snapshot{f' by {why}' if why else ''}, so the run would not have it; "
        "move the script or change that rule",
        field="script",
    )
