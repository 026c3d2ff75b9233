"""What a run's data would cost, for ``%submit --dry-run``: each input's size and whether it is cached.

Nothing is downloaded: a local datastore's folder is measured where it is (a mount copies nothing), a remote
input is listed on its store and looked up in the download cache (``DownloadCache.describe``).
"""

from __future__ import annotations

import os
from pathlib import Path

from runconfig_jupyter.core.data.plan import DataPlan
from runconfig_jupyter.core.runs.input_datasets import files_under, listed_paths


def _size(total: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if total < 1000 or unit == "GB":
            return f"{total:.0f} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total /= 1000  # type: ignore[assignment]
    return f"{total} B"


def describe_plan(plan: DataPlan) -> list[str]:
    """One line per input and output, for people: name, mode, datastore, path, size, cached."""
    from runconfig_jupyter.core.data.cache import DownloadCache

    cache = DownloadCache()
    lines = []
    for inp in plan.inputs:
        where = f"{inp.datastore}:{inp.path}" + (f" ({inp.pattern})" if inp.pattern else "")
        if inp.kind == "local":
            files = files_under(Path(inp.path), inp.pattern)
            total = sum(os.path.getsize(f) for f in files)
            state = "local folder, nothing to fetch" if inp.mode == "mount" else "copied from this machine"
        else:
            from runconfig_jupyter.core.data.filesystems import join, open_filesystem
            from runconfig_jupyter.core.data.stores import get_datastore_spec

            field = f"data.{inp.name}"
            fs, root = open_filesystem(get_datastore_spec(inp.datastore, field=field), field=field)
            about = cache.describe(fs, join(root, inp.path, field), field=field, only=listed_paths(inp.pattern))
            files, total = range(about["files"]), about["bytes"]
            state = "cached, nothing to download" if about["cached"] else "not cached, downloaded at start"
        lines.append(f"  input  {inp.name} [{inp.mode}] {where}: {len(files)} files, {_size(total)}, {state}")
    for out in plan.outputs:
        lines.append(f"  output {out.name} [{out.mode}] -> {out.datastore}:{out.destination}")
    return lines
