"""Environment images this home built, as a garbage source (core/runs/garbage.py).

One Docker engine serves every run home of the machine (other users, test sessions), so an image is an item
only when it was built for *this* home: its ``runconfig-jupyter.home`` label (image.py, written at build)
names it, or, for images built before that label existed, its ``runconfig-jupyter.run_id`` label names a
run folder of this home. Never an item: an image without our environment label (a foreign image, a base
image), one tagged outside ``runconfig-jupyter/env`` (a user's image that inherited our labels), the base
any of our images was built from, the default base image.

An image a container uses (running or stopped, ours or not) is busy; removal never forces, so the engine
refuses anything we missed (an image with children, one a container just started on). Removal goes tag by
tag (the engine removes the image with its last tag), under the build lock of that tag, so it never races a
run that is checking the cache (image.py holds the same lock while it looks).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import RunStateError
from runconfig_jupyter.core.runs.garbage import GarbageItem
from runconfig_jupyter.core.runs.garbage_refs import image_env_key, image_key
from runconfig_jupyter.core.system.paths import RUN_ID
from runconfig_jupyter.targets.docker.image import (
    DEFAULT_BASE_IMAGE,
    ENV_REPOSITORY,
    LABEL_BASE_ID,
    LABEL_ENV_HASH,
    LABEL_HOME,
    LABEL_RUN_ID,
    created_seconds,
    home_label,
)
from runconfig_jupyter.targets.envs_garbage import held_now


class DockerImageSource:
    """Images built by the docker target for one run home, on the default engine ($DOCKER_HOST)."""

    name = "docker-images"

    def __init__(self, home: Path, client: Any = None):
        self.home = home
        self.home_id = home_label(home)
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            from runconfig_jupyter.targets.docker.client import connect

            self._client = connect()
        return self._client

    def items(self) -> Iterator[GarbageItem]:
        images = self.client.images.list(all=True, filters={"label": [LABEL_ENV_HASH]})
        bases = {image.labels.get(LABEL_BASE_ID) for image in images} | {self._id_of(DEFAULT_BASE_IMAGE)}
        users = self._container_users()
        sizes = {image.id: int(image.attrs.get("Size") or 0) for image in images}
        for image in images:
            if not self._ours(image) or image.id in bases:
                continue
            labels = image.labels
            tags = list(image.tags)
            base_size = sizes.get(labels.get(LABEL_BASE_ID, ""), 0) or self._size_of(labels.get(LABEL_BASE_ID))
            keys = {image_key(image.id), *(image_key(tag) for tag in tags)}
            if labels.get(LABEL_ENV_HASH):
                keys.add(image_env_key(labels[LABEL_ENV_HASH]))
            yield GarbageItem(
                kind="docker-image",
                name=", ".join(tags) or image.short_id,
                where="docker engine",
                bytes=max(0, sizes[image.id] - base_size),
                last_used=created_seconds(image.attrs.get("Created")),
                keys=frozenset(keys),
                busy=users.get(image.id),
                handle=image,
            )

    def remove(self, item: GarbageItem) -> None:
        image = item.handle
        users = self._container_users()
        if image.id in users:
            raise RunStateError(f"not removed: {users[image.id]}")
        if not image.tags:
            self.client.images.remove(image.id, force=False)
            return
        for tag in image.tags:
            with self._build_lock(tag):
                self.client.images.remove(tag, force=False)

    def _ours(self, image: Any) -> bool:
        labels = image.labels or {}
        if any(not tag.startswith(f"{ENV_REPOSITORY}:") for tag in image.tags):
            return False  # tagged by someone else: not a cache entry of ours whatever its labels say
        home = labels.get(LABEL_HOME)
        if home is not None:
            return home == self.home_id
        run_id = labels.get(LABEL_RUN_ID)
        return isinstance(run_id, str) and bool(RUN_ID.fullmatch(run_id)) and (self.home / "runs" / run_id).is_dir()

    def _container_users(self) -> dict[str, str]:
        users: dict[str, str] = {}
        for container in self.client.containers.list(all=True, ignore_removed=True):
            image_id = container.attrs.get("Image", "")
            users.setdefault(image_id, f"used by container {container.name} ({container.status})")
        return users

    def _id_of(self, name: str) -> str | None:
        import docker

        try:
            return self.client.images.get(name).id
        except docker.errors.ImageNotFound:
            return None

    def _size_of(self, image_id: str | None) -> int:
        import docker

        if not image_id:
            return 0
        try:
            return int(self.client.images.get(image_id).attrs.get("Size") or 0)
        except docker.errors.ImageNotFound:
            return 0

    def _build_lock(self, tag: str) -> Any:
        """The lock image.py's ensure_image holds while it checks for this tag."""
        lock_dir = self.home / "envs"
        lock_dir.mkdir(parents=True, exist_ok=True)
        return held_now(lock_dir / f"docker-{tag.rsplit(':', 1)[1]}.lock")
