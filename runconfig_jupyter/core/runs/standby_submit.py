"""A submit done by the waiting standby driver instead of the submitting process.

A fresh ``python submit.py`` spent most of its time on work a warm process had already done: importing the
snapshot writer, the target types and the driver hand-over (~20 ms) and running them for the first time in
that process (the walk, the ignore rules, the record: ~40 ms). The standby that will drive the run has all of
that loaded (core/runs/standby.py). So, when a standby for exactly this environment waits, the submitter hands
it the submit itself: the configuration (``ScriptRunConfig.to_dict``, exact by contract), the working folder and
the submit's options. The standby runs the very same ``start_run`` (validation, confinement, snapshot, record)
in that folder and, when the run's driver environment is its own, becomes the run's driver at once.

It changes nothing a submit decides, only which process runs it:
- the standby is this user's own process, started for this environment (its fingerprint covers the interpreter,
  this package's code and every variable), and reads the request from the run home's standby folder (0700 as
  the home, the request 0600 and this user's own, read without following links);
- anything the standby cannot do exactly as the submitter would (a configuration that does not survive the
  round trip, a refusal, an error, a standby that vanished) is answered "fall back": the submitter then submits
  itself, which raises the same typed error with its own traceback, or succeeds. Nothing is recorded by a
  refused submit in either process (start_run's own rule), so falling back never leaves a second run;
- warnings the submit raised reach the submitter's ``warnings`` as if raised there;
- Ctrl-C while the standby works: the submitter still takes the answer (briefly) and cancels the run it names,
  so an interrupted submit leaves no run going, as before.

Used only where nothing process-local takes part: a plain ``ScriptRunConfig`` naming no data, a target by name,
no progress callback, no server root, no targets file (whose tokens a driver's environment leaves out) and no
target this process registered for itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import stat
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.runs.standby import (
    SUBMIT_PREFIX,
    SUBMIT_TOKEN,
    claim,
    driver_environment,
    fingerprint,
    is_standby_process,
    standby_dir,
    standby_seconds,
)

TOKEN = re.compile(rf"^{SUBMIT_TOKEN}$")
PASSED_OPTIONS = ("tags", "display_name", "parent_run_id", "driver_env")
MAX_REQUEST_BYTES = 16 << 20  # a configuration's JSON; a bigger one is submitted by the submitter itself
ALIVE_CHECK_SECONDS = 0.5  # how often a waiting submitter checks that its standby still lives
INTERRUPTED_ANSWER_SECONDS = 10.0  # after Ctrl-C, how long the answer (a run to cancel) is still awaited
# A waiting standby wakes within milliseconds; one that has not taken a request after this long is not serving.
ACCEPT_SECONDS = 3.0
TAKEN, ABANDONED = ".taken", ".abandoned"  # the request file renamed by the standby that serves it, or taken back
FALLBACK = "fallback"


def submit_token(message: str) -> str | None:
    """The request token of a standby message ``submit:<token>``; None for a run id (or anything else)."""
    if not message.startswith(SUBMIT_PREFIX):
        return None
    token = message[len(SUBMIT_PREFIX) :]
    return token if TOKEN.fullmatch(token) else None


def request_paths(home: Path, token: str) -> tuple[Path, Path]:
    """The request file and the answer FIFO of ``token``, in the home's standby folder."""
    folder = standby_dir(home)
    return folder / f"submit-{token}.json", folder / f"submit-{token}.answer"


# -- the submitting process ---------------------------------------------------------------------------------------
def eligible(config: Any, target: Any, options: dict[str, Any], home: Path) -> bool:
    """Whether this submit can be handed over without anything of this process taking part (module docstring)."""
    from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig
    from runconfig_jupyter.core.data.mentions import names_data

    if type(config) is not ScriptRunConfig or not (target is None or isinstance(target, str)):
        return False
    if any(key not in PASSED_OPTIONS for key, value in options.items() if value is not None):
        return False  # a progress callback, snapshot limits, a server root: the submitter's own
    configured = sys.modules.get("runconfig_jupyter.core.target.configured")  # not imported here only to ask
    if configured is not None and configured.defines_targets_in_process():
        return False
    return not names_data(config) and not (home / "targets.yaml").exists()


