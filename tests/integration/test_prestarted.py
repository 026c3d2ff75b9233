"""The script's interpreter started before its run (targets/processes/prestarted.py, spare.py, supervisor.py).

Real processes throughout: a real standby driver keeps a real spare, ``python -c ...prestarted.py``.
The tests check that a run the prediction fits IS a fork of that process (its parent is the spare, and
its auxiliary vector - new at every execve - is the spare's), that a script finds there exactly what it
finds in an interpreter started the ordinary way
(``python SCRIPT ARGS`` in the same folder, with the same environment: compared field by field, and
output and exit status compared for the ways a script ends), that a run the prediction does not fit
gets an ordinary interpreter, that the prestarted process never holds a variable the run would not
see, and that a package installed after it started is still found.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from runconfig_jupyter import Experiment, ScriptRunConfig
from runconfig_jupyter.core.runs.folder import SCRIPT_EXIT_FILE
from runconfig_jupyter.core.target.configured import register_target, unregister_target
from runconfig_jupyter.targets.processes.spare import PRESTARTED
from tests.integration.test_spare_supervisor import spare_of
from tests.integration.test_standby import ready_standby, served_by_standby, standbys_on  # noqa: F401 (fixture)

PROBE = textwrap.dedent(
    """
    import json, os, sys

    def describe():
        main = globals()
        return {
            "argv": sys.argv,
            "orig_argv": sys.orig_argv[1:],
            "path": sys.path,
            "cwd": os.getcwd(),
            "globals": sorted(main),
            "name": __name__,
            "file": main.get("__file__"),
            "cached": repr(main.get("__cached__", "absent")),
            "spec": repr(__spec__),
            "loader": type(__loader__).__name__ if not isinstance(__loader__, type) else __loader__.__name__,
            "loader_path": getattr(__loader__, "path", None),
            "modules": sorted(sys.modules),
            "environ": {k: v for k, v in os.environ.items() if k != "PROBE_FRESH"},
            "flags": list(sys.flags),
            "stdin_is_null": os.path.samestat(os.fstat(0), os.stat(os.devnull)),
            "stdout": [sys.stdout.encoding, sys.stdout.line_buffering, sys.stdout.write_through],
            "executable": sys.executable,
        }

    me = describe()
    with open("/proc/self/auxv", "rb") as own, open(f"/proc/{os.getppid()}/auxv", "rb") as parents:
        forked = own.read() == parents.read()  # no execve since the parent's: a fork of the prestarted spare
    if os.environ.get("PROBE_FRESH"):
        print(json.dumps(me))
        sys.exit(0)
    import subprocess
    fresh = subprocess.run(
        [sys.executable, *sys.orig_argv[1:]], env={**os.environ, "PROBE_FRESH": "1"},
        stdin=subprocess.DEVNULL, capture_output=True, text=True, check=True,
    )
    with open("/proc/self/environ", "rb") as own:
        started_with = sorted(e.split(b"=", 1)[0].decode() for e in own.read().split(b"\\0") if e)
    print("PROBE " + json.dumps({"parent": os.getppid(), "forked": forked, "prestarted": me,
                                 "fresh": json.loads(fresh.stdout), "started_with": started_with}), flush=True)
    """
)


def warm(project: Path, home: Path) -> int:
    """A first run (which starts the standby), then the PID of the waiting standby's spare (prestarted.py)."""
    Experiment("pre").submit(ScriptRunConfig(str(project), script="train.py")).wait_for_completion(timeout=60)
    spare = spare_of(ready_standby(home))
    assert "prestarted.py" in " ".join(psutil.Process(spare).cmdline())
    return spare


def script_exit(run) -> dict:
    """What the script's supervisor recorded: ``prestarted`` is set only for a script forked from the spare."""
    return json.loads((run.run_dir / SCRIPT_EXIT_FILE).read_text())


