"""What every run of a home still references, for the garbage collector (core/runs/garbage.py).

Read from the run folders (the source of truth) and the index row of each: the snapshot id (run.json
``snapshot.id`` and the row's ``snapshot_id``), the environment's content hash (run.json ``environment.hash``,
recorded at submit; for runs recorded before that, computed again from the recorded configuration, which
holds everything the hash covers), and the image the run ran in (``details.image`` / ``details.image_id``,
recorded by the docker target when it prepared the run). A run that is not finished also pins every image
of its environment (``image-env:<hash>``): it may be about to build or reuse one and has not recorded it yet.

A run folder the index does not know (a submit in progress, a damaged index) counts as unfinished: the
collector errs on the side of keeping.
"""

from __future__ import annotations

from typing import Any

from runconfig_jupyter.core.runs.folder import RunFolder
from runconfig_jupyter.core.runs.garbage import Reference
from runconfig_jupyter.core.runs.run_target import read_spec
from runconfig_jupyter.core.runs.store import RunRecord, RunStore

ENV_KEY_CHARS = 16  # the environment caches are named by this many characters of the hash (targets' envs/)
PAGE = 1000


def snapshot_key(snapshot_id: str) -> str:
    return f"snapshot:{snapshot_id}"


def env_key(env_hash: str) -> str:
    """A venv or conda prefix built for this environment (any target's cache under ``<home>/envs``)."""
    return f"env:{env_hash[:ENV_KEY_CHARS]}"


def image_key(image: str) -> str:
    """An image by tag or id, as a run recorded it."""
    return f"image:{image}"


def image_env_key(env_hash: str) -> str:
    """Any image built for this environment: pinned only by unfinished runs."""
    return f"image-env:{env_hash[:ENV_KEY_CHARS]}"


def run_references(store: RunStore) -> list[Reference]:
    """One ``Reference`` per run folder of the store's home."""
    records = _all_records(store)
    references = []
    try:
        folders = sorted(p for p in store.runs_dir.iterdir() if p.is_dir())
    except FileNotFoundError:
        folders = []
    for path in folders:
        folder = RunFolder(path)
        record = records.get(folder.run_id)
        try:
            spec = read_spec(path)
        except (OSError, ValueError):
            spec = {}
        keys = references_of(spec, record)
        active = record is None or not record.is_terminal
        if active:
            env_hash = environment_hash(spec)
            if env_hash:
                keys.add(image_env_key(env_hash))
        references.append(Reference(folder.run_id, frozenset(keys), active))
    return references


def _all_records(store: RunStore) -> dict[str, RunRecord]:
    found: dict[str, RunRecord] = {}
    offset = 0
    while True:
        page = store.list(limit=PAGE, offset=offset)
        found.update((record.run_id, record) for record in page)
        if len(page) < PAGE:
            return found
        offset += PAGE


def references_of(spec: dict[str, Any], record: RunRecord | None) -> set[str]:
    """The keys one run references, from its run.json and its index row."""
    keys: set[str] = set()
    snapshot = spec.get("snapshot")
    if isinstance(snapshot, dict) and isinstance(snapshot.get("id"), str):
        keys.add(snapshot_key(snapshot["id"]))
    if record is not None and record.snapshot_id:
        keys.add(snapshot_key(record.snapshot_id))
    env_hash = environment_hash(spec)
    if env_hash:
        keys.add(env_key(env_hash))
    details = record.details if record is not None else {}
    for name in ("image", "image_id"):
        value = details.get(name)
        if isinstance(value, str) and value:
            keys.add(image_key(value))
    return keys


def environment_hash(spec: dict[str, Any]) -> str | None:
    """The content hash of the run's environment, recorded at submit or computed from the recorded config."""
    recorded = spec.get("environment")
    if isinstance(recorded, dict) and isinstance(recorded.get("hash"), str):
        return recorded["hash"]
    config = spec.get("config")
    if not isinstance(config, dict):
        return None
    from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig

    try:
        return ScriptRunConfig.from_dict(config).effective_environment().content_hash()
    except Exception:  # a run recorded by an older version in a shape no longer read: it pins no environment
        return None
