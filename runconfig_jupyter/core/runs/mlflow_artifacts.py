"""Files a script logged through MLflow become its run's files, at the names Azure ML v1 gave them.

In v1 (``azureml-mlflow``) the MLflow run was the Azure run: ``mlflow.log_artifact("model.pkl")`` made run file
``model.pkl`` and ``mlflow.sklearn.log_model(m, "model")`` made ``model/MLmodel``, ``model/model.pkl``, ...,
which ``run.register_model(model_name=..., model_path="model")`` registered. Here the script logs into MLflow's
file store in the run folder (mlflow_import.py), so once the driver imported that store, this places:

* ``<experiment>/<mlflow run>/artifacts/<name>`` (``log_artifact(s)``, ``log_text``, ``log_dict``,
  ``log_figure``, and MLflow 2's ``log_model``) at ``<name>``;
* MLflow 3's logged models, ``<experiment>/models/<model id>/artifacts/<file>`` whose ``meta.yaml`` names the
  MLflow run as ``source_run_id`` and is READY, at ``<model name>/<file>`` (``log_model(name="model")`` ->
  ``model/MLmodel``, as v1's ``artifact_path="model"``);

where ``upload_file`` puts a file of that name (artifacts.py ``run_relative_path``: ``artifacts/<name>``, or
``outputs/...``), so ``get_file_names``, ``download_file(s)`` and ``register_model`` see them unchanged. A top-level
MLflow run's files go to the run, a nested run's to the child run it became.

The store was written by the script, so it is data: nothing is ever followed or moved. Folders are listed with
``os.scandir`` without following; a link, a special file (FIFO, socket, device), a file with other hard links, a
name that is not plain text (NUL or other control characters, ``..``, ``\\``, over MAX_NAME_CHARS a part or
MAX_PATH_CHARS in all, deeper than MAX_DEPTH), a file over MAX_FILE_BYTES, the files past MAX_FILES or
MAX_TOTAL_BYTES, and folder entries past MAX_ENTRIES are left out, each kind counted in one driver-log line (the
rest is still placed). A file is opened with ``O_NOFOLLOW`` and placed only if it is still the regular file
listed; it is hard-linked (same file system: no bytes copied, MLflow's copy stays for ``mlflow ui``) or else copied
from that open descriptor, always under a temporary name first and then linked to its final name, which never
replaces anything: a name the run already has (an output, an upload) keeps the existing file, noted.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from runconfig_jupyter.core.runs.artifacts import ArtifactNameError, confined, run_relative_path

MAX_FILES = 10_000  # files placed, over every MLflow run of the store
MAX_ENTRIES = 100_000  # files and folders listed under artifact folders
MAX_FILE_BYTES = 4 << 30  # one file (a model's weights); a bigger one is left out
MAX_TOTAL_BYTES = 32 << 30  # everything placed (hard links cost no space, but copies do)
MAX_DEPTH = 32  # folders below an artifact root
MAX_NAME_CHARS = 255  # one part of a name
MAX_PATH_CHARS = 1024  # the whole name
PLACE_SECONDS = 300.0  # the whole placement
READY = "2"  # MLflow's LoggedModelStatus.READY in a model's meta.yaml
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_REASONS = {
    "link": "links (not followed)",
    "special": "special files (FIFO, socket, device)",
    "hardlinked": "files with other hard links",
    "name": "names that are not plain relative text (control characters, '..', '\\\\', too long or too deep)",
    "big": f"files over {MAX_FILE_BYTES} bytes",
    "count": f"files past {MAX_FILES} files, {MAX_ENTRIES} listed entries or {MAX_TOTAL_BYTES} bytes in all",
    "changed": "files that changed while placed",
    "failed": "files that could not be placed",
}


class _Budget:
    """What the placement may still do: files, bytes, entries, time; and what it left out."""

    def __init__(self) -> None:
        self.files = self.bytes = self.entries = 0
        self.deadline = time.monotonic() + PLACE_SECONDS
        self.skipped: dict[str, list[str]] = {}

    def skip(self, reason: str, name: str) -> None:
        self.skipped.setdefault(reason, []).append(name)

    def spent(self) -> bool:
        return self.entries > MAX_ENTRIES or self.files >= MAX_FILES or time.monotonic() > self.deadline


def place_artifacts(sources: list[tuple[Path, str, Path]], budget: _Budget | None = None) -> list[str]:
    """Place each ``(artifact root, name prefix, run folder)`` (a root's files at ``<prefix><relative name>``, in
    that run folder); driver-log lines: what was placed and what was left out."""
    budget = budget or _Budget()
    placed: dict[Path, int] = {}
    kept: list[str] = []
    for root, prefix, run_dir in sources:
        for name, path, listed in _walk(root, prefix, budget):
            if budget.spent() or budget.bytes + listed.st_size > MAX_TOTAL_BYTES:
                budget.skip("count", name)
                continue
            outcome = _place(path, listed, name, run_dir, budget)
            if outcome == "placed":
                budget.files += 1
                budget.bytes += listed.st_size
                placed[run_dir] = placed.get(run_dir, 0) + 1
            elif outcome == "exists":
                kept.append(name)
    lines = [f"MLflow: {count} logged files placed as files of run {run_dir.name}" for run_dir, count in placed.items()]
    if kept:
        lines.append(f"MLflow: {len(kept)} logged files have a run file of that name, which was kept: {_few(kept)}")
    for reason, names in budget.skipped.items():
        lines.append(f"MLflow: {len(names)} logged {_REASONS[reason]} left out of the run's files: {_few(names)}")
    return lines


def model_roots(
    experiment: Path, run_uuid: str, read_meta: Callable[[Path], dict[str, str] | None]
) -> list[tuple[Path, str]]:
    """MLflow 3's READY logged models of ``run_uuid`` in ``experiment/models``: (artifacts folder, model name).

    ``read_meta(path) -> dict | None`` is the importer's bounded, non-following meta.yaml reader.
    """
    models = experiment / "models"
    try:
        if not stat.S_ISDIR(os.lstat(models).st_mode):
            return []
        with os.scandir(models) as entries:
            folders = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []
    found: list[tuple[Path, str]] = []
    for model_id in folders[:MAX_FILES]:
        meta = read_meta(models / model_id / "meta.yaml") or {}
        name = meta.get("name", "")
        if meta.get("source_run_id") == run_uuid and meta.get("status") == READY and _usable_part(name):
            found.append((models / model_id / "artifacts", name))
    return found


def _walk(root: Path, prefix: str, budget: _Budget, depth: int = 0) -> Iterator[tuple[str, Path, os.stat_result]]:
    """(name, path, lstat) of the regular files under ``root``, sorted, without following anything."""
    try:
        info = os.lstat(root)
    except OSError:
        return
    if not stat.S_ISDIR(info.st_mode):
        budget.skip("link" if stat.S_ISLNK(info.st_mode) else "special", prefix.rstrip("/") or root.name)
        return
    with os.scandir(root) as scanned:
        entries = sorted(scanned, key=lambda entry: entry.name)
    for entry in entries:
        budget.entries += 1
        name = f"{prefix}{entry.name}"
        if budget.spent():
            budget.skip("count", name)
            continue
        info = entry.stat(follow_symlinks=False)
        if not _usable_part(entry.name) or len(name) > MAX_PATH_CHARS:
            budget.skip("name", name.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace"))
        elif stat.S_ISLNK(info.st_mode):
            budget.skip("link", name)
        elif stat.S_ISDIR(info.st_mode):
            if depth >= MAX_DEPTH:
                budget.skip("name", name)
            else:
                yield from _walk(Path(entry.path), f"{name}/", budget, depth + 1)
        elif not stat.S_ISREG(info.st_mode):
            budget.skip("special", name)
        elif info.st_nlink != 1:
            budget.skip("hardlinked", name)
        elif info.st_size > MAX_FILE_BYTES:
            budget.skip("big", name)
        else:
            yield name, Path(entry.path), info


def _place(source: Path, listed: os.stat_result, name: str, run_dir: Path, budget: _Budget) -> str:
    """Put one listed file at artifact ``name`` of ``run_dir``: "placed", "exists" (kept the run's own) or
    "skipped" (noted in ``budget``)."""
    try:
        target = confined(run_dir, run_relative_path(name))
    except ArtifactNameError:
        budget.skip("name", name)
        return "skipped"
    if os.path.lexists(target):
        return "exists"
    try:
        fd = os.open(source, os.O_RDONLY | _NOFOLLOW)
    except OSError:
        budget.skip("changed", name)
        return "skipped"
    temp = target.parent / f".{target.name[:200]}.mlflow-{os.getpid()}.part"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or (info.st_dev, info.st_ino) != (listed.st_dev, listed.st_ino):
            budget.skip("changed", name)
            return "skipped"
        target.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(temp):
            os.unlink(temp)
        if not _link_same(source, temp, info):
            _copy_from(fd, temp, listed.st_size)
        try:
            os.link(temp, target, follow_symlinks=False)  # never replaces: a name that appeared meanwhile wins
        except FileExistsError:
            return "exists"
        return "placed"
    except OSError:
        budget.skip("failed", name)
        return "skipped"
    finally:
        os.close(fd)
        if os.path.lexists(temp):
            os.unlink(temp)


def _link_same(source: Path, temp: Path, opened: os.stat_result) -> bool:
    """Hard-link ``source`` to ``temp`` if that is the file already opened (a swap since is undone); False when
    it is not, or the file system links nothing across (another device) or at all."""
    try:
        os.link(source, temp, follow_symlinks=False)
    except OSError:
        return False
    linked = os.lstat(temp)
    if (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino):
        return True
    os.unlink(temp)
    return False


def _copy_from(fd: int, temp: Path, size: int) -> None:
    """Copy the open file's ``size`` bytes into a new ``temp`` (a file that grew is cut at its listed size)."""
    out = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o644)
    try:
        left = size
        while left > 0:
            chunk = os.read(fd, min(1 << 20, left))
            if not chunk:
                break
            left -= len(chunk)
            while chunk:
                chunk = chunk[os.write(out, chunk) :]
    finally:
        os.close(out)


def usable_name(name: str) -> bool:
    """A file name MLflow wrote (a key of mlflow_import.py's walk, a part of an artifact name): text (no undecodable
    bytes) without control characters, not '.' or '..'."""
    if not name or name in (".", ".."):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # os.scandir's surrogate escapes of bytes that are not UTF-8
        return False
    return not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)


def _usable_part(name: str) -> bool:
    """One part of an artifact name: a usable name without '\\' or '/', bounded."""
    return len(name) <= MAX_NAME_CHARS and "/" not in name and "\\" not in name and usable_name(name)


def _few(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(repr(name) for name in names[:shown]) + more
