"""A Python interpreter started before its run is known, which then becomes that run's script.

Starting an interpreter is most of what separates "submit" from "the script's first line" on the
local target (~30 ms here, most of it ``site`` and the ``.pth`` files of site-packages). A spare
supervisor (spare.py, supervisor.py ``--prestart``) therefore starts one ahead, as
``python -c "exec(open(<this file>, 'rb').read())"``, with the environment every default run's script gets apart from
the names that change from run to run (core/runs/script_env.py ``PER_RUN_NAMES``). The driver hands
it a run only when that prediction holds (same interpreter, ``python SCRIPT ARGS...`` or
``python -c CODE ARGS...``, same environment but those names); anything else runs the ordinary way.

Given a run on stdin (NUL-separated: folder, log, argument count, the command, then ``NAME=value``
entries), it does what ``python SCRIPT ARGS...`` does before a script's first line: working folder,
stdin from /dev/null and stdout/stderr to the log, the run's environment, ``sys.argv``,
``sys.path[0]`` (the script's real folder), a fresh ``__main__`` namespace with ``__file__`` and a
source loader, and the source compiled under the script's absolute path. Uncaught exceptions are
printed without this file's frames and end the process as Python would (1, or SIGINT for
KeyboardInterrupt).

Whenever it cannot be exactly a fresh start - the script cannot be read or compiled, or a folder on
``sys.path`` changed since it started (``pip install`` after the standby began waiting: a fresh
interpreter would read new ``.pth`` files) - it replaces itself with the real command (``execv``,
same PID, so its supervisor sees no difference) and Python starts the script the ordinary way.

Kept to the modules every interpreter start already imports, so the script finds ``sys.modules``
as a fresh interpreter leaves it.
"""


def _path_stamp(os, sys):  # type: ignore[no-untyped-def]
    """The modification times of the folders this interpreter's ``sys.path`` was built from."""
    folders = [entry for entry in sys.path if entry]
    site = sys.modules.get("site")
    user_site = getattr(site, "USER_SITE", None) if getattr(site, "ENABLE_USER_SITE", False) else None
    if user_site:
        folders.append(user_site)  # a `pip install --user` after the start creates or changes it
    stamp = []
    for folder in folders:
        try:
            stamp.append(os.stat(folder).st_mtime_ns)
        except OSError:
            stamp.append(None)
    return stamp


def _retitle(os, command):  # type: ignore[no-untyped-def]
    """Show the run's command where ``ps``, ``top`` and psutil look (/proc/PID/cmdline), not this loader.

    The kernel reads a process's command line from its own argument memory, and shows it as one string
    up to the first NUL when the area's last byte is not NUL (the convention of setproctitle(3)). The
    supervisor starts this process with a padding argument, so the area has room for most commands; a
    longer one is cut. Nothing is written past the area, and a refusal (a kernel that forbids writing
    /proc/self/mem) leaves the line as it was.
    """
    try:
        with open("/proc/self/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start and arg_end, fields 48 and 49 of stat(5)
        title = os.fsencode(" ".join(command))[: end - start - 2]
        with open("/proc/self/mem", "r+b", buffering=0) as memory:
            memory.seek(start)
            memory.write(title + b"\0" * (end - start - len(title) - 1) + b" ")
    except (OSError, ValueError, IndexError):
        pass


def _serve() -> None:
    import builtins
    import os
    import sys

    started_with = _path_stamp(os, sys)
    retitle = _retitle  # this module's names go with __main__'s namespace, cleared for the script below
    chunks = []
    while chunk := os.read(0, 1 << 16):
        chunks.append(chunk)
    if not chunks:
        return  # the supervisor went without a run for us: nothing to start
    fields = [os.fsdecode(field) for field in b"".join(chunks).split(b"\0")]
    folder, log, count = fields[0], fields[1], int(fields[2])
    command = fields[3 : 3 + count]
    environment = dict(entry.split("=", 1) for entry in fields[3 + count :])

    os.chdir(folder)
    output = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    nothing = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((nothing, 0), (output, 1), (output, 2)):
        os.dup2(source, target)
    os.close(nothing)
    os.close(output)
    for name in [name for name in os.environ if name not in environment]:
        del os.environ[name]
    os.environ.update(environment)

    if _path_stamp(os, sys) != started_with or len(command) < 2 or (command[1] == "-c" and len(command) < 3):
        os.execv(command[0], command)
    inline = command[1] == "-c"  # `python -c CODE ARGS...`, else `python SCRIPT ARGS...`
    script = "<string>" if inline else os.path.abspath(command[1])
    try:
        if inline:
            code = compile(command[2], script, "exec", dont_inherit=True)
        else:
            with open(script, "rb") as source:
                code = compile(source.read(), script, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        os.execv(command[0], command)  # Python reports it in its own words

    namespace = sys.modules["__main__"].__dict__
    namespace.clear()
    namespace.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None, __annotations__={})
    namespace["__builtins__"] = builtins
    if inline:
        namespace["__loader__"] = sys.modules["_frozen_importlib"].BuiltinImporter
        sys.argv = ["-c", *command[3:]]
        sys.path_importer_cache.pop("", None)  # '' is the run's folder now, not the one this process started in
    else:
        loader = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", script)
        namespace.update(__loader__=loader, __file__=script, __cached__=None)
        sys.argv = command[1:]
        if not sys.flags.safe_path:
            sys.path[0] = os.path.dirname(os.path.realpath(script))
    sys.orig_argv = list(command)
    retitle(os, command)

    import atexit

    interrupted = []

    def end_as_interrupted() -> None:
        """Registered before the script's own handlers, so it runs after them, as Python's exit by SIGINT does."""
        if interrupted:
            import signal

            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)

    atexit.register(end_as_interrupted)
    try:
        exec(code, namespace)
    except SystemExit:
        raise
    except BaseException as error:
        trace = error.__traceback__
        while trace is not None and trace.tb_frame.f_code is not code:
            trace = trace.tb_next  # from the script's first frame on, as `python SCRIPT` shows it
        error.__traceback__ = trace
        sys.last_type, sys.last_value, sys.last_traceback = type(error), error, trace
        sys.excepthook(type(error), error, trace)
        if isinstance(error, KeyboardInterrupt):
            interrupted.append(True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    _serve()