def probe_report(run) -> dict:
    line = next(line for line in run.get_log().splitlines() if line.startswith("PROBE "))
    return json.loads(line[len("PROBE ") :])


@pytest.mark.parametrize("form", ["script", "inline"])
def test_a_fitting_run_is_the_prestarted_interpreter_and_finds_what_a_fresh_one_finds(project, standbys_on, form):  # noqa: F811
    """``python probe.py ARGS`` and ``python -c CODE ARGS``: a fork of the process started before the submit,
    and every field a script can see (argv, sys.path, cwd, __main__'s names, loader, modules, environment,
    flags, stdin, stdout) equal to what the same command finds when started the ordinary way."""
    (project / "probe.py").write_text(PROBE)
    prestarted = warm(project, standbys_on)
    if form == "script":
        config = ScriptRunConfig(str(project), script="probe.py", arguments=["alpha", "--beta", 3])
    else:
        # A command is joined and split again, as Azure ML v1 did (core/runs/launch.py): quote the code.
        config = ScriptRunConfig(str(project), command=f"python -c {shlex.quote(PROBE)} alpha --beta")
    run = Experiment("pre").submit(config)
    run.wait_for_completion(timeout=60)
    assert served_by_standby(run)
    report = probe_report(run)
    assert report["parent"] == prestarted and report["forked"] is True
    assert script_exit(run)["prestarted"] is True and run.record.details["pid"] == prestarted
    assert report["prestarted"] == report["fresh"]
    described = report["prestarted"]
    assert described["environ"]["RUNCONFIG_RUN_ID"] == run.id and described["stdin_is_null"]
    if form == "script":
        assert described["argv"] == ["probe.py", "alpha", "--beta", "3"]
        assert described["file"] == str(run.run_dir / "working" / "probe.py")
    else:
        assert described["argv"] == ["-c", "alpha", "--beta"] and described["file"] is None
    # The process was started with a subset of the run's own environment: nothing the run does not see.
    assert set(report["started_with"]) <= set(described["environ"])


ENDINGS = {
    "compile-time warning": "x = 1\nif x is 1:\n    print('literal compared with is')\n",
    "uncaught exception": "def f():\n    raise ValueError('boom')\nprint('before', flush=True)\nf()\n",
    "chained exception": "try:\n    {}['k']\nexcept KeyError as e:\n    raise RuntimeError('again') from e\n",
    "keyboard interrupt": "import atexit\natexit.register(print, 'atexit ran')\nraise KeyboardInterrupt\n",
    "sys.exit": "import sys\nprint('bye')\nsys.exit(3)\n",
    "sys.exit with a message": "import sys\nsys.exit('a message')\n",
    "syntax error": "print('never'\n",
    "non-daemon thread": "import threading, time\n"
    "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()\nprint('main done')\n",
    "warning at module level": "import warnings\nwarnings.warn('careful', DeprecationWarning)\nprint('ok')\n",
    "multiprocessing (spawn, forkserver, pickled __main__ classes)": textwrap.dedent(
        """
        import multiprocessing, pickle
        class Box:
            def __init__(self, value):
                self.value = value
        def double(box):
            return box.value * 2
        if __name__ == "__main__":
            for method in ("spawn", "forkserver", "fork"):
                with multiprocessing.get_context(method).Pool(1) as pool:
                    print(method, pool.map(double, [Box(1), Box(2)]), flush=True)
            print("pickled", pickle.loads(pickle.dumps(Box(5))).value)
        """
    ),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_script_ends_in_the_prestarted_interpreter_as_in_a_fresh_one(project, standbys_on, ending):  # noqa: F811
    """The run's log and exit code against ``python ending.py`` started the ordinary way in the same folder."""
    (project / "ending.py").write_text(ENDINGS[ending])
    prestarted = warm(project, standbys_on)
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="ending.py"))
    details = run.wait_for_completion(timeout=60, raise_on_error=False)
    assert run.record.details["pid"] == prestarted  # the spare supervised it ...
    assert ("prestarted" in script_exit(run)) is (ending != "syntax error")  # ... as its fork, or Python's own
    working = run.run_dir / "working"  # removed at the end of the run: made again for the fresh interpreter
    assert not working.exists()
    working.mkdir()
    try:
        shutil.copy(project / "ending.py", working / "ending.py")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
        env["PYTHONUNBUFFERED"] = "1"
        fresh = subprocess.run(
            [sys.executable, "ending.py"], cwd=working, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
        )  # fmt: skip
    finally:
        shutil.rmtree(working)
    assert run.get_log() == fresh.stdout
    assert details.get("exitCode") == fresh.returncode
    if ending == "keyboard interrupt":
        assert fresh.returncode == -signal.SIGINT and "atexit ran" in fresh.stdout


