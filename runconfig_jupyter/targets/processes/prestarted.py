"""The spare that is also the script's interpreter: a Python started before its run, which becomes the run.

Starting an interpreter is most of what separates "submit" from "the script's first line" on the
local target (~30 ms here, most of it ``site`` and the ``.pth`` files of site-packages). So the
local target's spare (spare.py) is this: ``python -c "LOADER = <this file>; exec(...)"``, started by
the driver before its run is known, in the run's own session, with the environment every default
run's script gets apart from the names that change from run to run (core/runs/script_env.py
``PER_RUN_NAMES``; never the driver's own variables).

The run arrives on stdin (NUL-separated: mode, exit file, folder, log, argument count, the command,
then ``NAME=value`` entries). For a run the driver found fitting (mode ``run``: this interpreter,
``python SCRIPT ARGS...`` or ``python -c CODE ARGS...``, that environment but those names), it enters
the run's folder, log and environment, compiles the script, and forks: the child becomes the
script, the parent its supervisor (supervisor.py's ``wait_and_record``, from that file's source).
The child does what ``python SCRIPT ARGS...`` does before a script's first line: ``sys.argv``,
``sys.path[0]`` (the script's real folder), a fresh ``__main__`` with ``__file__`` and a source
loader, the source compiled under the script's absolute path; uncaught exceptions are printed
without this file's frames and end the process as Python would (1, or SIGINT for KeyboardInterrupt);
the run's command is shown in ``/proc/PID/cmdline``.

Anything else - a run that does not fit, a script that cannot be read or compiled, a folder on
``sys.path`` changed since the start (``pip install`` meanwhile: a fresh interpreter would read new
``.pth`` files) - is run the ordinary way: this process is then the supervisor (supervisor.py's
``run_command``) of a freshly spawned process, and Python reports a bad script in its own words.

While it waits for its run it loads supervisor.py's functions (json comes with them); the script's process
takes the modules that added out of ``sys.modules`` again, so the script finds ``sys.modules`` as a fresh
interpreter leaves it. Right before the fork, everything made so far is frozen for the collector (see
``_freeze_startup_objects``).
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
    driver starts this process with a padding argument (spare.py), so the area has room for most commands;
    a longer one is cut. Nothing is written past the area, and a refusal (a kernel that forbids writing
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


def _supervisor(os, loader):  # type: ignore[no-untyped-def]
    """supervisor.py's functions, run from its source in a namespace of their own (no import, no new process)."""
    path = os.path.join(os.path.dirname(loader), "supervisor.py")
    namespace = {"__name__": "runconfig_supervisor", "__file__": path}
    with open(path, "rb") as source:
        exec(compile(source.read(), path, "exec"), namespace)
    return namespace


