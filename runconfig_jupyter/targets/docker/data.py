"""A run's data plan (core/data/plan.py) turned into the container's mounts, copies and variables.

The plan is the only way a host folder reaches a container (free-form docker arguments that mount host
paths stay refused, targets/docker/args.py):

* an input in ``mount`` mode is bind-mounted READ-ONLY at ``path_on_compute`` (default
  ``/mnt/data/<name>``): a registered local folder is mounted as it is (checked again through the
  confinement rules, so a folder swapped for a link since submit is judged by where it now points),
  a remote store's data is first fetched into the download cache on this machine and that copy is
  mounted. Nothing is copied for a local folder, so a 10 GB folder costs what an empty one costs;
* an input in ``download`` mode is mounted read-only at a staging path and copied into the container's
  working dir (``path_on_compute``, default ``data/<name>``) before the script starts: the script gets a
  private, writable copy and the original still cannot be written;
* an output gets a host folder ``<run folder>/data_outputs/<name>`` mounted writable at
  ``path_on_compute`` (default ``/mnt/outputs/<name>``); the driver uploads it when the run ends.

``AZUREML_DATAREFERENCE_<name>`` holds the path the script sees, and argument placeholders are replaced
by it, as on Azure ML.
"""

from __future__ import annotations

import os
import posixpath
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, PreparationFailed

DATA_ROOT = "/mnt/data"
OUTPUT_ROOT = "/mnt/outputs"
STAGE_ROOT = "/runconfig/data"  # read-only staging mounts: download-mode inputs, folders behind a mounted view
# A dataset may hold millions of files: its folder is checked with wider bounds than a checkpoint folder's.
DATA_SCAN_ENTRIES = int(os.environ.get("RUNCONFIG_DATA_SCAN_ENTRIES", 5_000_000))
DATA_SCAN_SECONDS = float(os.environ.get("RUNCONFIG_DATA_SCAN_SECONDS", 120))
DATA_TOO_BIG = (
    "mount a subfolder, pack the files into fewer archives, or raise RUNCONFIG_DATA_SCAN_ENTRIES / "
    "RUNCONFIG_DATA_SCAN_SECONDS (the folder is checked for sockets and devices before every mount)"
)
PICKED = ".data_picked"  # in the run folder: the files a download-mode glob picked (removed at cleanup)
RESERVED = ("/", "/runconfig", "/proc", "/sys", "/dev", "/etc", "/usr", "/bin", "/lib", "/sbin", "/tmp")


@dataclass
class ContainerData:
    """What the container needs for the run's data: mounts, copies before the script, variables, paths."""

    mounts: list[Any] = field(default_factory=list)  # docker.types.Mount
    copies: list[tuple[str, str, bool]] = field(default_factory=list)  # (staged path, destination, is_file)
    environment: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # input/output name -> path the script sees

    def shell_steps(self) -> str:
        """``sh`` commands copying download-mode inputs into place; empty when there are none."""
        steps = []
        for staged, destination, is_file in self.copies:
            folder = posixpath.dirname(destination) if is_file else destination
            source = staged if is_file else f"{staged}/."
            steps.append(f"mkdir -p {shlex.quote(folder)} && cp -R {shlex.quote(source)} {shlex.quote(destination)}")
        if not steps:
            return ""
        joined = " && ".join(steps)
        failed = "echo 'runconfig: could not copy the downloaded inputs into place' >&2; exit 126"
        return f"{{ {joined}; }} || {{ {failed}; }}; "


def container_path(path_on_compute: str | None, default: str, workdir: str, field_name: str) -> str:
    """The absolute path in the container: ``path_on_compute`` (relative = under the working dir) or ``default``."""
    if not path_on_compute:
        return default
    text = str(path_on_compute)
    if "\0" in text or ".." in Path(text).parts:
        raise ConfigError(f"path_on_compute '{text}' may not contain '..'", field=field_name)
    path = posixpath.normpath(text if text.startswith("/") else posixpath.join(workdir, text))
    if path in RESERVED or path.startswith(("/runconfig/", f"{workdir}/.runconfig")) or path == workdir:
        raise ConfigError(
            f"path_on_compute '{text}' would hide a folder the container needs ({path}); choose another path, "
            f"e.g. {default}",
            field=field_name,
        )
    return path