def test_a_run_with_its_own_variables_gets_an_ordinary_interpreter(project, standbys_on):  # noqa: F811
    """The prediction does not fit (a variable the prestarted process was not started with): the spare spawns a
    fresh interpreter for the script and supervises it."""
    (project / "own.py").write_text("import os\nprint('pid', os.getpid(), os.environ['OWN_SETTING'])\n")
    prestarted = warm(project, standbys_on)
    config = ScriptRunConfig(str(project), script="own.py")
    config.run_config.environment_variables = {"OWN_SETTING": "mine"}
    run = Experiment("pre").submit(config)
    run.wait_for_completion(timeout=60)
    assert served_by_standby(run)
    assert run.get_log().split()[2] == "mine"
    assert run.record.details["pid"] == prestarted and "prestarted" not in script_exit(run)


def test_the_prestarted_interpreter_never_holds_a_secret_the_run_would_not_see(project, standbys_on, monkeypatch):  # noqa: F811
    """The standby's own environment holds a cloud secret (it is the kernel's); the safe default keeps it from
    runs, so the interpreter started for them must not have it either, not even in /proc/PID/environ."""
    secret = "rcj-prestart-secret-value-1234"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    prestarted = warm(project, standbys_on)
    assert secret.encode() not in Path(f"/proc/{prestarted}/environ").read_bytes()
    (project / "look.py").write_text(
        "import os\nprint('env' if 'AWS_SECRET_ACCESS_KEY' in os.environ else 'clean')\n"
        "print('proc', open('/proc/self/environ', 'rb').read().count(b'AWS_SECRET_ACCESS_KEY'))\n"
    )
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="look.py"))
    run.wait_for_completion(timeout=60)
    log = run.get_log()
    assert script_exit(run)["prestarted"] is True
    assert "clean" in log and "proc 0" in log and secret not in log


def test_a_package_installed_after_the_interpreter_started_is_found(project, standbys_on, monkeypatch, tmp_path):  # noqa: F811
    """``pip install --user`` (here: a user site with a .pth file) after the standby started: a fresh interpreter
    would process the new .pth, so the spare starts one rather than run the script in itself and miss it."""
    monkeypatch.setenv("PYTHONUSERBASE", str(tmp_path / "userbase"))
    monkeypatch.delenv("PYTHONNOUSERSITE", raising=False)
    prestarted = warm(project, standbys_on)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    user_site = tmp_path / "userbase" / "lib" / version / "site-packages"
    user_site.mkdir(parents=True)
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "latecomer_module.py").write_text("GREETING = 'installed late'\n")
    (user_site / "latecomer.pth").write_text(f"{extra}\n")
    (project / "late.py").write_text("import latecomer_module\nprint(latecomer_module.GREETING)\n")
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="late.py"))
    run.wait_for_completion(timeout=60)
    assert "installed late" in run.get_log()
    assert run.record.details["pid"] == prestarted and "prestarted" not in script_exit(run)


