"""What every target brings back from a finished run, and how it lands in the run folder.

The script's ``./outputs`` becomes the run's ``outputs/``, its ``./logs`` goes to
``logs/user/``, ``./data_outputs`` (data outputs, uploaded at the end) to ``data_outputs/`` and the
MLflow store the run gave the script (``./.runconfig-mlflow``) to ``mlflow/``; one definition keeps every
target's run folder the same shape.

Why entry by entry: a script may leave anything in ``outputs/`` - a ``latest`` link to its
best checkpoint, a link to ``/etc``, a FIFO, a socket. One odd entry must never cost the
other files or the run's status. So each entry is judged on its own:

* regular files and folders are moved (renamed, copied across file systems);
* a symlink that stays inside its folder is kept as a (relative) link - an absolute link
  is read as the path the script saw (``origin``, e.g. ``/workspace/outputs`` in a container);
* a link that leaves the folder, a FIFO, socket or device is skipped with a warning line
  in the run's log;
* an entry that cannot be moved (permissions, full disk) is skipped and remembered; the
  others are still collected and ``CollectionFailed`` is raised at the end, so the driver
  records phase Finalizing with the reason and keeps the script's exit code.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING

from runconfig_jupyter.core.errors import CollectionFailed
from runconfig_jupyter.core.runs.folder import DATA_OUTPUTS, LOGS_DIR, STD_LOG, RunFolder
from runconfig_jupyter.core.runs.script_env import MLFLOW_WORK_DIR
from runconfig_jupyter.core.system.records import field, record
from runconfig_jupyter.core.target.interface import TargetRunContext

if TYPE_CHECKING:  # a submitting process loads its target class (and so this module): tarfile only for archives
    import tarfile

WARNING_PREFIX = "runconfig: warning: "


def collected_folders(ctx: TargetRunContext) -> tuple[tuple[str, Path], ...]:
    """(folder in the script's working directory, where it goes in the run folder).

    ``data_outputs/<name>`` holds what the script wrote for a data output where the target cannot mount a
    host folder (remote kernel, Ray); the driver uploads it to the datastore (core/data/outputs.py).
    """
    folder = RunFolder(ctx.run_dir)
    return (
        ("outputs", ctx.outputs_dir),
        ("logs", folder.user_logs_dir),
        (DATA_OUTPUTS, ctx.run_dir / DATA_OUTPUTS),
        (MLFLOW_WORK_DIR, folder.mlflow_dir),  # the script's MLflow store (core/runs/script_env.py)
    )


@record
class CollectReport:
    """What one collection did: counts, what was skipped on purpose, what failed."""

    files: int = 0
    links: int = 0
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def merge(self, other: CollectReport) -> None:
        self.files += other.files
        self.links += other.links
        self.skipped += other.skipped
        self.errors += other.errors


def _inside(path: str) -> bool:
    """A normalised relative path that does not climb out of its root."""
    return path != ".." and not path.startswith("../") and not posixpath.isabs(path)


def _link_target(link_rel: str, target: str, origins: tuple[str, ...]) -> str | None:
    """The link's target relative to the folder root, or None when it leaves the folder."""
    if posixpath.isabs(target):
        for origin in origins:
            origin = origin.rstrip("/")
            if target == origin or target.startswith(origin + "/"):
                return posixpath.normpath(posixpath.relpath(target, origin))
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(link_rel), target))
    return resolved if _inside(resolved) else None


