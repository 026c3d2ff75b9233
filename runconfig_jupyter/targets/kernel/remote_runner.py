"""Code that runs *inside the remote kernel* (stdlib only; its source is sent over the websocket).

The kernel target installs this file as a module named ``_runconfig_remote`` in
the remote kernel and then calls its functions with short ``execute_request``
messages. The script itself never runs inside the kernel: it is started by a
tiny wrapper process in its own session, with its output going to a log file
in the per-run folder. That is what makes the run robust:

- the kernel (or the whole server) may restart, the websocket may drop: the
  process keeps running, and a new kernel follows the same log file from the
  byte offset the driver last saw;
- cancel kills the wrapper's process *group* (a kernel interrupt would reach
  only the kernel's own group);
- the wrapper writes the exit code to a file, so the outcome survives the
  kernel that started it.

The wrapper is started by ``setup`` already, while the snapshot is unpacked and the
environment installed, and waits for its spec on stdin; ``start`` only writes the spec
(argv, cwd, environment) into that pipe, so the wrapper's interpreter start is off the path
to the script's first line, and the run's environment never touches the remote disk.

Per-run layout on the remote machine::

    <run_dir>/work/        the extracted snapshot; the script's cwd (outputs/ is collected)
    <run_dir>/control/     wrapper.py, pid.json, exit_code, std_log.txt, shim/, uploads

The module is also imported locally (``safe_extract``) so both sides unpack
archives with the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import time

PYTHON_PLACEHOLDER = "\x00python\x00"
PAYLOAD_KEY = "runconfig_payload"
SERVER_ENV_PREFIXES = ("JPY_", "KERNEL_", "JUPYTER_", "JUPYTERHUB_", "KG_")
# How often ``poll`` looks at the log while it waits: a new line reaches the driver within this (plus one
# round trip); a look is a few stat calls, so 5 ms costs the kernel ~1% of a core while a run is quiet.
POLL_STEP_SECONDS = 0.005
# The wrapper runs isolated and without site: it needs only the stdlib, and skipping site-packages (and
# any .pth files there) saves 15-40 ms of interpreter start before the script's own.
WRAPPER_FLAGS = ("-I", "-S")

_WRAPPER = r"""
import json, os, signal, subprocess, sys

control = sys.argv[1]
raw = sys.stdin.buffer.read()  # the spec, written by start(); EOF without one: the run never started
if not raw:
    sys.exit(0)
spec = json.loads(raw)
state = {"signal": None}


def note(signum, frame):
    # The whole group got the signal already; stay alive to record the child's exit code.
    state["signal"] = signum


signal.signal(signal.SIGTERM, note)
signal.signal(signal.SIGINT, note)
signal.signal(signal.SIGHUP, note)
try:
    child = subprocess.Popen(spec["argv"], cwd=spec["cwd"], env=spec["env"], stdin=subprocess.DEVNULL)
except OSError as error:
    print(f"runconfig: could not start {spec['argv'][0]!r}: {error}", file=sys.stderr, flush=True)
    code = 127
else:
    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:
            continue
tmp = os.path.join(control, "exit_code.tmp")
with open(tmp, "w") as out:
    out.write(str(code))
