"""A run's data plan on a Ray cluster: workers read the stores themselves; a host folder only on this machine.

Driver side (:func:`check_plan`, :func:`launch_data`): a ``local`` input names a folder on *this* machine,
which a worker elsewhere cannot see, so it is refused (at submit, in ``validate``) unless the cluster's
head is this machine (a 127.0.0.1 / localhost address), in which case the host path itself is used. For
a remote store the worker gets a recipe (core/data/remote_access.py) naming - never holding - the
credential variables, which must be set on the cluster's nodes (``ray start`` environment, or the
target's ``runtime_env: {env_vars: ...}`` when you accept Ray showing them in its dashboard). On a
cluster of this machine the store is fetched here into the download cache (``fetch: auto``) so no
credential has to reach the cluster at all; ``fetch: worker`` makes the workers fetch anyway.

Node side (:func:`node_data`, run by the launcher in each process's private copy): fetch what must be
fetched into the node's download cache, copy download-mode inputs into the working dir, make one
``data_outputs/<name>`` folder per output (shipped back with ``outputs/``, uploaded by the driver), and
return the variables and the argument template with the placeholders replaced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from runconfig_jupyter.core.errors import ConfigError

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
FETCH_MODES = ("auto", "worker")


def cluster_is_local(url: str) -> bool:
    """Whether the cluster's head (its dashboard URL) is this machine."""
    return (urlparse(url).hostname or "") in LOCAL_HOSTS


def check_plan(plan: Any, url: str, target_name: str) -> None:
    """Refuse a host folder input on a cluster that is not this machine (ConfigError naming the input)."""
    if cluster_is_local(url):
        return
    for inp in plan.inputs:
        if inp.kind == "local":
            raise ConfigError(
                f"input '{inp.name}' is a folder on this machine (datastore '{inp.datastore}'), which the Ray "
                f"cluster at {url} cannot see; upload it to a datastore the cluster can read "
                "(ds.upload(...) to S3 / Azure Blob) and use that, or run on a target of this machine "
                f"(target '{target_name}' would need its head at 127.0.0.1)",
                field=f"data.{inp.name}",
            )


def launch_data(ctx: Any, plan: Any, url: str, fetch: str = "auto") -> dict[str, Any] | None:
    """What the launcher needs to give the script its data; None for a run without data."""
    if not plan:
        return None
    from runconfig_jupyter.core.data.materialize import host_source
    from runconfig_jupyter.core.data.remote_access import filesystem_recipe
    from runconfig_jupyter.core.data.stores import get_datastore_spec

    check_plan(plan, url, "ray")
    local = cluster_is_local(url)
    inputs = []
    cache = None
    for inp in plan.inputs:
        if ctx.cancel_event.is_set():  # canceled while preparing: no further fetch (the driver ends the run)
            return None
        entry: dict[str, Any] = {
            "name": inp.name,
            "mode": inp.mode,
            "path_on_compute": inp.path_on_compute,
            "pattern": inp.pattern,
        }
        if inp.kind == "local" or (local and fetch == "auto"):
            if inp.kind != "local" and cache is None:
                from runconfig_jupyter.core.data.cache import DownloadCache

                cache = DownloadCache()

            def progress(done: int, total: int, name: str = inp.name) -> None:
                ctx.progress(f"Fetching input '{name}'", done / total if total else None, f"{done / 1e6:.1f} MB")

            entry["host_path"] = str(host_source(inp, cache, progress))
        else:
            recipe = filesystem_recipe(get_datastore_spec(inp.datastore, field=f"data.{inp.name}"))
            if recipe is None:
                raise ConfigError(
                    f"input '{inp.name}': datastore '{inp.datastore}' cannot be opened on the cluster without sending "
                    "its credential; use a store whose credentials are named by *_env settings",
                    field=f"data.{inp.name}",
                )
            entry["recipe"] = recipe
            entry["path"] = inp.path
        inputs.append(entry)
        ctx.prepare_log(
            f"input '{inp.name}': "
            + (f"host path {entry['host_path']}" if "host_path" in entry else "read by the workers from the store")
        )
    return {"plan": plan.to_dict(), "inputs": inputs}


def node_data(data: dict[str, Any] | None, work: Path, template: list[str]) -> tuple[list[str], dict[str, str]]:
    """On the node: the argument template with data placeholders replaced, and the variables for the script."""
    if not data:
        return template, {}
    from runconfig_jupyter.core.data.materialize import VIEWS, copy_input, place_on_compute, view_input
    from runconfig_jupyter.core.data.plan import DataPlan, script_environment, substitute
    from runconfig_jupyter.core.runs.folder import DATA_OUTPUTS

    plan = DataPlan.from_dict(data["plan"])
    paths: dict[str, str] = {}
    for entry in data["inputs"]:
        source = Path(entry["host_path"]) if "host_path" in entry else _fetch(entry)
        if entry["mode"] == "download":  # a private copy in the working dir (only the files a glob names)
            folder = place_on_compute(work, entry.get("path_on_compute"), f"data/{entry['name']}")
            paths[entry["name"]] = str(copy_input(source, folder, entry.get("pattern")))
        elif entry.get("pattern") and source.is_dir():  # some files of a folder: links to those only
            paths[entry["name"]] = str(view_input(source, work / VIEWS / entry["name"], entry["pattern"]))
        else:
            paths[entry["name"]] = str(source)
    for out in plan.outputs:
        folder = work / DATA_OUTPUTS / out.name
        folder.mkdir(parents=True, exist_ok=True)
        paths[out.name] = str(folder)
    # In the template a '$' is a reference: a path's own '$' becomes '$$' (a literal dollar).
    literal = {name: path.replace("$", "$$") for name, path in paths.items()}
    return substitute(template, literal), script_environment(plan, paths)


def _fetch(entry: dict[str, Any]) -> Path:
    """A remote input into this node's download cache, opened with this node's credential variables."""
    from runconfig_jupyter.core.data.cache import DownloadCache
    from runconfig_jupyter.core.data.filesystems import join
    from runconfig_jupyter.core.data.remote_access import missing_variables, open_recipe
    from runconfig_jupyter.core.runs.input_datasets import listed_paths

    recipe = entry["recipe"]
    missing = missing_variables(recipe)
    if missing:
        raise RuntimeError(
            f"input '{entry['name']}': set {', '.join(missing)} on the Ray nodes (the datastore's credential "
            "variables); only their names travel with the job"
        )
    fs = open_recipe(recipe)
    only = listed_paths(entry.get("pattern"))  # a dataset of several paths: those files, not their whole folder
    path = join(recipe["root"], entry["path"])
    return Path(DownloadCache().fetch(fs, path, field=f"data.{entry['name']}", only=only))