def _compiled(command, folder):  # type: ignore[no-untyped-def]
    """The code a fresh ``python`` would run for ``command`` (its compile-time warnings shown); None if it cannot."""
    import os
    import warnings

    inline = command[1] == "-c"
    script = "<string>" if inline else os.path.abspath(os.path.join(folder, command[1]))
    try:
        with warnings.catch_warnings(record=True) as caught:
            if inline:
                code = compile(command[2], script, "exec", dont_inherit=True)
            else:
                with open(script, "rb") as source:
                    code = compile(source.read(), script, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None, script  # run the ordinary way: Python reports it in its own words
    for warning in caught:
        warnings.showwarning(warning.message, warning.category, warning.filename, warning.lineno)
    return code, script


def _freeze_startup_objects(sys):  # type: ignore[no-untyped-def]
    """Move everything this interpreter made while starting into the collector's permanent generation.

    The script is a fork of this process: its pages are shared with the supervisor until written. A
    collection that walks the startup objects (the full one at every interpreter's exit does) writes to
    each one's header, and so copies every page they are on: the script's exit cost ~14.5 ms here instead
    of the ~8 ms a fresh interpreter's exit costs. Frozen, the collector leaves them alone, which is
    what the ``gc`` documentation advises before a fork without exec. What the script itself makes is
    collected as usual; ``gc`` is not left in ``sys.modules`` when it was not there.
    """
    loaded = "gc" in sys.modules
    import gc

    gc.freeze()
    if not loaded:
        del sys.modules["gc"]


def _serve(loader):  # type: ignore[no-untyped-def]
    import builtins
    import os
    import sys

    started_with = _path_stamp(os, sys)
    # __main__'s names go before the script runs (its namespace is cleared): keep what is needed after that
    retitle, compiled, supervisor, freeze_startup_objects = _retitle, _compiled, _supervisor, _freeze_startup_objects
    # supervisor.py's functions are loaded while no run is known. Loaded after the fork, compiling that file and
    # importing json (~6 ms here) ran beside the script on the same cores and delayed the record of its exit. But a
    # spare that a fresh driver started for its run finds the run already waiting: it starts the script first.
    # What the loading added to sys.modules is taken out again in the script (below, after the fork).
    chunks, functions, added = [], {}, []
    os.set_blocking(0, False)
    try:
        chunks.append(os.read(0, 1 << 16))
    except BlockingIOError:  # idle: nothing written yet
        before = set(sys.modules)
        functions = supervisor(os, loader)
        added = [name for name in sys.modules if name not in before]
    os.set_blocking(0, True)
    while chunks[-1:] != [b""] and (chunk := os.read(0, 1 << 16)):
        chunks.append(chunk)
    chunks = [chunk for chunk in chunks if chunk]
    if not chunks:
        return  # the driver went without a run for us: nothing to start
    fields = [os.fsdecode(field) for field in b"".join(chunks).split(b"\0")]
    mode, exit_file, folder, log, count = fields[0], fields[1], fields[2], fields[3], int(fields[4])
    command = fields[5 : 5 + count]
    environment = dict(entry.split("=", 1) for entry in fields[5 + count :])

    def supervisor_functions():  # type: ignore[no-untyped-def]
        """supervisor.py's functions: those loaded while idle, or loaded now."""
        if not functions:
            functions.update(supervisor(os, loader))
        return functions

    def the_ordinary_way():  # type: ignore[no-untyped-def]
        """Be the supervisor of a freshly spawned process, exactly as supervisor.py (it records any failure)."""
        own = supervisor_functions()
        own["leave"](own["run_command"](exit_file, command, folder, log, environment))

    # "run": the driver found the run fits (spare.py fits_prestarted: this interpreter, SCRIPT or -c CODE).
    if mode != "run" or _path_stamp(os, sys) != started_with:
        the_ordinary_way()
    # Entered here as supervisor.py's enter() does, but without writing an exit file: a folder or log that cannot
    # be opened is left to the ordinary way, which records it.
    try:
        os.chdir(folder)
        output = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError:
        the_ordinary_way()
    startup = b""
    try:  # what this interpreter printed while it started (spare.py keeps it): the log gets it first, as fresh
        os.lseek(1, 0, os.SEEK_SET)
        while chunk := os.read(1, 1 << 16):
            startup += chunk
    except OSError:
        pass
    nothing = os.open(os.devnull, os.O_RDONLY)
    for source, target in ((nothing, 0), (output, 1), (output, 2)):
        os.dup2(source, target)
    os.close(nothing)
    os.close(output)
    while startup:
        startup = startup[os.write(1, startup) :]
    for name in [name for name in os.environ if name not in environment]:
        del os.environ[name]
    os.environ.update(environment)
    code, script = compiled(command, folder)
    if code is None:
        the_ordinary_way()

    freeze_startup_objects(sys)
    child = os.fork()
    if child:  # the script's supervisor, as supervisor.py would be; nothing of it goes to the script's log
        nothing = os.open(os.devnull, os.O_RDWR)
        for target in (1, 2):
            os.dup2(nothing, target)
        os.close(nothing)
        own = supervisor_functions()
        own["shield"]()
        own["leave"](own["wait_and_record"](exit_file, child, prestarted=True))

    for name in added:  # the script finds sys.modules as a fresh interpreter leaves it
        del sys.modules[name]
    namespace = sys.modules["__main__"].__dict__
    namespace.clear()
    namespace.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None, __annotations__={})
    namespace["__builtins__"] = builtins
    if command[1] == "-c":
        namespace["__loader__"] = sys.modules["_frozen_importlib"].BuiltinImporter
        sys.argv = ["-c", *command[3:]]
        sys.path_importer_cache.pop("", None)  # '' is the run's folder now, not the one this process started in
    else:
        loader_object = sys.modules["_frozen_importlib_external"].SourceFileLoader("__main__", script)
        namespace.update(__loader__=loader_object, __file__=script, __cached__=None)
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
    _serve(LOADER)  # noqa: F821 (set by the -c line that runs this file, see spare.py)