def test_a_target_with_prestart_off_starts_every_interpreter_after_the_submit(project, standbys_on):  # noqa: F811
    """``prestart: false`` on a local target: even a fitting run gets a process spawned for it."""
    register_target("no-prestart", type="local", prestart=False)
    try:
        (project / "who.py").write_text("print('ran')\n")
        prestarted = warm(project, standbys_on)
        run = Experiment("pre").submit(ScriptRunConfig(str(project), script="who.py", compute_target="no-prestart"))
        run.wait_for_completion(timeout=60)
        assert served_by_standby(run) and run.get_log() == "ran\n"
        assert run.record.details["pid"] == prestarted and "prestarted" not in script_exit(run)
    finally:
        unregister_target("no-prestart")


def run_prestarted_spare(fields: list[str] | None, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """The spare as spare.py starts it, given ``fields`` (the NUL-separated run) or an empty pipe."""
    start = f"LOADER = {str(PRESTARTED)!r}; exec(open(LOADER, 'rb').read())"
    data = b"" if fields is None else b"\0".join(os.fsencode(field) for field in fields)
    spare = [sys.executable, "-c", start, "awaiting a run"]
    return subprocess.run(
        spare, input=data, capture_output=True, timeout=30, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}
    )


def test_a_prestarted_spare_whose_pipe_closes_empty_starts_nothing(tmp_path):
    result = run_prestarted_spare(None, tmp_path)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("mode", ["run", "spawn"])
def test_a_prestarted_spare_given_a_missing_folder_records_why_and_runs_nothing(tmp_path, mode):
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')"
    exit_file, log = tmp_path / "exit.json", tmp_path / "log.txt"
    fields = [mode, str(exit_file), str(tmp_path / "gone"), str(log), "3", sys.executable, "-c", code, "PATH=/bin"]
    run_prestarted_spare(fields, tmp_path)
    record = json.loads(exit_file.read_text())
    assert record["exit_code"] == 127 and "could not start" in record["error"]
    assert not marker.exists() and not log.exists()


def test_what_the_interpreter_printed_as_it_started_is_in_the_log_first(project, standbys_on, monkeypatch):  # noqa: F811
    """``PYTHONPROFILEIMPORTTIME`` makes an interpreter print while it starts: a fresh one writes that into the
    run's log before the script's output, so the prestarted one does too; its supervisor writes nothing there."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")
    warm(project, standbys_on)
    (project / "hello.py").write_text("print('hello')\n")
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="hello.py"))
    run.wait_for_completion(timeout=60)
    assert script_exit(run)["prestarted"] is True
    lines = run.get_log().splitlines()
    assert lines[-1] == "hello"
    assert any(line.startswith("import time:") and line.endswith("| site") for line in lines[:-1])


def test_the_scripts_startup_objects_are_frozen_and_its_own_are_collected(project, standbys_on):  # noqa: F811
    """The spare freezes what it made while starting right before the fork (its exit then copies no shared page
    for the collector); whatever the script makes is collected as usual, and ``gc`` is no module it finds loaded."""
    (project / "gc_probe.py").write_text(
        textwrap.dedent(
            """
            import sys
            loaded = "gc" in sys.modules
            import gc, json

            class Node:
                pass

            def cycle():
                a, b = Node(), Node()
                a.other, b.other = b, a

            gc.collect()
            for _ in range(100):
                cycle()
            print("GC " + json.dumps({"loaded": loaded, "frozen": gc.get_freeze_count(), "collected": gc.collect()}))
            """
        )
    )
    warm(project, standbys_on)
    run = Experiment("pre").submit(ScriptRunConfig(str(project), script="gc_probe.py"))
    run.wait_for_completion(timeout=60)
    assert served_by_standby(run) and script_exit(run)["prestarted"] is True
    line = next(line for line in run.get_log().splitlines() if line.startswith("GC "))
    seen = json.loads(line[3:])
    assert seen["loaded"] is False
    assert seen["frozen"] > 1000  # the interpreter's start-up: thousands of objects
    assert seen["collected"] >= 200  # 100 cycles of two instances (and their __dict__s)
