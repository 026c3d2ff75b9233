"""The ``echo`` target: the script runs with a local interpreter in a private temp folder.

An example of everything a target package provides, using only runconfig-jupyter's public target
interface: the class (found through the ``runconfig_jupyter.targets`` entry point in pyproject.toml),
its settings declared once as a dataclass, and the lifecycle prepare -> start -> wait -> collect ->
cleanup that the run driver calls. It is deliberately small: no re-attach (capabilities say so),
cancel by SIGTERM to the script's process group. Its one cache (``<run home>/echo-cache/``, a file per
environment) is offered to ``collect_garbage`` through the optional ``garbage_sources`` hook.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from runconfig_jupyter.core.runs.garbage import GarbageItem
from runconfig_jupyter.core.runs.garbage_refs import env_key
from runconfig_jupyter.core.runs.status import RunStatus
from runconfig_jupyter.core.snapshot.extract import extract_snapshot
from runconfig_jupyter.core.target.interface import Capabilities, ComputeTarget, Outcome, TargetRunContext
from runconfig_jupyter.core.target.settings import setting


@dataclass(frozen=True)
class EchoSettings:
    """What a ``type: echo`` entry in targets.yaml may hold."""

    greeting: str = setting("echo target", "First line the target writes to the run's log.")
    python: str = setting("", "Interpreter that runs the script (default: the run driver's own).")


CACHE = "echo-cache"


class EchoCache:
    """A garbage source: one file per environment, referenced by the runs of that environment."""

    name = "echo-cache"

    def __init__(self, folder: Path):
        self.folder = folder

    def items(self) -> list[GarbageItem]:
        files = sorted(self.folder.iterdir()) if self.folder.is_dir() else []
        return [
            GarbageItem("echo-cache", f.name, str(f), f.stat().st_size, f.stat().st_mtime, frozenset({env_key(f.name)}),
                        handle=f)
            for f in files
        ]  # fmt: skip

    def remove(self, item: GarbageItem) -> None:
        Path(item.handle).unlink()


class EchoTarget(ComputeTarget):
    type_name = "echo"
    Settings = EchoSettings

    def __init__(self, name: str | None = None, **settings: object):
        super().__init__(name, **settings)
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def capabilities(self) -> Capabilities:
        return Capabilities(reattach=False, description="The script with a local interpreter in a temp folder.")

    @classmethod
    def garbage_sources(cls, home: Path) -> list[EchoCache]:
        return [EchoCache(home / CACHE)]

    def prepare(self, ctx: TargetRunContext) -> None:
        cache = ctx.run_dir.parent.parent / CACHE
        cache.mkdir(exist_ok=True)
        (cache / ctx.config.effective_environment().content_hash()[:16]).write_text("prepared once per environment")
        self._folder = Path(tempfile.mkdtemp(prefix=f"echo-{ctx.run_id}-"))
        extract_snapshot(ctx.snapshot_path, self._folder)

    def start(self, ctx: TargetRunContext) -> None:
        assert self._folder is not None, "prepare() runs first"
        ctx.write_log(f"{self.options.greeting}\n")
        env = {**os.environ, **ctx.environment()}
        argv = ctx.config.argv(python=self.options.python or sys.executable, env=env)
        self._process = subprocess.Popen(
            argv, cwd=self._folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        ctx.record(pid=self._process.pid)

    def wait(self, ctx: TargetRunContext) -> Outcome:
        assert self._process is not None and self._process.stdout is not None
        for chunk in iter(lambda: self._process.stdout.read1(65536), b""):  # type: ignore[union-attr]
            ctx.write_log(chunk)
        code = self._process.wait()
        if ctx.cancel_event.is_set():
            return Outcome(RunStatus.CANCELED, code, "canceled")
        if code == 0:
            return Outcome(RunStatus.COMPLETED, code)
        return Outcome(RunStatus.FAILED, code, f"the script exited with code {code}")

    def cancel(self, ctx: TargetRunContext, reason: str) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, signal.SIGTERM)

    def collect(self, ctx: TargetRunContext) -> None:
        outputs = self._folder / "outputs" if self._folder else None
        if outputs is not None and outputs.is_dir():
            shutil.copytree(outputs, ctx.outputs_dir, dirs_exist_ok=True)

    def cleanup(self, ctx: TargetRunContext) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