os.replace(tmp, os.path.join(control, "exit_code"))
"""

_children: dict[int, subprocess.Popen] = {}
_waiting: dict[str, subprocess.Popen] = {}  # run_dir -> its wrapper, started by setup, waiting for start's spec


# -- calling convention ----------------------------------------------------------
LAST = ""


def call(name: str, arguments: str) -> None:
    """Entry point used by the driver: keep the JSON result for the request's ``user_expressions``.

    The result travels in the execute_reply (shell channel), not as printed output: servers
    rate-limit iopub output (1 MB/s by default) and would drop big log or download chunks.
    """
    global LAST
    LAST = ""
    LAST = json.dumps(globals()[name](**json.loads(arguments)))


def _control(run_dir: str) -> str:
    return os.path.join(run_dir, "control")


def _work(run_dir: str) -> str:
    return os.path.join(run_dir, "work")


# -- setup and upload --------------------------------------------------------------
def setup(run_dir: str, shim: bool = False) -> dict:
    """Create the run folder (absolute path returned) and unpack the in-script shim (a tar in the payload)."""
    run_dir = os.path.abspath(os.path.expanduser(run_dir))
    os.makedirs(_control(run_dir), exist_ok=True)
    os.makedirs(_work(run_dir), exist_ok=True)
    if shim:
        safe_extract_bytes(base64.b64decode(_payload()), _control(run_dir))
    if run_dir not in _waiting:
        _waiting[run_dir] = _spawn_wrapper(run_dir)
    return {
        "run_dir": run_dir,
        "python": sys.executable,
        "kernel_pid": os.getpid(),
        "host": os.uname().nodename if hasattr(os, "uname") else "",
        "has_package": _has_real_package(),
    }


def whoami() -> dict:
    return {"kernel_pid": os.getpid()}


def _payload() -> str:
    """Bulk data sent in the execute_request's metadata (see KernelChannel.execute)."""
    from IPython import get_ipython

    return get_ipython().kernel.get_parent("shell")["metadata"][PAYLOAD_KEY]


def put_chunk(path: str, offset: int, data: str | None = None) -> dict:
    """Write one base64 chunk at ``offset`` (idempotent, so a retried chunk is harmless)."""
    raw = base64.b64decode(_payload() if data is None else data)
    with open(path, "wb" if offset == 0 else "r+b") as out:
        out.seek(offset)
        out.write(raw)
    return {"size": os.path.getsize(path)}


def file_digest(path: str) -> dict:
    if not os.path.exists(path):
        return {"exists": False, "size": 0, "sha256": ""}
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return {"exists": True, "size": os.path.getsize(path), "sha256": digest.hexdigest()}


# -- the snapshot rebuilt from what this machine already holds (targets/kernel/delta.py) ----------------
CACHE_ALGORITHMS = ("blake3", "sha256")
CACHE_KEEP_SECONDS = 30 * 24 * 3600  # an object no upload used for this long is removed
CACHE_TRIM_EVERY_SECONDS = 24 * 3600
_COPY_BLOCK = 1 << 20


def _object_path(cache: str, alg: str, digest: str) -> str:
    """Where ``digest`` lives in the cache; ValueError for anything that is not a digest (no path is built
    from a name that could climb out of the cache)."""
    if alg not in CACHE_ALGORITHMS or len(digest) != 64 or digest.strip("0123456789abcdef"):
        raise ValueError(f"not a snapshot object name: {alg}/{digest!r}")
    return os.path.join(cache, alg, digest[:2], digest)


def _cached_size(path: str) -> int:
    """The size of a regular file at ``path`` (not through a link), -1 when there is none."""
    try:
        found = os.lstat(path)
    except OSError:
        return -1
    return found.st_size if stat.S_ISREG(found.st_mode) else -1


def _copy(source, out, size: int, also=None) -> None:
    while size > 0:
        block = source.read(min(_COPY_BLOCK, size))
        if not block:
            raise ValueError("the upload is shorter than its recipe says")
        out.write(block)
        if also is not None:
            also.write(block)
        size -= len(block)


