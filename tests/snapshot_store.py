"""What the tests read of stored snapshots, whichever layout a run folder has (store manifest or tar).

Security tests assert that a secret never reaches a snapshot: they must see every stored byte (tars of
older run homes, the store's objects and manifests, and temp files of either), not only ``*.tar`` files.
"""

from __future__ import annotations

from pathlib import Path

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.snapshot.stream import member_infos, snapshot_files


def stored_files(home: Path) -> list[Path]:
    """Every file under the home that holds snapshot content: archives, objects, manifests, temps."""
    snapshots = home / "snapshots"
    found = [*snapshots.glob("*.tar"), *snapshots.glob(".tmp-*"), *home.glob("runs/*/snapshot.tar")]
    found += [p for p in (snapshots / "objects").rglob("*") if p.is_file()]
    found += [p for p in (snapshots / "manifests").rglob("*") if p.is_file()]
    found += list(home.glob("runs/*/snapshot.json"))
    return found


def stored_text(home: Path) -> str:
    """Every byte of every stored snapshot in the run home (a leak anywhere shows up here)."""
    return "\n".join(p.read_bytes().decode("latin-1") for p in stored_files(home))


def run_snapshot_names(run_dir: Path) -> set[str]:
    """Member names of a run's snapshot (folders, files and links), as a tar would list them."""
    return {info.name for info in member_infos(RunFolder(run_dir).snapshot_path)}


def run_snapshot_file(run_dir: Path, name: str) -> bytes:
    """The content of one file of a run's snapshot (KeyError when it has no such file)."""
    return dict(snapshot_files(RunFolder(run_dir).snapshot_path))[name]


def nothing_stored(home: Path) -> bool:
    """No snapshot content at all (a refused submit must leave none)."""
    return not stored_files(home)


def stored_snapshot(home: Path, snapshot_id: str) -> Path:
    """Where the store keeps one snapshot: its manifest (the per-file store), or an archive of an older home."""
    archive = home / "snapshots" / f"{snapshot_id}.tar"
    return archive if archive.exists() else home / "snapshots" / "manifests" / f"{snapshot_id}.json"
