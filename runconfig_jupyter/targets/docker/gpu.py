"""GPU requests for Docker runs, and the check that the engine can serve them.

A GPU request reaches Docker as a ``DeviceRequest`` with the ``gpu``
capability. An engine without the NVIDIA container toolkit accepts the
container at create time and only refuses it at start (500 "could not select
device driver"), leaving a Created container behind. So we ask the engine
first (``info()['Runtimes']``), refuse before anything is created, and still
map the late refusal onto the same helpful error if it happens anyway.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, TargetUnavailable

NVIDIA_HOOK = "nvidia-container-runtime-hook"
NO_GPU_MESSAGE = (
    "this run asks for GPUs, but the Docker engine has no NVIDIA runtime (no 'nvidia' in docker info "
    "Runtimes: {runtimes}). Install the NVIDIA driver and the NVIDIA Container Toolkit "
    "(https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/latest/install-guide.html: "
    "apt-get install -y nvidia-container-toolkit; nvidia-ctk runtime configure --runtime=docker; "
    "restart dockerd), or run on CPU: remove '--gpus' from the docker arguments and set "
    "environment.docker.gpu_support to false (use_gpu=False for an estimator, which is what use_gpu=True set)"
)
DRIVER_REFUSAL = "could not select device driver"
GPU_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-:/]*$")


@dataclass(frozen=True)
class GpuRequest:
    """What the user asked for: all GPUs (count -1), a number of them, or device ids."""

    count: int = -1
    device_ids: tuple[str, ...] = ()

    def device_request(self) -> Any:
        from docker.types import DeviceRequest

        if self.device_ids:
            return DeviceRequest(device_ids=list(self.device_ids), capabilities=[["gpu"]])
        return DeviceRequest(count=self.count, capabilities=[["gpu"]])

    def describe(self) -> str:
        if self.device_ids:
            return "GPU devices " + ",".join(self.device_ids)
        return "all GPUs" if self.count < 0 else f"{self.count} GPU(s)"


def parse_gpus(value: str, field: str = "docker.arguments") -> GpuRequest:
    """``--gpus`` values as the docker CLI takes them: all, 2, device=0,1, "device=GPU-uuid", count=2."""
    text = str(value).strip().strip("'\"")
    if text == "all":
        return GpuRequest(-1)
    if text.isdigit():
        if int(text) < 1:
            raise ConfigError(f"--gpus {value}: ask for at least 1 GPU, or drop --gpus to run on CPU", field=field)
        return GpuRequest(int(text))
    options: dict[str, str] = {}
    for part in _split_options(text):
        key, _, val = part.partition("=")
        options[key.strip()] = val.strip().strip("'\"")
    if "device" in options:
        ids = tuple(d for d in options["device"].split(",") if d)
        if not ids:
            raise ConfigError(f"--gpus {value}: 'device=' needs at least one id (e.g. device=0,1)", field=field)
        if not all(GPU_ID.match(d) for d in ids):  # indices or GPU/MIG UUIDs; never a host path
            raise ConfigError(f"--gpus {value}: device ids are GPU indices or UUIDs (e.g. device=0,1)", field=field)
        return GpuRequest(device_ids=ids)
    if "count" in options:
        count = options["count"]
        if count == "all":
            return GpuRequest(-1)
        if count.isdigit() and int(count) > 0:
            return GpuRequest(int(count))
    raise ConfigError(f"--gpus {value!r} is not understood; use 'all', a count such as 2, or device=0,1", field=field)


def _split_options(text: str) -> list[str]:
    """``device=0,1,capabilities=compute``: commas inside the device list belong to it."""
    parts: list[str] = []
    for piece in text.split(","):
        if "=" in piece or not parts:
            parts.append(piece)
        else:
            parts[-1] += "," + piece
    return parts


def environment_gpu_request(environment: Any) -> GpuRequest | None:
    """``environment.docker.gpu_support`` (Azure's name; ``gpu`` accepted) means all GPUs."""
    docker = getattr(environment, "docker", None)
    wanted = bool(getattr(docker, "gpu_support", False) or getattr(docker, "gpu", False))
    return GpuRequest(-1) if wanted else None


def engine_has_gpu_runtime(info: dict[str, Any], local_engine: bool = True) -> bool:
    """True when the engine lists an NVIDIA runtime, or (local engine) the toolkit's hook is installed.

    Docker registers its 'nvidia' device driver when it finds the toolkit's hook at start-up; the
    runtime entry appears when the toolkit configured dockerd. Either one lets GPU requests start.
    """
    runtimes = info.get("Runtimes") or {}
    if any("nvidia" in str(name).lower() for name in runtimes):
        return True
    return local_engine and shutil.which(NVIDIA_HOOK) is not None and not os.environ.get("RUNCONFIG_IGNORE_NVIDIA_HOOK")


def no_gpu_error(info: dict[str, Any]) -> TargetUnavailable:
    runtimes = ", ".join(sorted(info.get("Runtimes") or {})) or "none"
    return TargetUnavailable(NO_GPU_MESSAGE.format(runtimes=runtimes))


def check_gpu_available(info: dict[str, Any], request: GpuRequest | None, local_engine: bool = True) -> None:
    """Refuse a GPU request the engine cannot serve, before any container exists."""
    if request is not None and not engine_has_gpu_runtime(info, local_engine):
        raise no_gpu_error(info)


def is_driver_refusal(error: BaseException) -> bool:
    """The engine's late answer to a GPU request it cannot serve (HTTP 500 at container start)."""
    return DRIVER_REFUSAL in str(error)