def assemble(archive: str, delta: str, cache: str) -> dict:
    """Rebuild the snapshot's tar at ``archive`` from the uploaded ``delta`` and the objects cached here.

    ``delta`` is an 8-byte length, a JSON recipe (``alg`` and ``segments``) and the bytes it sends. A segment
    is ``["b", n]`` (the next n sent bytes), ``["o", digest, n]`` (a cached object) or ``["n", digest, n]``
    (n sent bytes that are also cached under that name). Nothing here trusts the cache: the driver checks
    the whole tar's sha256 next (``extract``) and, when it differs, forgets what it used. Objects the cache
    lacks are named in ``missing`` and nothing is written.
    """
    with open(delta, "rb") as source:
        recipe = json.loads(source.read(int.from_bytes(source.read(8), "big")))
        alg, segments = recipe["alg"], recipe["segments"]
        for segment in segments:
            if segment[0] in ("o", "n"):
                _object_path(cache, alg, segment[1])
            elif segment[0] != "b":
                raise ValueError(f"unknown segment {segment[0]!r}")
        arriving = {s[1] for s in segments if s[0] == "n"}  # a repeated file is sent once, then named
        missing = sorted(
            {
                s[1]
                for s in segments
                if s[0] == "o" and s[1] not in arriving and _cached_size(_object_path(cache, alg, s[1])) != s[2]
            }
        )
        if missing:
            return {"missing": missing}
        partial = f"{archive}.part"
        used = stored = 0
        with open(partial, "wb") as out:
            for segment in segments:
                if segment[0] == "b":
                    _copy(source, out, int(segment[1]))
                    continue
                path, size = _object_path(cache, alg, segment[1]), int(segment[2])
                if segment[0] == "o":
                    with open(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as cached:
                        _copy(cached, out, size)
                    os.utime(path)  # kept by the trim as long as uploads use it
                    used += 1
                    continue
                os.makedirs(os.path.dirname(path), exist_ok=True)
                temp = f"{path}.tmp-{os.getpid()}"
                with open(temp, "wb") as keep:
                    _copy(source, out, size, also=keep)
                os.replace(temp, path)
                stored += 1
    os.replace(partial, archive)
    os.unlink(delta)
    _trim_cache(cache)
    return {"size": os.path.getsize(archive), "used": used, "stored": stored}


def forget_objects(cache: str, alg: str, digests: list) -> dict:
    """Remove cached objects (after a rebuilt snapshot did not match: one of them may be damaged)."""
    removed = 0
    for digest in digests:
        try:
            os.unlink(_object_path(cache, alg, digest))
            removed += 1
        except (OSError, ValueError):
            pass
    return {"removed": removed}


def _trim_cache(cache: str) -> None:
    """At most once a day, remove the objects no upload has used for CACHE_KEEP_SECONDS."""
    marker = os.path.join(cache, ".trimmed")
    now = time.time()
    try:
        if now - os.stat(marker).st_mtime < CACHE_TRIM_EVERY_SECONDS:
            return
    except OSError:
        pass
    os.makedirs(cache, exist_ok=True)
    for alg in CACHE_ALGORITHMS:
        for parent, _dirs, names in os.walk(os.path.join(cache, alg)):
            for name in names:
                full = os.path.join(parent, name)
                try:
                    if now - os.lstat(full).st_mtime > CACHE_KEEP_SECONDS:
                        os.unlink(full)
                except OSError:
                    pass
    with open(marker, "w"):
        pass


def extract(run_dir: str, archive: str, sha256: str = "") -> dict:
    """Unpack the uploaded snapshot into work/ (safely) and drop the archive.

    With ``sha256`` the archive is checked first; a missing or different file gives
    ``{"files": None}`` so the driver can upload again another way.
    """
    return extract_to(archive, _work(run_dir), sha256)


def extract_to(archive: str, dest: str, sha256: str = "", read_only: bool = False) -> dict:
    """Unpack ``archive`` into ``dest`` (checked as :func:`extract` does) and drop it; ``read_only``: no write bits.

    An input the run wanted as a *mount* arrives as a copy; taking the write bits away keeps the script's
    view of it what a read-only mount gives (a write fails), the way the other targets behave.
    """
    if sha256 and file_digest(archive)["sha256"] != sha256:
        return {"files": None}
    count = safe_extract(archive, dest)
    os.remove(archive)
    if read_only:
        _drop_write_bits(dest)
    return {"files": count}


# -- data inputs and outputs (core/data; targets/kernel/data.py) ---------------------------
_ENV_REFERENCE = r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}"  # the reference core/data/remote_access.py writes


def make_dirs(paths: list) -> dict:
    for path in paths:
        os.makedirs(path, exist_ok=True)
    return {"made": len(paths)}


