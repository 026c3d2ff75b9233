"""Calling the remote runner's functions in a remote kernel, surviving kernel restarts.

``RemoteKernel.call("poll", run_dir=..., offset=...)`` sends one short
``execute_request`` that calls ``_runconfig_remote.poll(...)`` inside the
kernel and returns its JSON result. When the kernel restarted (its namespace
is empty) the runner module is installed again and the call repeated, so the
caller never has to know.

The runner's source (and any bulk argument) travels in the request's metadata,
never in its code: IPython transforms, compiles and echoes (``execute_input``)
every cell's code; the 110 KB shim as a literal made the setup call 45-90 ms
instead of ~6 ms, right on the path from submit to the script's first line.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import TargetUnavailable
from runconfig_jupyter.targets.kernel import remote_runner as kernel_remote_runner
from runconfig_jupyter.targets.kernel.client import ChannelLost, ExecResult, KernelChannel, KernelClient, KernelGone

MODULE_NAME = "_runconfig_remote"
SOURCE_KEY = "runconfig_runner"  # the metadata entry that carries the runner's source to install
_RESULT = {"result": f"__import__({MODULE_NAME!r}).LAST"}
_RUNNER_SOURCE = Path(kernel_remote_runner.__file__).read_text(encoding="utf-8")
# Installs the module from the request's own metadata (see the module docstring), then forgets its helper.
_INSTALL_CODE = (
    "def _runconfig_install():\n"
    "    import sys, types\n"
    "    from IPython import get_ipython\n"
    f"    source = get_ipython().kernel.get_parent('shell')['metadata'][{SOURCE_KEY!r}]\n"
    f"    module = types.ModuleType({MODULE_NAME!r})\n"
    f"    sys.modules[{MODULE_NAME!r}] = module\n"
    f"    exec(compile(source, {MODULE_NAME!r}, 'exec'), module.__dict__)\n"
    "_runconfig_install()\n"
    "del _runconfig_install\n"
)


class RemoteError(TargetUnavailable):
    """The runner raised inside the remote kernel; carries the remote exception's name and text."""

    def __init__(self, function: str, ename: str | None, evalue: str | None):
        self.ename, self.evalue = ename, evalue
        super().__init__(f"remote {function}() failed: {ename}: {evalue}")


class RemoteKernel:
    """One kernel on the server plus a websocket to it, with the runner module installed."""

    def __init__(self, client: KernelClient, kernel_id: str):
        self.client = client
        self.kernel_id = kernel_id
        self._channel: KernelChannel | None = None

    @classmethod
    def start(cls, client: KernelClient, kernel_name: str) -> RemoteKernel:
        return cls(client, client.start_kernel(kernel_name, path=""))

    @property
    def channel(self) -> KernelChannel:
        if self._channel is None:
            self._channel = self.client.connect(self.kernel_id)
        return self._channel

    def reconnect(self) -> None:
        """A new websocket to the same kernel; KernelGone when the server lost it or gave up restarting it."""
        self.close()
        model = self.client.kernel(self.kernel_id)  # raises KernelGone when the server no longer knows it
        if model.get("execution_state") == "dead":
            self.client.shutdown(self.kernel_id)
            raise KernelGone(f"kernel {self.kernel_id} is dead on {self.client.url}")
        _ = self.channel

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None

    def install(self) -> None:
        result = self.channel.execute(_INSTALL_CODE, timeout=60, metadata={SOURCE_KEY: _RUNNER_SOURCE})
        if not result.ok:
            raise RemoteError("install", result.ename, result.evalue)

    def call(
        self,
        function: str,
        timeout: float | None = 120.0,
        payload: str | None = None,
        install: bool = False,
        **arguments: Any,
    ) -> dict[str, Any]:
        """Call ``function(**arguments)`` in the kernel; ``payload`` (bulk base64) travels in the message metadata.

        ``install`` sends the runner module in the same request (a fresh kernel: one round trip less).
        """
        code = f"__import__({MODULE_NAME!r}).call({function!r}, {json.dumps(arguments)!r})"
        metadata = {kernel_remote_runner.PAYLOAD_KEY: payload} if payload is not None else {}
        if install:
            code = _INSTALL_CODE + code
            metadata[SOURCE_KEY] = _RUNNER_SOURCE
        for attempt in range(2):
            result = self.channel.execute(code, timeout=timeout, metadata=metadata, user_expressions=_RESULT)
            if result.ok:
                return _parse(function, result)
            if attempt == 0 and result.ename in ("ModuleNotFoundError", "ImportError"):
                self.install()  # a fresh or restarted kernel
                continue
            raise RemoteError(function, result.ename, result.evalue)
        raise AssertionError("unreachable")

    def call_many(
        self, function: str, calls: Iterable[tuple[dict[str, Any], str | None]], window: int = 2, timeout: float = 120.0
    ) -> list[dict[str, Any]]:
        """Pipelined ``call``s of one function (arguments, payload); the runner must be installed already."""

        def requests() -> Iterator[tuple[str, dict[str, Any] | None]]:
            for arguments, payload in calls:
                code = f"__import__({MODULE_NAME!r}).call({function!r}, {json.dumps(arguments)!r})"
                yield code, ({kernel_remote_runner.PAYLOAD_KEY: payload} if payload is not None else None)

        results = self.channel.execute_many(requests(), _RESULT, timeout=timeout, window=window)
        for result in results:
            if not result.ok:
                raise RemoteError(function, result.ename, result.evalue)
        return [_parse(function, result) for result in results]


def _parse(function: str, result: ExecResult) -> dict[str, Any]:
    """The runner's JSON result from the reply's user_expressions (a str's repr, as IPython formats it)."""
    value = result.user_expressions.get("result", {})
    text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
    if not text:
        raise ChannelLost(f"remote {function}() returned no result ({value.get('ename')}: {value.get('evalue')})")
    return json.loads(ast.literal_eval(text))