def check_plan_paths(plan: Any, workdir: str) -> dict[str, str]:
    """Every input's and output's path in the container, refusing bad or clashing ones (at submit and start)."""
    paths: dict[str, str] = {}
    taken: dict[str, str] = {}
    for inp in plan.inputs:
        default = f"{DATA_ROOT}/{inp.name}" if inp.mode == "mount" else f"{workdir}/data/{inp.name}"
        where = container_path(inp.path_on_compute, default, workdir, f"data.{inp.name}.path_on_compute")
        paths[inp.name] = where
        _claim(taken, where, inp.name)
    for out in plan.outputs:
        where = container_path(out.path_on_compute, f"{OUTPUT_ROOT}/{out.name}", workdir, f"output_data.{out.name}")
        paths[out.name] = where
        _claim(taken, where, out.name)
    return paths


def _claim(taken: dict[str, str], path: str, name: str) -> None:
    for other_path, other in taken.items():
        if path == other_path or path.startswith(other_path + "/") or other_path.startswith(path + "/"):
            raise ConfigError(
                f"'{name}' and '{other}' would both appear at {path if path == other_path else other_path} in the "
                "container; give them different path_on_compute values",
                field=f"data.{name}",
            )
    taken[path] = name


def container_data(ctx: Any, plan: Any, workdir: str) -> ContainerData:
    """Fetch what must be fetched (progress in Preparing) and describe the mounts for ``plan``.

    A run that names no data returns before the data machinery is imported: the download cache pulls in
    fsspec and asyncio (~40 ms), which a plain run would otherwise pay between its claim and its start.
    """
    if not plan.inputs and not plan.outputs:
        return ContainerData()
    from docker.types import Mount

    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.materialize import VIEWS, copy_input, host_source, view_input
    from runconfig_jupyter.core.data.outputs import output_folder
    from runconfig_jupyter.core.data.plan import script_environment
    from runconfig_jupyter.core.safety.confine import check_mount

    data = ContainerData()
    paths = check_plan_paths(plan, workdir)
    cache = DownloadCache() if any(inp.kind != "local" for inp in plan.inputs) else None
    for inp in plan.inputs:
        if ctx.cancel_event.is_set():  # canceled while preparing: no further fetch (the driver ends the run)
            return data
        label = f"data.{inp.name}"

        def progress(done: int, total: int, name: str = inp.name) -> None:
            fraction = done / total if total else None
            ctx.progress(f"Fetching input '{name}'", fraction, f"{done / 1e6:.1f}/{total / 1e6:.1f} MB")

        try:
            source = Path(host_source(inp, cache, progress)).resolve()
        except ConfigError:
            raise
        except Exception as error:
            raise PreparationFailed(f"input '{inp.name}' could not be made available: {error}") from error
        if source.is_dir():
            # no socket, device or credential store inside: a socket stays connectable through a read-only mount
            check_mount(source, label, DATA_SCAN_ENTRIES, DATA_SCAN_SECONDS, DATA_TOO_BIG)
        where = paths[inp.name]
        script_path = posixpath.join(where, source.name) if source.is_file() else where
        if inp.mode == "download" and inp.pattern and source.is_dir():
            # only the files a dataset's glob names are copied: they are picked here, into a folder of the run
            picked = ctx.run_dir / PICKED / inp.name
            shutil.rmtree(picked, ignore_errors=True)
            source = copy_input(source, picked, inp.pattern)
        if inp.mode == "download":
            staged = f"{STAGE_ROOT}/{inp.name}" + (f"/{source.name}" if source.is_file() else "")
            data.mounts.append(Mount(staged, str(source), type="bind", read_only=True))
            data.copies.append((staged, script_path, source.is_file()))
        elif inp.pattern and source.is_dir():
            # Some files of a folder: the folder is mounted read-only at the staging place, and the script's path
            # is a view of links to the named files there (made here; the links resolve in the container only).
            staged = f"{STAGE_ROOT}/{inp.name}"
            view = view_input(source, ctx.run_dir / VIEWS / inp.name, inp.pattern, label, link_root=staged)
            data.mounts.append(Mount(staged, str(source), type="bind", read_only=True))
            data.mounts.append(Mount(script_path, str(view), type="bind", read_only=True))
        else:
            data.mounts.append(Mount(script_path, str(source), type="bind", read_only=True))
        data.paths[inp.name] = script_path
        ctx.prepare_log(f"input '{inp.name}': {inp.mode} of {source} at {script_path} (read-only source)")
    for out in plan.outputs:
        folder = output_folder(ctx.run_dir, out.name)
        folder.mkdir(parents=True, exist_ok=True)
        data.mounts.append(Mount(paths[out.name], str(folder.resolve()), type="bind", read_only=False))
        data.paths[out.name] = paths[out.name]
    data.environment = script_environment(plan, data.paths)
    return data