def fetch_data(dest: str, recipe: dict, path: str, is_file: bool = False, read_only: bool = False) -> dict:
    """Fetch ``path`` from a datastore with fsspec *on this machine*, credentials from this machine's variables.

    Stdlib-only module, so the substitution of core/data/remote_access.py is repeated here in a few lines.
    ``{"ok": False, "why": ...}`` when fsspec, the store's driver or a variable is missing: the driver then
    fetches on its side and uploads.
    """
    import re

    names = re.findall(_ENV_REFERENCE, recipe["json"])
    missing = sorted({name for name in names if not os.environ.get(name)})
    if missing:
        return {"ok": False, "why": f"{', '.join(missing)} not set next to the kernel"}
    text = re.sub(_ENV_REFERENCE, lambda m: json.dumps(os.environ[m.group(1)])[1:-1], recipe["json"])
    partial = dest.rstrip("/") + ".partial"
    try:
        import fsspec

        fs = fsspec.AbstractFileSystem.from_json(text)
        shutil.rmtree(partial, ignore_errors=True)
        os.makedirs(partial)
        if is_file:
            fs.get_file(path, os.path.join(partial, path.rstrip("/").rsplit("/", 1)[-1]))
        else:
            fs.get(path.rstrip("/") + "/", partial + "/", recursive=True)
    except Exception as error:  # ImportError (no fsspec / s3fs / adlfs), a refused credential, a timeout
        shutil.rmtree(partial, ignore_errors=True)
        return {"ok": False, "why": f"{type(error).__name__}: {error}"}
    shutil.rmtree(dest, ignore_errors=True)
    os.makedirs(os.path.dirname(dest.rstrip("/")) or ".", exist_ok=True)
    os.replace(partial, dest)
    files = size = 0
    for parent, _dirs, names_ in os.walk(dest):
        for name in names_:
            files += 1
            size += os.path.getsize(os.path.join(parent, name))
    if read_only:
        _drop_write_bits(dest)
    return {"ok": True, "files": files, "bytes": size}


def _drop_write_bits(root: str) -> None:
    for parent, dirs, names in os.walk(root, topdown=False):
        for name in names + dirs:
            full = os.path.join(parent, name)
            if not os.path.islink(full):
                os.chmod(full, stat.S_IMODE(os.lstat(full).st_mode) & ~0o222)
    os.chmod(root, stat.S_IMODE(os.stat(root).st_mode) & ~0o222)


# -- safe extraction (used on both sides) -------------------------------------------
def safe_extract_bytes(data: bytes, dest: str) -> int:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
        return _extract_members(archive, dest)


def safe_extract(path: str, dest: str) -> int:
    with tarfile.open(path, mode="r:*") as archive:
        return _extract_members(archive, dest)


def _extract_members(archive: tarfile.TarFile, dest: str) -> int:
    """Regular files and folders only; refuse absolute paths, '..' and any link (links could point out)."""
    root = os.path.realpath(dest)
    os.makedirs(root, exist_ok=True)
    members = archive.getmembers()
    for member in members:
        name = member.name
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or (len(name) > 1 and name[1] == ":"):
            raise ValueError(f"unsafe archive member {name!r}: absolute or '..' paths are refused")
        if not (member.isfile() or member.isdir()):
            raise ValueError(f"unsafe archive member {name!r}: links and special files are refused")
        target = os.path.realpath(os.path.join(root, name))
        if target != root and not target.startswith(root + os.sep):
            raise ValueError(f"unsafe archive member {name!r}: it would land outside {root}")
    count = 0
    for member in members:
        target = os.path.join(root, member.name)
        if member.isdir():
            os.makedirs(target, exist_ok=True)
            continue
        os.makedirs(os.path.dirname(target) or root, exist_ok=True)
        if os.path.realpath(os.path.dirname(target)) != os.path.dirname(os.path.realpath(target)):
            raise ValueError(f"unsafe archive member {member.name!r}: a folder on its path is a link")
        source = archive.extractfile(member)
        with open(target, "wb") as out:
            shutil.copyfileobj(source, out)
        os.chmod(target, (member.mode & 0o755) | 0o600)
        count += 1
    return count


# -- the run's environment -------------------------------------------------------------
ENV_READY = ".runconfig-ready"