def submit_through_standby(
    config: Any,
    experiment: str,
    target: Any,
    home: Path,
    options: dict[str, Any],
    cancel: Callable[[str, str], Any],
) -> str | None:
    """Have a waiting standby submit ``config``; the run id, or None when the caller must submit itself.

    ``cancel(run_id, reason)`` stops a run the standby recorded for a submit that was interrupted (the run handle's
    own cancel: this module does not import the handle, which imports it)."""
    try:
        if not eligible(config, target, options, home):
            return None
        env = driver_environment(home, options.get("driver_env"), set())
        if standby_seconds(env) <= 0:
            return None
        request = {
            "cwd": os.getcwd(),
            "config": config.to_dict(),
            "experiment": experiment,
            "target": target,
            "options": {key: options[key] for key in PASSED_OPTIONS if options.get(key) is not None},
        }
        document = json.dumps(request).encode()
    except (OSError, TypeError, ValueError):
        return None
    if len(document) > MAX_REQUEST_BYTES:
        return None
    token = f"{os.getpid()}-{os.urandom(6).hex()}"
    request_file, answer = request_paths(home, token)
    remove_stale_requests(request_file.parent)
    try:
        _write_private(request_file, document)
        os.mkfifo(answer, 0o600)
    except OSError:
        _remove(request_file, answer)
        return None
    try:
        # Opened before the claim: the standby opens it for writing, which needs a reader.
        fd = os.open(answer, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        _remove(request_file, answer)
        return None
    pid: int | None = None
    try:
        try:
            pid = claim(home, fingerprint(env), SUBMIT_PREFIX + token)
            if pid is None:
                return None
            reply = _await(fd, pid, request_file)
        except KeyboardInterrupt:
            # Taken back, nobody submits it. Taken by the standby: its run is canceled here when the answer comes
            # in time, else by the standby itself, which finds nobody to answer (serve_submit).
            if not _abandon(request_file):
                late = _answer(fd, pid, time.monotonic() + INTERRUPTED_ANSWER_SECONDS)
                if late and late.get("run_id"):
                    with contextlib.suppress(Exception):
                        cancel(str(late["run_id"]), "the submit was interrupted (KeyboardInterrupt)")
            raise
    finally:
        os.close(fd)
        _remove(request_file, answer, *(request_file.with_suffix(s) for s in (TAKEN, ABANDONED)))
    return delivered(reply)


def delivered(reply: dict[str, Any] | None) -> str | None:
    """The run id of a standby's answer, with the warnings its submit raised raised here; None: submit yourself."""
    if reply is None or not isinstance(reply.get("run_id"), str):
        return None
    for category, message in reply.get("warnings", []):
        warnings.warn(str(message), _warning_class(category), stacklevel=5)
    return reply["run_id"]


def _await(fd: int, pid: int, request_file: Path) -> dict[str, Any] | None:
    """The answer to a request; None when the caller must submit itself.

    A standby that has not taken the request within ACCEPT_SECONDS (stopped, stuck, or not reading its FIFO any
    more) loses it: the request is renamed away, and exactly one of the two renames succeeds, so either the
    standby submits or this process does, never both. One that took it is waited for as long as it lives (a
    large snapshot takes a while).
    """
    reply = _answer(fd, pid, time.monotonic() + ACCEPT_SECONDS)
    if reply is not None or _abandon(request_file):
        return reply
    return _answer(fd, pid, None)


def _abandon(request_file: Path) -> bool:
    """Take the request back from the standby; False when it has already taken it."""
    try:
        os.rename(request_file, request_file.with_suffix(ABANDONED))
    except FileNotFoundError:
        return False
    return True


def _answer(fd: int, pid: int | None, deadline: float | None) -> dict[str, Any] | None:
    """The standby's answer (one JSON line); None when it ended without one or ``deadline`` passed.

    The FIFO was opened before any writer, so ``select`` blocks until the standby writes or closes; every
    ALIVE_CHECK_SECONDS without either, the standby is looked at, so a killed one is not waited for forever.
    """
    data = b""
    while True:
        wait = ALIVE_CHECK_SECONDS if deadline is None else min(ALIVE_CHECK_SECONDS, deadline - time.monotonic())
        if wait <= 0:
            return None
        ready, _, _ = select.select([fd], [], [], wait)
        if not ready:
            if pid is not None and not is_standby_process(pid):
                return None
            continue
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            continue
        data += chunk
        if not chunk or data.endswith(b"\n"):  # the whole line, or the standby closed without one
            break
    try:
        value = json.loads(data) if data.endswith(b"\n") else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _category_name(category: type[Warning]) -> str:
    return f"{category.__module__}:{category.__qualname__}"


def _warning_class(name: Any) -> type[Warning]:
    """The warning class a standby named: a built-in one or this package's own; UserWarning for anything else."""
    import builtins
    import importlib

    module, _, qualname = str(name).partition(":")
    found: Any = None
    if module == "builtins":
        found = getattr(builtins, qualname, None)
    elif module == "runconfig_jupyter" or module.startswith("runconfig_jupyter."):
        with contextlib.suppress(ImportError, ValueError):
            found = getattr(importlib.import_module(module), qualname, None)
    return found if isinstance(found, type) and issubclass(found, Warning) else UserWarning


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def remove_stale_requests(folder: Path) -> None:
    """Requests of submitters that are gone (killed before they cleaned up): a request holds the configuration
    with its secret values, so it does not stay on disk longer than its submitter lives."""
    try:
        names = [entry.name for entry in os.scandir(folder) if entry.name.startswith("submit-")]
    except OSError:
        return
    for name in names:
        try:
            os.kill(int(name[len("submit-") :].split("-", 1)[0]), 0)
        except ProcessLookupError:
            _remove(folder / name)
        except (ValueError, OSError):
            continue


def _remove(*paths: Path) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink()


# -- the standby -----------------------------------------------------------------------------------------------
def warm_up() -> None:
    """What a standby loads ahead so that the submit it may be handed costs what it costs in a warm kernel: the
    submit and snapshot modules, the never-allowed list of this environment and the built-in ignore rules'
    pre-filter (each cached per process exactly as it would be after a first submit)."""
    from runconfig_jupyter.core.runs import submit  # noqa: F401  (its imports: target resolution, the record)
    from runconfig_jupyter.core.safety.confine import never_allowed
    from runconfig_jupyter.core.snapshot import stored  # noqa: F401  (the snapshot writer)
    from runconfig_jupyter.core.snapshot.ignore import BUILTIN_EXCLUDES, prefilter

    never_allowed()
    prefilter(tuple(BUILTIN_EXCLUDES))


def serve_submit(home: Path, token: str, own_env: dict[str, str]) -> str | None:
    """Run the submit of request ``token``, answer the submitter, and return the run id when this standby is
    to drive it (its driver environment is ``own_env``); None when there is no run for it to drive."""
    request_file, answer = request_paths(home, token)
    taken_file = request_file.with_suffix(TAKEN)
    try:
        os.rename(request_file, taken_file)  # ours now, unless the submitter took it back (_abandon)
        fd = os.open(answer, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # ENXIO: the submitter is gone
    except OSError:
        return None
    taken: list[str] = []
    cwd = os.getcwd()
    try:
        try:
            with warnings.catch_warnings(record=True) as raised:
                warnings.simplefilter("always")
                run_id = _submit(home, _read_request(taken_file), own_env, taken)
            reply: dict[str, Any] = {
                "run_id": run_id,
                "warnings": [[_category_name(w.category), str(w.message)] for w in raised],
            }
        except BaseException as error:  # the submitter submits itself and meets the error with its own traceback
            reply = {FALLBACK: f"{type(error).__name__}: {error}"[:2000]}
            print(f"submit {token} handed back to its submitter: {reply[FALLBACK]}", file=sys.stderr, flush=True)
        finally:
            with contextlib.suppress(OSError):
                os.chdir(cwd)
        try:
            _send(fd, (json.dumps(reply) + "\n").encode())
        except OSError:  # the submitter is gone (Ctrl-C, killed): nobody holds the run, so it does not go on
            if taken:
                _cancel_unclaimed(home, taken[0])
    finally:
        os.close(fd)
        _remove(taken_file)
    return taken[0] if taken else None


def _cancel_unclaimed(home: Path, run_id: str) -> None:
    """Ask for the cancel of a run whose submitter left before it learned the run id; this standby, its driver,
    reads the request when it starts and ends the run Canceled with the reason."""
    from runconfig_jupyter.core.runs.status import RunStatus
    from runconfig_jupyter.core.runs.store import RunStore

    reason = "the submit was interrupted before it returned the run (its submitter is gone)"
    with contextlib.suppress(Exception):
        RunStore(home).set_status(run_id, RunStatus.CANCEL_REQUESTED, reason=reason)


def _read_request(path: Path) -> dict[str, Any]:
    """The request as the submitter wrote it: a regular file of this user's, read without following a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid() or st.st_size > MAX_REQUEST_BYTES:
            raise ValueError("not a submit request of this user's")
        data = b""
        while chunk := os.read(fd, 1 << 20):
            data += chunk
    finally:
        os.close(fd)
    request = json.loads(data)
    if not isinstance(request, dict):
        raise ValueError("not a submit request")
    return request


def _submit(home: Path, request: dict[str, Any], own_env: dict[str, str], taken: list[str]) -> str:
    from runconfig_jupyter.core.config.scriptrunconfig import ScriptRunConfig
    from runconfig_jupyter.core.runs.store import RunStore
    from runconfig_jupyter.core.runs.submit import start_run
    from runconfig_jupyter.core.system import proc

    config = ScriptRunConfig.from_dict(request["config"])
    if config.to_dict() != request["config"]:
        raise ValueError("the configuration does not survive its round trip")
    target = request.get("target")
    if not (target is None or isinstance(target, str)):
        raise ValueError("a target by name only")
    options = {key: value for key, value in dict(request.get("options") or {}).items() if key in PASSED_OPTIONS}
    os.chdir(str(request["cwd"]))  # relative paths of the configuration mean what they meant to the submitter
    store = RunStore(home)

    def take_over(run_id: str, driver_env: dict[str, str]) -> bool:
        """Drive the run ourselves when it would get exactly our environment; else a driver is started as usual."""
        if driver_env != own_env:
            return False
        pid = os.getpid()
        store.update(run_id, driver_pid=pid, driver_started=proc.start_mark(pid))
        taken.append(run_id)
        return True

    return start_run(config, str(request["experiment"]), target, store=store, take_over=take_over, **options)


def _send(fd: int, data: bytes) -> None:
    """Write the whole answer (a FIFO in non-blocking mode takes it in pieces when it is long)."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)
