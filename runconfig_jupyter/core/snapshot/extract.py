"""Safe extraction of a snapshot archive into a run's working folder.

A snapshot may come from another machine or a shared store, so it is treated as untrusted: every
member is checked before anything is written, and extraction refuses (``UnsafeArchive``) absolute
paths, ``..`` components, links whose target leaves the folder, members reached through a symlink
member, and device or fifo members. Where Python provides it (3.10.12+, 3.11.4+, 3.12+), the
``tarfile`` "data" filter is applied as a second, filesystem-aware line of defence.
"""

from __future__ import annotations

from pathlib import Path

from runconfig_jupyter.core.errors import SnapshotError, UnsafeArchive
from runconfig_jupyter.core.snapshot.member_names import check_members


def extract_snapshot(tar_path: Path | str, dest: Path | str) -> None:
    """Extract ``tar_path`` into ``dest`` (created if missing) after checking every member.

    A stored snapshot (a run folder's ``snapshot.json`` manifest, see stored.py) is materialized from the
    store's objects by the same member rules; a ``.tar`` (runs of earlier versions) is extracted.
    """
    tar_path, dest = Path(tar_path), Path(dest)
    if tar_path.suffix == ".json":
        from runconfig_jupyter.core.snapshot.stream import materialize

        materialize(tar_path, dest)
        return
    _extract_tar(tar_path, dest)


def _extract_tar(tar_path: Path, dest: Path) -> None:
    """A ``.tar`` snapshot; ``tarfile`` is loaded here only (a stored snapshot's driver never needs it)."""
    import tarfile

    has_data_filter = hasattr(tarfile, "data_filter")
    filter_errors: tuple[type[Exception], ...] = (tarfile.FilterError,) if has_data_filter else ()
    try:
        tar = tarfile.open(tar_path, mode="r:")  # noqa: SIM115 - entered with "with" below
    except FileNotFoundError:
        raise SnapshotError(f"snapshot archive {tar_path} does not exist") from None
    except tarfile.TarError as exc:
        raise SnapshotError(f"snapshot archive {tar_path} is not a readable tar file: {exc}") from None
    with tar:
        members = tar.getmembers()
        check_members(members, tar_path)
        dest.mkdir(parents=True, exist_ok=True)
        try:
            if has_data_filter:
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - old patch releases; our own checks above still apply
                tar.extractall(dest, members=members)
        except filter_errors as exc:
            raise UnsafeArchive(f"{tar_path}: {exc}; refusing") from None
        except tarfile.TarError as exc:
            raise SnapshotError(f"snapshot archive {tar_path} could not be extracted: {exc}") from None