def install_environment(envs_root: str, digest: str, conda: list, channels: list, pip: list) -> dict:
    """Install what the run's environment asks for next to the kernel, once per environment content hash.

    Conda packages are solved and installed with py-rattler when the remote python has it (no conda needed);
    pip packages go into a venv that sees the kernel's packages (``--system-site-packages``), or into the conda
    prefix when the solution brought a python. A second run with the same environment waits on the lock, then
    reuses the folder; a half-built folder is removed, so it never looks installed.
    """
    import fcntl

    root = os.path.abspath(os.path.expanduser(envs_root))
    os.makedirs(root, exist_ok=True)
    env_dir = os.path.join(root, "env-" + digest[:16])
    with open(env_dir + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(env_dir, ENV_READY)):
            with open(os.path.join(env_dir, ENV_READY)) as ready:
                return {**json.loads(ready.read()), "cached": True, "log": []}
        shutil.rmtree(env_dir, ignore_errors=True)
        os.makedirs(env_dir)
        try:
            result = _build_environment(env_dir, root, conda, channels, pip)
        except BaseException:
            shutil.rmtree(env_dir, ignore_errors=True)
            raise
        if "error" in result:
            shutil.rmtree(env_dir, ignore_errors=True)
            return result
        log = result.pop("log")
        with open(os.path.join(env_dir, ENV_READY), "w") as ready:
            ready.write(json.dumps(result))
        return {**result, "cached": False, "log": log}


def _run_coroutine(coroutine):
    """Run rattler's coroutine to its end; the kernel's own event loop is running in this thread, so in another."""
    import asyncio
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _build_environment(env_dir: str, root: str, conda: list, channels: list, pip: list) -> dict:
    log = []
    prefix = ""
    python = ""
    if conda:
        try:
            import rattler
        except ImportError:
            return {"error": "no-rattler", "message": f"{sys.executable} cannot import rattler (py-rattler)"}
        import datetime

        prefix = os.path.join(env_dir, "conda")
        try:
            records = _run_coroutine(
                rattler.solve(sources=list(channels), specs=list(conda), timeout=datetime.timedelta(minutes=5))
            )
        except Exception as error:  # rattler's errors share no public base class
            return {"error": "solve", "kind": type(error).__name__, "message": " ".join(str(error).split())}
        log.append("installing " + ", ".join(f"{r.name.normalized}={r.version} ({r.channel})" for r in records))
        _run_coroutine(
            rattler.install(
                records,
                target_prefix=prefix,
                cache_dir=os.path.join(root, "conda-pkgs"),
                show_progress=False,
                execute_link_scripts=False,
            )
        )
        own = os.path.join(prefix, "bin", "python")
        python = own if os.path.exists(own) else ""
    if pip:
        if not python:
            venv = os.path.join(env_dir, "venv")
            made = subprocess.run(
                [sys.executable, "-m", "venv", "--system-site-packages", venv], capture_output=True, text=True
            )
            if made.returncode:
                return {"error": "venv", "message": (made.stdout + made.stderr)[-4000:]}
            python = os.path.join(venv, "bin", "python")
        installed = subprocess.run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", *pip],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        log.extend((installed.stdout + installed.stderr).splitlines()[-200:])
        if installed.returncode:
            return {"error": "pip", "message": (installed.stdout + installed.stderr)[-4000:]}
    return {"python": python, "prefix": prefix, "log": log}


# -- the script ----------------------------------------------------------------------
def _has_real_package() -> bool:
    import importlib.util

    try:
        spec = importlib.util.find_spec("runconfig_jupyter")
    except (ImportError, ValueError):
        return False
    return spec is not None and not (spec.origin or "").endswith("/control/shim/runconfig_jupyter/__init__.py")


