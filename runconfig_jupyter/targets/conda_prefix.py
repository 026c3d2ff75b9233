"""Conda packages for real, without conda: solve and install with py-rattler (``pip install py-rattler``).

A run whose environment lists ``conda_packages`` gets them from the environment's ``channels`` (default
``conda-forge``, as Azure ML's default environments used), solved and installed into a prefix that is
cached by the environment's content hash, so the same environment never installs twice:

* local target: the prefix lives under ``<run home>/envs/conda-<hash>``; the script runs with the
  prefix's ``bin/`` first on ``PATH`` and ``CONDA_PREFIX`` set, and with the prefix's own python when
  the solution contains one (else the kernel's python).
* docker target: the prefix is solved and installed on this machine, with the in-image path
  ``/opt/conda-env`` patched into the files (rattler's ``alternative_target_prefix``), and copied into
  the image build, so channels that only this machine reaches (``file://`` folders, a mirror on
  127.0.0.1) work and the image needs neither conda nor network access to the channel.

``python`` and ``pip`` entries are left to the interpreter that runs the script (a pinned python needs a
channel that has one). Never a silent pip translation: when no channel answers, the run fails in
Preparing with ``CondaChannelUnreachable`` naming the packages and every channel tried.

Honest default: this project's machines reach PyPI, npm and Debian only, so ``conda-forge`` is not
reachable here; point ``channels`` at a reachable mirror or a local channel folder.
"""

from __future__ import annotations

import datetime
import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runconfig_jupyter.core.errors import CondaChannelUnreachable, PreparationFailed

if TYPE_CHECKING:  # created for the first run that asks for conda packages, not by this module's import
    from runconfig_jupyter.targets.conda_request import CondaRequest

DEFAULT_CHANNELS = ("conda-forge",)
# ``defaults`` is conda's alias for Anaconda's own channels (its expansion on Linux and macOS), not a channel:
# py-rattler would look for a channel named "defaults" on anaconda.org, which has no packages, so a v1
# environment file listing it (most of them do) could never solve. Anaconda's terms of service apply to them.
ANACONDA_DEFAULTS = ("https://repo.anaconda.com/pkgs/main", "https://repo.anaconda.com/pkgs/r")
SKIPPED = ("python", "pip")  # left to the interpreter that runs the script
READY_MARKER = ".runconfig-ready"
SOLVE_TIMEOUT = datetime.timedelta(minutes=5)


def conda_request(environment: Any) -> CondaRequest | None:
    """The conda packages a run asks for (None: nothing to install with conda)."""
    python = environment.python
    conda = python.conda_dependencies
    if conda is None or python.user_managed_dependencies:
        return None
    packages = tuple(p for p in conda.conda_packages if _name(p) not in SKIPPED)
    if not packages:
        return None
    from runconfig_jupyter.targets.conda_request import CondaRequest

    return CondaRequest(packages, _channels(conda.channels) or DEFAULT_CHANNELS)


def _channels(names: list[str]) -> tuple[str, ...]:
    """The environment's channels in order, ``defaults`` expanded as conda expands it, each once."""
    expanded = (ANACONDA_DEFAULTS if name.strip() == "defaults" else (name,) for name in names)
    return tuple(dict.fromkeys(channel for group in expanded for channel in group))


def _name(spec: str) -> str:
    return spec.strip().split("=")[0].split("<")[0].split(">")[0].split(" ")[0].split("[")[0].lower()


def cached_prefix(
    request: CondaRequest,
    envs_dir: Path,
    digest: str,
    log: Callable[[str], None],
    alternative_prefix: str | None = None,
) -> Path:
    """The installed prefix for ``request``; built once per environment hash (a second run waits, then reuses)."""
    kind = "stage" if alternative_prefix else "conda"
    prefix = envs_dir / f"{kind}-{digest[:16]}"
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{kind}-{digest[:16]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (prefix / READY_MARKER).exists():
            log(f"conda environment {digest[:12]} is cached at {prefix}; nothing to install")
            return prefix
        shutil.rmtree(prefix, ignore_errors=True)
        log(f"solving conda packages {request.describe()} (py-rattler)")
        try:
            records = solve(request)
            log("installing " + ", ".join(f"{r.name.normalized}={r.version} ({r.channel})" for r in records))
            install(records, prefix, envs_dir / "conda-pkgs", alternative_prefix)
        except BaseException:
            shutil.rmtree(prefix, ignore_errors=True)  # a half-built prefix must not look cached
            raise
        (prefix / READY_MARKER).write_text(digest)
    return prefix


def solve(request: CondaRequest) -> list[Any]:
    import asyncio  # ~15 ms: only a run that builds a conda prefix pays it, not every local run's driver

    rattler = _rattler(request)
    try:
        return asyncio.run(
            rattler.solve(sources=list(request.channels), specs=list(request.packages), timeout=SOLVE_TIMEOUT)
        )
    except Exception as error:  # rattler's errors share no public base class
        text = " ".join(str(error).split())
        if channel_unreachable(type(error).__name__, text):
            raise CondaChannelUnreachable(request.packages, request.channels, text) from error
        raise PreparationFailed(f"conda packages {request.describe()} cannot be installed together: {text}") from error


def install(records: list[Any], prefix: Path, cache_dir: Path, alternative_prefix: str | None) -> None:
    import asyncio

    import rattler

    asyncio.run(
        rattler.install(
            records,
            target_prefix=prefix,
            cache_dir=cache_dir,
            show_progress=False,
            execute_link_scripts=False,
            alternative_target_prefix=alternative_prefix,
        )
    )


def pip_into_prefix(python: Path, prefix: Path, packages: list[str], run: Callable[[list[str]], None]) -> None:
    """The environment's pip packages installed into a conda prefix with its own python, once per prefix.

    A lock makes a second process (another run, another rank on the node) wait, then find the marker;
    ``run(argv)`` runs pip the caller's way (its log, its error).
    """
    marker = prefix / ".runconfig-pip-ready"
    with open(prefix.parent / f"{prefix.name}.pip.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not marker.exists():
            run([str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *packages])
            marker.write_text(" ".join(packages))


def process_environment(prefix: Path, base_path: str | None = None) -> dict[str, str]:
    """What a process needs to use the prefix: its bin/ first on PATH, and CONDA_PREFIX."""
    path = base_path if base_path is not None else os.environ.get("PATH", "")
    return {"PATH": f"{prefix / 'bin'}{os.pathsep}{path}" if path else str(prefix / "bin"), "CONDA_PREFIX": str(prefix)}


def _rattler(request: CondaRequest) -> Any:
    try:
        import rattler
    except ImportError as error:
        raise PreparationFailed(
            f"conda packages ({', '.join(request.packages)}) are installed with py-rattler, which is missing: "
            "pip install py-rattler (or runconfig-jupyter[conda])"
        ) from error
    return rattler


def channel_unreachable(kind: str, text: str) -> bool:
    """A channel that did not answer (network, DNS, missing folder) rather than an unsolvable request.

    ``kind`` is the rattler error's class name (also reported by a remote kernel's solve)."""
    if kind in ("FetchRepoDataError", "IoError", "TransportError", "InvalidChannelError"):
        return True
    lowered = text.lower()
    return any(
        hint in lowered
        for hint in ("error sending request", "failed to fetch", "connection", "dns", "no such file", "not found")
    )


def __getattr__(name: str) -> Any:
    """``CondaRequest`` lives in targets/conda_request.py and is still importable from here."""
    if name == "CondaRequest":
        from runconfig_jupyter.targets.conda_request import CondaRequest

        return CondaRequest
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
