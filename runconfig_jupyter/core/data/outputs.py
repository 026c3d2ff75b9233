"""A run's data outputs (``OutputFileDatasetConfig`` / ``output_data``) uploaded to their datastores at the end.

Every target brings what the script wrote for an output back to one place on this machine,
``<run folder>/data_outputs/<output name>`` (Docker bind-mounts that folder, the remote kernel and Ray
ship it back with ``outputs/``). When the run ends - Completed, Failed or Canceled alike, because the
checkpoints of a run that crashed at epoch 90 are exactly what the user needs - the driver uploads each
folder to its destination on the datastore and writes ``_RUN_STATUS.json`` beside the files, so whoever
reads the destination knows whether it holds a finished result or what a failed run left behind.

Why upload from the host and not from inside the container: credentials stay in this process (named by
environment variables, read when the filesystem is opened), and a script can never reach a datastore it
was not given. Links inside an output folder are never followed: a link to ``/etc`` written by the script
must not turn into an upload of the host's files.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.folder import DATA_OUTPUTS  # defined there: collecting needs no upload code

STATUS_FILE = "_RUN_STATUS.json"

Log = Callable[[str], None]
Progress = Callable[[int, int], None]


def output_folder(run_dir: Path, name: str) -> Path:
    """Where the output ``name`` of a run lands on this machine before it is uploaded."""
    return run_dir / DATA_OUTPUTS / name


def produced_outputs(plan: Any, run_dir: Path, reported: dict[str, Path] | None = None) -> dict[str, Path]:
    """The folder holding each output of ``plan`` on this machine (a script may have written nothing).

    The run folder's ``data_outputs/<name>`` (mounted, or collected there) comes first; else the folder the
    target reported in ``ctx.produced_outputs`` (a local run's ``path_on_compute`` in its working folder).
    """
    found = {}
    for output in plan.outputs:
        for folder in (output_folder(run_dir, output.name), (reported or {}).get(output.name)):
            if folder is not None and Path(folder).is_dir() and not Path(folder).is_symlink():
                found[output.name] = Path(folder)
                break
    return found


@dataclass
class UploadReport:
    """What the upload did, per output: files and bytes sent, links and odd entries skipped, failures."""

    uploaded: dict[str, tuple[int, int]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def regular_files(folder: Path) -> list[tuple[Path, str]]:
    """``(absolute path, posix path relative to folder)`` of every regular file, links never followed."""
    files: list[tuple[Path, str]] = []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(parent, name)
            if stat.S_ISREG(path.lstat().st_mode):
                files.append((path, path.relative_to(folder).as_posix()))
    return files


def skipped_entries(folder: Path) -> list[str]:
    """Links and special files in ``folder``: reported, never uploaded."""
    skipped = []
    for parent, dirs, names in os.walk(folder, followlinks=False):
        for name in [*dirs, *names]:
            path = Path(parent, name)
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                skipped.append(path.relative_to(folder).as_posix())
    return sorted(skipped)


def upload_outputs(
    plan: Any,
    produced: dict[str, Path],
    run_status: str,
    log: Log,
    *,
    run_id: str | None = None,
    progress: Progress | None = None,
) -> UploadReport:
    """Upload each produced output to its datastore destination and mark it with the run's status.

    An output the script did not write gets only the status file (an empty result is a result too).
    A failure of one output is reported and the others still go; nothing is written to a read-only
    datastore (submit refuses that already; this is the second line).
    """
    from runconfig_jupyter.core.data.filesystems import open_filesystem
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    report = UploadReport()
    total = sum(path.stat().st_size for folder in produced.values() for path, _ in regular_files(folder))
    sent = 0
    for output in plan.outputs:
        where = f"datastore://{output.datastore}/{output.destination.strip('/')}"
        try:
            field_name = f"output_data.{output.name}"
            # writable=True: a read-only datastore is refused before anything is written (DatastoreReadOnly)
            fs, root = open_filesystem(get_datastore_spec(output.datastore, field=field_name), writable=True)
            destination = posixpath.join(root, output.destination.strip("/")) if root else output.destination
            folder = produced.get(output.name)
            files = regular_files(folder) if folder is not None else []
            # mount (v1's default mode) wrote through to the destination on Azure, replacing what was there; only
            # upload mode has an overwrite switch, and keeps what is there without it
            replace = output.overwrite or output.mode == "mount"
            existing = set() if replace or not files else _existing(fs, destination)
            made: set[str] = set()
            kept: list[str] = []  # already at the destination, overwrite off: left as they are
            count = size = 0
            for path, relative in files:
                remote = posixpath.join(destination, relative)
                if remote in existing:
                    kept.append(relative)
                    continue
                parent = posixpath.dirname(remote)
                if parent not in made:
                    fs.makedirs(parent, exist_ok=True)
                    made.add(parent)
                fs.put_file(str(path), remote)
                count += 1
                size += path.stat().st_size
                sent += path.stat().st_size
                if progress is not None:
                    progress(sent, total)
            odd = skipped_entries(folder) if folder is not None else []
            report.skipped += [f"{output.name}/{name}: a link or special file; not uploaded" for name in odd]
            if destination not in made:
                fs.makedirs(destination, exist_ok=True)
            status = {
                "run_id": run_id,
                "status": run_status,
                "output": output.name,
                "files": count,
                "bytes": size,
                "complete": run_status == "Completed",
                "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            fs.pipe_file(posixpath.join(destination, STATUS_FILE), json.dumps(status, indent=1).encode())
            report.uploaded[output.name] = (count, size)
            state = "" if run_status == "Completed" else f" (the run {run_status}: marked so in {STATUS_FILE})"
            log(f"runconfig: uploaded output '{output.name}' ({count} files, {size / 1e6:.2f} MB) to {where}{state}")
            if kept:
                raise FileExistsError(
                    f"{len(kept)} file(s) were already there and were left as they are ({kept[0]}, ...): the "
                    "destination is not this run's alone; put {run-id} in it or use as_upload(overwrite=True)"
                )
        except Exception as error:  # one output's failure must not cost the others
            report.errors.append(f"output '{output.name}' to {where}: {error}")
            log(f"runconfig: could not upload output '{output.name}' to {where}: {error}")
    for line in report.skipped:
        log(f"runconfig: warning: {line}")
    return report


def _existing(fs: Any, destination: str) -> set[str]:
    """The files already at ``destination`` (one listing), as the paths ``put_file`` would write."""
    try:
        return {path.rstrip("/") for path in fs.find(destination)}
    except FileNotFoundError:
        return set()


def finish_outputs(ctx: Any, run_status: str) -> str | None:
    """The driver's end-of-run step: upload the run's outputs; the error text when any failed, else None."""
    plan = ctx.data_plan
    if not plan.outputs:
        return None
    produced = produced_outputs(plan, ctx.run_dir, getattr(ctx, "produced_outputs", None))

    def progress(done: int, total: int) -> None:
        ctx.progress("Uploading outputs", done / total if total else 1.0, f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")

    report = upload_outputs(
        plan, produced, run_status, lambda line: ctx.write_log(line + "\n"), run_id=ctx.run_id, progress=progress
    )
    ctx.record(data_outputs={name: {"files": n, "bytes": b} for name, (n, b) in report.uploaded.items()})
    if not report.errors:
        return None
    more = f" (and {len(report.errors) - 1} more)" if len(report.errors) > 1 else ""
    return f"uploading outputs failed: {report.errors[0]}{more}"