def start(
    run_dir: str, argv: list, env: dict, python: str = "", shim: str = "auto", prefix: str = "", venv: bool = False
) -> dict:
    """Start the wrapper in its own session; the script's output goes to control/std_log.txt.

    ``prefix``: a conda prefix installed by ``install_environment`` (its bin/ first on PATH, CONDA_PREFIX set).
    ``venv``: ``python`` is a venv over the kernel's own packages, so it sees a real package the kernel has.
    """
    control, work = _control(run_dir), _work(run_dir)
    interpreter = python or sys.executable
    argv = [interpreter if item == PYTHON_PLACEHOLDER else item for item in argv]
    full_env = dict(os.environ)
    for name in [n for n in full_env if n.startswith(SERVER_ENV_PREFIXES)]:
        full_env.pop(name)  # the server's plumbing and its token (JUPYTER_TOKEN, KG_AUTH_TOKEN) stay out
    full_env.update(env)
    path_entries = [work]
    kernel_site = interpreter == sys.executable or venv
    use_shim = shim == "always" or (shim == "auto" and kernel_site and not _has_real_package())
    shim_dir = os.path.join(control, "shim")
    if use_shim and os.path.isdir(shim_dir):
        path_entries.append(shim_dir)
    if full_env.get("PYTHONPATH"):
        path_entries.append(full_env["PYTHONPATH"])
    full_env["PYTHONPATH"] = os.pathsep.join(path_entries)
    bin_dir = os.path.dirname(interpreter)
    conda_bin = os.path.join(prefix, "bin") if prefix else ""
    full_env["PATH"] = os.pathsep.join(p for p in (conda_bin, bin_dir, full_env.get("PATH", "")) if p)
    if prefix:
        full_env["CONDA_PREFIX"] = prefix
    for stale in ("exit_code", "exit_code.tmp"):
        if os.path.exists(os.path.join(control, stale)):
            os.remove(os.path.join(control, stale))
    spec = json.dumps({"argv": argv, "cwd": work, "env": full_env}).encode()
    process = _waiting.pop(os.path.abspath(os.path.expanduser(run_dir)), None)
    if process is None or not _hand_spec(process, spec):  # a restarted kernel has none (or it was killed)
        process = _spawn_wrapper(run_dir)
        if not _hand_spec(process, spec):
            raise RuntimeError(f"the wrapper of {run_dir} exited before it took its spec")
    _children[process.pid] = process
    info = {"pid": process.pid, "started": _start_time(process.pid), "argv": argv, "shim": use_shim}
    with open(os.path.join(control, "pid.json"), "w") as out:
        json.dump(info, out)
    return info