def _clear(path: Path) -> None:
    """Make room for a collected entry: a re-collect replaces, never nests."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _move_file(source: Path, destination: Path) -> None:
    try:
        os.replace(source, destination)
    except OSError as error:
        if error.errno != 18:  # EXDEV: another file system; copy then swap in atomically
            raise
        partial = destination.with_name(f".{destination.name}.collecting")
        try:
            shutil.copy2(source, partial)
            os.replace(partial, destination)
        finally:
            partial.unlink(missing_ok=True)


def gather(source: Path, destination: Path, label: str, origins: tuple[str, ...] = ()) -> CollectReport:
    """Move the tree at ``source`` into ``destination`` entry by entry (see the module docstring).

    ``label`` names the folder in warnings (``outputs``); ``origins`` are the absolute paths the
    script knew this folder by, so ``/workspace/outputs/model.bin`` counts as inside.
    """
    report = CollectReport()
    if source.is_symlink():
        report.skipped.append(f"{label}: the folder itself is a link to {os.readlink(source)}; not followed")
        return report
    if not source.is_dir():
        return report
    origins = (*origins, str(source), os.path.realpath(source))
    destination.mkdir(parents=True, exist_ok=True)
    _gather_dir(source, destination, "", label, origins, report)
    _drop_escaping_links(destination, label, report)
    return report


def _gather_dir(source: Path, destination: Path, rel: str, label: str, origins: tuple[str, ...], report: CollectReport):
    try:
        entries = sorted(os.scandir(source), key=lambda entry: entry.name)
    except OSError as error:
        report.errors.append(f"{label}/{rel}: could not list: {error.strerror or error}")
        return
    for entry in entries:
        entry_rel = posixpath.join(rel, entry.name) if rel else entry.name
        shown = f"{label}/{entry_rel}"
        target = destination / entry.name
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                link = os.readlink(entry.path)
                inside = _link_target(entry_rel, link, origins)
                if inside is None:
                    report.skipped.append(f"{shown}: a link to {link} leaves {label}/; not collected")
                    continue
                _clear(target)
                # A relative link keeps its own text (its real path is checked once the tree is built).
                relative = (
                    link
                    if not posixpath.isabs(link)
                    else posixpath.relpath(inside, posixpath.dirname(entry_rel) or ".")
                )
                os.symlink(relative, target)
                report.links += 1
            elif stat.S_ISDIR(mode):
                if target.is_symlink() or (target.exists() and not target.is_dir()):
                    _clear(target)
                target.mkdir(exist_ok=True)
                _gather_dir(Path(entry.path), target, entry_rel, label, origins, report)
            elif stat.S_ISREG(mode):
                _clear(target)
                _move_file(Path(entry.path), target)
                report.files += 1
            else:
                kind = "FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
                report.skipped.append(f"{shown}: a {kind}, not a file; not collected")
        except OSError as error:
            report.errors.append(f"{shown}: {error.strerror or error}")


def _drop_escaping_links(root: Path, label: str, report: CollectReport) -> None:
    """Second line: a kept link whose real path (through other links) leaves the folder goes.

    Each link was checked on its own text; chains such as ``a -> b/..`` with ``b -> .`` only
    show their real target once all links exist, so the tree is checked again until stable.
    """
    real_root = os.path.realpath(root)
    changed = True
    while changed:
        changed = False
        for parent, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = os.path.join(parent, name)
                if not os.path.islink(path):
                    continue
                real = os.path.realpath(path)
                if real != real_root and not real.startswith(real_root + os.sep):
                    os.unlink(path)
                    rel = os.path.relpath(path, root)
                    report.skipped.append(f"{label}/{rel}: its link chain leaves {label}/; not collected")
                    changed = True


def report_to_run(ctx: TargetRunContext, report: CollectReport) -> None:
    """Warnings into the run's log; ``CollectionFailed`` when entries could not be collected."""
    lines = [*report.skipped, *(f"could not collect {error}" for error in report.errors)]
    if lines:
        ctx.write_log("".join(f"{WARNING_PREFIX}{line}\n" for line in lines))
    ctx.record(collected={"files": report.files, "links": report.links, "skipped": len(report.skipped)})
    if report.errors:
        more = f" (and {len(report.errors) - 1} more; see {LOGS_DIR}/{STD_LOG})" if len(report.errors) > 1 else ""
        raise CollectionFailed(
            f"{len(report.errors)} output entries could not be collected: {report.errors[0]}{more};"
            f" {report.files} files were collected"
        )


def collect_from(
    root: Path, ctx: TargetRunContext, origin: str | None = None, unpacked: CollectReport | None = None
) -> CollectReport:
    """Move ``root/outputs`` and ``root/logs`` into the run folder and report to the run.

    ``origin`` is where the script saw ``root``; ``unpacked`` carries what ``extract_outputs``
    already skipped when the folders came in an archive.
    """
    report = CollectReport()
    if unpacked is not None:
        report.merge(unpacked)
    for folder, destination in collected_folders(ctx):
        origins = (posixpath.join(origin, folder),) if origin else ()
        report.merge(gather(root / folder, destination, folder, origins))
    report_to_run(ctx, report)
    return report


def extract_outputs(archive: tarfile.TarFile, dest: Path, origin: str | None = None) -> CollectReport:
    """Unpack an outputs archive made where the script ran, member by member, never all-or-nothing.

    Absolute links under ``origin`` become relative; then tarfile's ``data`` filter refuses what
    could land outside ``dest`` (absolute paths, '..', links out, devices, FIFOs) for that member
    only, and ``gather`` judges links against their own folder afterwards.
    """
    import tarfile

    report = CollectReport()
    dest.mkdir(parents=True, exist_ok=True)
    origin = origin.rstrip("/") if origin else None
    for member in archive:
        if member.issym() and origin and member.linkname.startswith(origin + "/"):
            where = posixpath.dirname(posixpath.join(origin, member.name))
            member = member.replace(linkname=posixpath.relpath(member.linkname, where), deep=False)
        try:
            archive.extract(member, dest, filter="data")
        except (tarfile.TarError, KeyError) as error:  # the filter refused it, or a link to a skipped member
            report.skipped.append(f"{member.name}: {error}; not collected")
        except OSError as error:
            report.errors.append(f"{member.name}: {error.strerror or error}")
    return report