def _spawn_wrapper(run_dir: str) -> subprocess.Popen:
    """The wrapper in its own session, output to control/std_log.txt, waiting for its spec on stdin."""
    control = _control(run_dir)
    wrapper = os.path.join(control, "wrapper.py")
    with open(wrapper, "w") as out:
        out.write(_WRAPPER)
    with open(os.path.join(control, "std_log.txt"), "ab") as log:
        return subprocess.Popen(
            [sys.executable, *WRAPPER_FLAGS, wrapper, control],
            cwd=_work(run_dir),
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def _hand_spec(process: subprocess.Popen, spec: bytes) -> bool:
    """Write the spec and close the pipe (the wrapper reads to EOF); False when the wrapper is gone."""
    try:
        process.stdin.write(spec)
        process.stdin.close()
    except (OSError, ValueError):  # it died (or was killed) while it waited: EPIPE
        process.wait()
        return False
    return True


def _release_waiting(run_dir: str) -> None:
    """End the wrapper that setup started for a run that will not start (it holds nothing yet)."""
    process = _waiting.pop(os.path.abspath(os.path.expanduser(run_dir)), None)
    if process is not None:
        process.kill()
        process.wait()
        process.stdin.close()


def _start_time(pid: int) -> str:
    """The kernel's start tick of ``pid`` (Linux), so a recycled pid is not mistaken for ours."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _alive(pid: int, started: str) -> bool:
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return False  # our own child, now reaped
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if started and _start_time(pid) not in ("", started):
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
    except (OSError, IndexError):
        pass
    return True


def _pid_info(run_dir: str) -> dict:
    try:
        with open(os.path.join(_control(run_dir), "pid.json")) as source:
            return json.load(source)
    except (OSError, ValueError):
        return {}


def _exit_code(run_dir: str):
    try:
        with open(os.path.join(_control(run_dir), "exit_code")) as source:
            return int(source.read().strip())
    except (OSError, ValueError):
        return None


def poll(run_dir: str, offset: int, max_bytes: int = 1 << 20, wait: float = 0.5) -> dict:
    """New log bytes from ``offset`` (waiting up to ``wait`` s for some) and the process state.

    ``state`` is ``running``, ``exited`` (with ``exit_code``, once every byte was read),
    ``vanished`` (gone without an exit code: killed together with its wrapper) or ``missing``.
    """
    info = _pid_info(run_dir)
    if not info:
        return {"state": "missing", "offset": offset, "data": ""}
    log_path = os.path.join(_control(run_dir), "std_log.txt")
    deadline = time.monotonic() + wait
    while True:
        code = _exit_code(run_dir)
        alive = code is None and _alive(info["pid"], info.get("started", ""))
        if code is None and not alive:
            code = _exit_code(run_dir)  # it may have finished between the two checks
        size = os.path.getsize(log_path) if os.path.exists(log_path) else 0
        if size > offset or not alive or time.monotonic() >= deadline:
            break
        time.sleep(POLL_STEP_SECONDS)
    data = b""
    if size > offset:
        with open(log_path, "rb") as source:
            source.seek(offset)
            data = source.read(max_bytes)
    new_offset = offset + len(data)
    finished = "exited" if code is not None else "vanished"
    state = "running" if alive or new_offset < size else finished
    return {
        "state": state,
        "exit_code": code,
        "offset": new_offset,
        "data": base64.b64encode(data).decode(),
        "pid": info["pid"],
    }


def kill(run_dir: str, sig: str = "SIGTERM") -> dict:
    """Signal the wrapper's whole process group (the script and every child it did not detach).

    Before ``start`` (a cancel while preparing) the waiting wrapper is ended instead: the run will not start.
    """
    _release_waiting(run_dir)
    info = _pid_info(run_dir)
    if not info or not _alive(info["pid"], info.get("started", "")):
        return {"sent": False}
    try:
        os.killpg(info["pid"], getattr(signal, sig))
    except (ProcessLookupError, PermissionError):
        return {"sent": False}
    return {"sent": True}


# -- outputs and cleanup ---------------------------------------------------------------
def pack_outputs(run_dir: str, folders: list = ("outputs", "logs")) -> dict:
    """A tar.gz of the script's outputs/ and logs/ (those that exist).

    Links are stored as links, never followed (a link to /etc/shadow must not ship the file);
    the driver keeps those that stay inside their folder. FIFOs, sockets and devices are left
    out and named in ``skipped`` so the run's log can say so.
    """
    work = _work(run_dir)
    archive_path = os.path.join(_control(run_dir), "collected.tar.gz")
    count, skipped = 0, []
    with tarfile.open(archive_path, "w:gz", compresslevel=1) as archive:
        for folder in folders:
            source = os.path.join(work, folder)
            if os.path.islink(source) or not os.path.isdir(source):
                continue
            for parent, dirs, files in os.walk(source):
                for name in [*dirs, *files]:
                    full = os.path.join(parent, name)
                    mode = os.lstat(full).st_mode
                    if stat.S_ISREG(mode) or stat.S_ISLNK(mode) or (stat.S_ISDIR(mode) and not os.listdir(full)):
                        archive.add(full, arcname=os.path.relpath(full, work), recursive=False)
                        count += not stat.S_ISDIR(mode)
                    elif not stat.S_ISDIR(mode):
                        skipped.append(os.path.relpath(full, work))
    result = file_digest(archive_path)
    result.update({"path": archive_path, "files": count, "skipped": skipped, "work": work})
    return result


def read_chunk(path: str, offset: int, size: int) -> dict:
    with open(path, "rb") as source:
        source.seek(offset)
        return {"data": base64.b64encode(source.read(size)).decode()}


def remove(run_dir: str) -> dict:
    """Delete the per-run folder (the run's process group gets SIGKILL first, in case it lingers)."""
    kill(run_dir, "SIGKILL")
    existed = os.path.isdir(run_dir)
    for parent, dirs, _names in os.walk(run_dir):  # read-only inputs (extract_to) must not block the removal
        for name in dirs:
            full = os.path.join(parent, name)
            if not os.path.islink(full):
                os.chmod(full, stat.S_IMODE(os.lstat(full).st_mode) | 0o700)
    shutil.rmtree(run_dir, ignore_errors=True)
    return {"removed": existed}


def exists(path: str) -> dict:
    return {"exists": os.path.exists(path)}
