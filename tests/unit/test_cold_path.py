"""What a fresh process imports on the cold path stays small (structural guards, no timing assertions).

A user's ``python submit.py`` and a run's fresh driver are new interpreters: every module they import is
paid on every run (benchmarks/bench_script.py, bench_local.py). These tests read the modules actually
imported, in fresh subprocesses, so a new eager import shows up here rather than as a slower figure.

Also the remembered target-type scan (core/target/plugins.py) that keeps ``importlib.metadata`` out of
fresh processes: it must be used when valid and never hide an installed or changed plug-in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runconfig_jupyter.core.target import plugins

ROOT = Path(__file__).resolve().parents[2]

# `from runconfig_jupyter import ScriptRunConfig`: the configuration and what it validates with, nothing else
# of this package (no run store, targets, snapshot writer, widgets or server).
CONFIG_MODULES = {
    "runconfig_jupyter",
    "runconfig_jupyter.core",
    "runconfig_jupyter.core.azure_only",
    "runconfig_jupyter.core.config",
    "runconfig_jupyter.core.config.amlcompute",
    "runconfig_jupyter.core.config.distributed_config",
    "runconfig_jupyter.core.config.environment",
    "runconfig_jupyter.core.config.input_checks",
    "runconfig_jupyter.core.config.runconfig",
    "runconfig_jupyter.core.config.scriptrunconfig",
    "runconfig_jupyter.core.config.serialization",
    "runconfig_jupyter.core.errors",
    "runconfig_jupyter.core.runs",
    "runconfig_jupyter.core.runs.folder",
    "runconfig_jupyter.core.runs.launch",
    "runconfig_jupyter.core.safety",
    "runconfig_jupyter.core.safety.bounded",
    "runconfig_jupyter.core.safety.confine",
    "runconfig_jupyter.core.safety.jupyter_runtime",
    "runconfig_jupyter.core.safety.secret_env",
    "runconfig_jupyter.core.safety.secret_names",
    "runconfig_jupyter.core.snapshot",
    "runconfig_jupyter.core.snapshot.member_names",
    "runconfig_jupyter.core.system",
    "runconfig_jupyter.core.system.atomic",
    "runconfig_jupyter.core.system.digest",
    "runconfig_jupyter.core.system.paths",
    "runconfig_jupyter.core.system.records",
    "runconfig_jupyter.core.system.remembered",
}
# `from runconfig_jupyter import Experiment, ScriptRunConfig` (a submit script's first line, a notebook's first
# cell): the configuration and the run handle over the store. Drivers, targets, the snapshot writer, settling,
# log reading and the environment registry are imported by the first call that needs them.
RUN_API_MODULES = CONFIG_MODULES | {
    "runconfig_jupyter.core.registries",
    "runconfig_jupyter.core.registries.home",
    "runconfig_jupyter.core.runs.artifacts",
    "runconfig_jupyter.core.runs.history",
    "runconfig_jupyter.core.runs.index_rows",
    "runconfig_jupyter.core.runs.names",
    "runconfig_jupyter.core.runs.run_history",
    "runconfig_jupyter.core.runs.script_run",
    "runconfig_jupyter.core.runs.status",
    "runconfig_jupyter.core.runs.store",
    "runconfig_jupyter.core.system.proc",
    "runconfig_jupyter.core.system.watch",
}
# Not imported by that line (each is a later phase's, or never a local run's).
NOT_ON_IMPORT = (
    *("yaml", "psutil", "docker", "IPython", "tornado", "ipywidgets", "jupyter_server", "jupyter_core"),
    *("pathspec", "blake3", "tarfile", "ctypes", "subprocess", "asyncio", "importlib.metadata", "difflib"),
    *("secrets", "hmac"),  # run ids are os.urandom's hex (core/runs/names.py)
    "runconfig_jupyter.core.runs.reindex",  # a rebuild of the index, not every store user
    "runconfig_jupyter.core.registries.home_workspace",  # a workspace known by its home: registries only
    "runconfig_jupyter.targets",
    "runconfig_jupyter.core.target",  # resolved by submit
    "runconfig_jupyter.core.snapshot.create",  # packaged by submit
    "runconfig_jupyter.core.snapshot.archive",
    "runconfig_jupyter.core.runs.submit",
    "runconfig_jupyter.core.runs.settle",  # a wait or a cancel settles
    "runconfig_jupyter.core.runs.drivers",
    "runconfig_jupyter.core.runs.standby",
    "runconfig_jupyter.core.runs.log_cursor",  # logs are read when asked for
    "runconfig_jupyter.core.registries.environments",  # Environment.get / register / list
    "runconfig_jupyter.core.data",  # a configuration holding a data object (core/config/scriptrunconfig.py)
    "runconfig_jupyter.widgets",
    "runconfig_jupyter.server",
    "runconfig_jupyter.magics",
)
# All modules (standard library included) that line may add to a bare interpreter's: 69 on Python 3.11.
IMPORT_BUDGET = 70
# All modules a whole local submit + wait may add to a bare interpreter's, in the submitting process, from a
# project no ignore rule matches (118 on Python 3.11; 127 before the data plan, the index rebuild, jupyter_core
# and secrets left this path; 160 before pathspec and tarfile did).
SUBMIT_BUDGET = 120
# Not in that submitting process: ignore rules are asked through their remembered pre-filter first
# (core/snapshot/prefilters.py), and only a run extracts a snapshot.
NOT_ON_A_CLEAN_SUBMIT = (
    *("pathspec", "tarfile", "runconfig_jupyter.core.snapshot.extract"),
    # Its classes are records (core/system/records.py): dataclasses compiles each class's methods and brings
    # inspect, ast, dis and tokenize, ~13 ms of a fresh script together.
    *("dataclasses", "inspect", "ast", "dis", "tokenize"),
    "jupyter_core",  # its runtime folder is remembered too (core/safety/jupyter_runtime.py)
    "runconfig_jupyter.core.data.plan",  # a run that names no data (core/data/mentions.py)
    "runconfig_jupyter.core.runs.reindex",
    "runconfig_jupyter.core.safety.place",  # no places registered
    "runconfig_jupyter.core.target.setting_help",  # help is listed, not read by a submit
    "runconfig_jupyter.targets.conda_request",  # a run asking for conda packages
)
# Never on a single-process local run's path, in the submitting process or in its fresh driver.
NOT_ON_THE_LOCAL_PATH = (
    "asyncio",  # conda prefixes only (targets/conda_prefix.py)
    "importlib.metadata",  # the target-type scan is remembered (core/target/plugins.py)
    "psutil",
    "yaml",  # only when a targets.yaml exists
    "docker",
    "IPython",
    "runconfig_jupyter.targets.processes.mpi_launch",  # MPI runs only
    "runconfig_jupyter.targets.processes.rank_group",  # distributed runs only
    "runconfig_jupyter.core.runs.rank_layout",  # the same (core/runs/distributed.py answers "not distributed")
    "runconfig_jupyter.core.runs.context",  # the script's own Run.get_context(), not the driver's
    "runconfig_jupyter.widgets",
    "runconfig_jupyter.server",
)


def _fresh(code: str, env: dict[str, str], cwd: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *options, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _environment(run_home: Path, **extra: str) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "RUNCONFIG_JUPYTER_HOME": str(run_home), "RUNCONFIG_STANDBY_SECONDS": "0", **extra}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), path) if p)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def _package_modules(names: list[str]) -> set[str]:
    return {name for name in names if name == "runconfig_jupyter" or name.startswith("runconfig_jupyter.")}


def _on_the_path(names: set[str]) -> list[str]:
    return sorted(name for name in names for banned in NOT_ON_THE_LOCAL_PATH if _is_or_under(name, banned))


def test_importing_the_configuration_imports_only_the_configuration(run_home, tmp_path):
    code = "import sys; from runconfig_jupyter import ScriptRunConfig; print('\\n'.join(sys.modules))"
    result = _fresh(code, _environment(run_home), tmp_path)
    assert result.returncode == 0, result.stderr
    imported = _package_modules(result.stdout.split())
    assert "runconfig_jupyter.core.config.scriptrunconfig" in imported  # the check below reads real output
    assert sorted(imported - CONFIG_MODULES) == []
    assert _on_the_path(set(result.stdout.split())) == []


def test_importing_the_package_alone_imports_nothing_else_of_it(run_home, tmp_path):
    result = _fresh("import sys, runconfig_jupyter; print('\\n'.join(sys.modules))", _environment(run_home), tmp_path)
    assert result.returncode == 0, result.stderr
    assert _package_modules(result.stdout.split()) == {"runconfig_jupyter"}


def test_importing_the_run_api_stays_within_its_modules_and_budget(run_home, tmp_path):
    """What a user's ``python submit.py`` pays before its first call, counted against a bare interpreter's
    own start-up (what ``site`` and ``.pth`` files import is not ours)."""
    code = (
        "import sys; before = set(sys.modules)\n"
        "from runconfig_jupyter import Experiment, ScriptRunConfig\n"
        "print('\\n'.join(sorted(set(sys.modules) - before)))\n"
    )
    result = _fresh(code, _environment(run_home), tmp_path)
    assert result.returncode == 0, result.stderr
    added = result.stdout.split()
    assert "runconfig_jupyter.core.runs.script_run" in added  # the checks below read real output
    assert sorted(_package_modules(added) - RUN_API_MODULES) == []
    assert sorted(name for name in added for banned in NOT_ON_IMPORT if _is_or_under(name, banned)) == []
    assert len(added) <= IMPORT_BUDGET, sorted(added)


def test_the_in_script_run_import_brings_no_configuration_data_layer_or_target(run_home, tmp_path):
    """``from runconfig_jupyter import Run`` is every logging script's first line (``Run.get_context()``): the
    run handle over the store, not the configuration classes, the data layer or the target layer."""
    code = "import sys; from runconfig_jupyter import Run; print('\\n'.join(sys.modules))"
    result = _fresh(code, _environment(run_home), tmp_path)
    assert result.returncode == 0, result.stderr
    imported = _package_modules(result.stdout.split())
    assert "runconfig_jupyter.core.runs.script_run" in imported
    assert sorted(imported - RUN_API_MODULES) == []
    later = ("runconfig_jupyter.core.config", "runconfig_jupyter.core.data", "runconfig_jupyter.core.target")
    assert sorted(name for name in imported for banned in later if _is_or_under(name, banned)) == []


def test_a_v1_notebooks_first_import_moves_no_bytes_and_reads_no_yaml(run_home, tmp_path):
    """A ported notebook's ``from azureml.core import Workspace, Experiment, Datastore, Dataset, ...``: the data
    transfer layer (fsspec and its asyncio, ~50 ms) comes with the first upload or download, not the import."""
    code = (
        "import sys; from runconfig_jupyter import Workspace, Experiment, Datastore, Dataset, ScriptRunConfig, "
        "Environment; print('\\n'.join(sys.modules))"
    )
    result = _fresh(code, _environment(run_home), tmp_path)
    assert result.returncode == 0, result.stderr
    imported = result.stdout.split()
    assert "runconfig_jupyter.core.data.datastore" in imported
    later = ("fsspec", "asyncio", "runconfig_jupyter.core.data.transfer", "yaml", "psutil", "docker", "pathspec")
    assert sorted(name for name in imported for banned in later if _is_or_under(name, banned)) == []


def _is_or_under(name: str, banned: str) -> bool:
    return name == banned or name.startswith(banned + ".")


def test_a_local_run_from_a_fresh_script_and_its_fresh_driver_stay_off_the_heavy_imports(run_home, tmp_path):
    """The submitting script lists its modules; the driver's come from ``-X importtime`` in its own log."""
    source = tmp_path / "project"
    source.mkdir()
    (source / "train.py").write_text("print('trained')\n")
    submit = (
        "import sys\n"
        "from runconfig_jupyter import Experiment, ScriptRunConfig\n"
        f"run = Experiment('cold').submit(ScriptRunConfig({str(source)!r}, script='train.py'))\n"
        "run.wait_for_completion()\n"
        "print(run.id)\n"
        "print('\\n'.join(sys.modules))\n"
    )
    env = _environment(run_home)
    first = _fresh(submit, env, tmp_path)  # the first process on this machine scans the entry points
    assert first.returncode == 0, first.stderr
    second = _fresh(submit, {**env, "PYTHONPROFILEIMPORTTIME": "1"}, tmp_path)
    assert second.returncode == 0, second.stderr
    run_id, *submitter = second.stdout.split()
    assert "runconfig_jupyter.core.runs.submit" in submitter
    assert _on_the_path(set(submitter)) == []
    clean = sorted(name for name in submitter for banned in NOT_ON_A_CLEAN_SUBMIT if _is_or_under(name, banned))
    assert clean == [], "the first submit remembered the pre-filters and the runtime folder; this one needs neither"
    bare = _fresh("import sys; print('\\n'.join(sys.modules))", env, tmp_path)
    added = set(submitter) - set(bare.stdout.split())
    # Fingerprints, manifest ids and cache names are hashed by the interpreter's own SHA-256 (core/system/digest.py)
    assert "hashlib" not in added and "_hashlib" not in added
    assert len(added) <= SUBMIT_BUDGET, sorted(added)
    driver_log = (run_home / "runs" / run_id / "logs" / "driver_log.txt").read_text()
    order = [line.split("|")[-1].strip() for line in driver_log.splitlines() if line.startswith("import time:")]
    driver = set(order)
    assert {"runconfig_jupyter.core.runs.driver", "runconfig_jupyter.core.snapshot.stream"} <= driver  # a real record
    # A plain run is started from its recorded launch (run.json): the driver never builds its configuration.
    assert sorted(name for name in driver if _is_or_under(name, "runconfig_jupyter.core.config")) == []
    assert _on_the_path(driver) == []
    # The target's warm-up (the spare and the script's prestarted interpreter) starts before the driver's
    # heavy imports (core/runs/driver_entry.py): the spare module is loaded before the store and the data plan.
    spare = order.index("runconfig_jupyter.targets.processes.spare")
    snapshot_reader = "runconfig_jupyter.core.snapshot.stream"
    for later in ("sqlite3", "runconfig_jupyter.core.data.plan", "runconfig_jupyter.core.runs.driver", snapshot_reader):
        assert spare < order.index(later), later
    assert "tarfile" not in driver  # a stored snapshot is materialized without tar headers (core/snapshot/stream.py)
    assert (run_home / "runs" / run_id / "logs" / "std_log.txt").read_text().strip().endswith("trained")


def _remembered(run_home: Path) -> dict[str, list[list[str]]]:
    return json.loads((run_home / plugins.REMEMBERED_FILE).read_text())


def test_the_scan_is_remembered_for_the_next_process(run_home):
    assert plugins.TargetTypes().get("local").__name__ == "LocalTarget"
    remembered = _remembered(run_home)
    assert list(remembered) == [plugins.search_path_state()]
    assert ["local", "runconfig_jupyter.targets.local.target:LocalTarget"] in remembered[plugins.search_path_state()]
    types = plugins.TargetTypes()
    assert all(isinstance(point, plugins.RememberedPoint) for point in types.entry_points().values())
    assert types.get("docker").__name__ == "DockerTarget"


def test_a_remembered_entry_point_that_no_longer_loads_is_scanned_for_again(run_home):
    plugins.TargetTypes().names()
    state = plugins.search_path_state()
    stale = {state: [["local", "no_such_module_rcj.gone:LocalTarget"]]}
    (run_home / plugins.REMEMBERED_FILE).write_text(json.dumps(stale))
    types = plugins.TargetTypes()
    assert types.get("local").__name__ == "LocalTarget", "the installed entry point decides"
    assert "docker" in types.names(), "the re-scan replaced the stale list"
    assert ["local", "runconfig_jupyter.targets.local.target:LocalTarget"] in _remembered(run_home)[state]


def test_a_distribution_installed_since_is_found_without_a_rescan_request(run_home, tmp_path, monkeypatch):
    plugins.TargetTypes().names()
    site = tmp_path / "site"
    info = site / "rcj_extra-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rcj-extra\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[runconfig_jupyter.targets]\nextra-local = runconfig_jupyter.targets.local.target:LocalTarget\n"
    )
    monkeypatch.syspath_prepend(str(site))
    types = plugins.TargetTypes()
    assert "extra-local" in types.entry_points(), "a new folder with metadata on sys.path is a new state"
    assert types.get("extra-local").__name__ == "LocalTarget"
    assert len(_remembered(run_home)) == 2


def test_folders_without_distribution_metadata_do_not_change_the_state(tmp_path, monkeypatch):
    before = plugins.search_path_state()
    plain = tmp_path / "scripts"
    plain.mkdir()
    monkeypatch.syspath_prepend(str(plain))
    (plain / "train.py").write_text("print(1)\n")
    assert plugins.search_path_state() == before
    (plain / "pkg-1.0.dist-info").mkdir()
    assert plugins.search_path_state() != before


def test_an_unwritable_home_only_costs_the_scan(run_home):
    (run_home / "cache").write_text("not a folder")  # the cache folder cannot be made
    assert plugins.TargetTypes().get("local").__name__ == "LocalTarget"


@pytest.mark.parametrize(
    "value", ["runconfig_jupyter.targets.local.target:LocalTarget [extra]", "json:decoder.JSONDecoder"]
)
def test_a_remembered_point_loads_as_an_entry_point_does(value):
    from importlib.metadata import EntryPoint

    assert plugins.RememberedPoint("x", value).load() is EntryPoint("x", value, plugins.GROUP).load()


def test_every_lazy_name_is_listed_by_dir_and_declared_for_type_checkers():
    """The lazy names stay discoverable: ``dir()`` lists them, and the ``TYPE_CHECKING`` block an IDE reads
    imports each from the module the name really comes from."""
    import ast
    import importlib

    import runconfig_jupyter

    lazy = set(runconfig_jupyter.__all__) - {"load_ipython_extension"}
    assert lazy <= set(dir(runconfig_jupyter))
    tree = ast.parse(Path(runconfig_jupyter.__file__).read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    declared = {
        alias.name: str(statement.module)
        for statement in guarded.body
        if isinstance(statement, ast.ImportFrom)
        for alias in statement.names
    }
    assert set(declared) == lazy
    for name, module in declared.items():
        assert getattr(importlib.import_module(module), name) is getattr(runconfig_jupyter, name), name


def test_inherited_variables_match_the_patterns_exactly_as_fnmatch_does():
    """The patterns are matched as one compiled expression; the result is the per-pattern ``fnmatchcase`` one."""
    import fnmatch

    from runconfig_jupyter.core.safety.inherit_env import BASE, inherited

    environ = {
        name: "x"
        for name in ("PATH", "LC_ALL", "LCX", "PYTHONPATH", "XPYTHON", "CUDA_HOME", "cuda_home", "DATA_DIR", "DATA")
    }
    environ.update({"WANDB_PROJECT": "p", "WANDB": "q", "HOME2": "h", "RUNCONFIG_RUN_ID": "r", "[x]": "y"})
    extra = ["DATA_DIR", "WANDB_*", "[[]x]"]
    expected = {
        k
        for k in environ
        if any(fnmatch.fnmatchcase(k, p) for p in BASE) or any(fnmatch.fnmatchcase(k, p) for p in extra)
    }
    assert set(inherited(environ, extra)) == expected
    assert {"PATH", "LC_ALL", "PYTHONPATH", "CUDA_HOME", "DATA_DIR", "WANDB_PROJECT", "[x]"} <= expected
    assert not {"LCX", "XPYTHON", "cuda_home", "DATA", "WANDB", "HOME2"} & expected
    assert set(inherited(environ, "none")) == {k for k in environ if any(fnmatch.fnmatchcase(k, p) for p in BASE)}


def test_the_docker_target_imports_no_rank_machinery_until_a_distributed_run(run_home, tmp_path):
    """A submit loads the docker target to validate: not the rank machinery, nor the driver's half (the container's
    layout and command, its log, its data mounts, the data plan, tarfile), which its warm-up loads ahead instead."""
    driver_half = [
        "runconfig_jupyter.targets.docker.container",
        "runconfig_jupyter.targets.docker.logs",
        "runconfig_jupyter.targets.docker.data",
        "runconfig_jupyter.core.data.plan",
        "tarfile",
    ]
    code = (
        "import sys, runconfig_jupyter.targets.docker.target as target\n"
        "print(' '.join(sys.modules))\n"
        "target.DockerTarget.warm_up()\n"
        "print(' '.join(sys.modules))\n"
    )
    result = _fresh(code, _environment(run_home), tmp_path, "-S")  # -S: what a .pth imports is not the target's
    assert result.returncode == 0, result.stderr
    imported, warmed = (set(line.split()) for line in result.stdout.splitlines())
    assert "runconfig_jupyter.targets.docker.target" in imported
    assert _on_the_path(imported) == []
    assert "runconfig_jupyter.targets.docker.ranks" not in warmed
    assert sorted(imported & set(driver_half)) == []
    assert sorted(set(driver_half) - warmed) == []


def test_remembering_the_scan_never_creates_a_missing_run_home(tmp_path, monkeypatch):
    """A standby still starting when its home is removed must not bring the home back."""
    gone = tmp_path / "removed-home"
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(gone))
    assert plugins.TargetTypes().get("local").__name__ == "LocalTarget"
    assert not gone.exists()


# Not imported by a fresh driver before it hands a plain local run to its spare (the script's prestarted
# interpreter): each is a failure's, another snapshot format's, another digest's or a submit's module.
NOT_BEFORE_THE_SCRIPT = (
    "runconfig_jupyter.core.config",  # the run's recorded launch is enough (core/target/interface.py recorded_launch)
    "runconfig_jupyter.targets.local.env",  # interpreters that need building (venv, conda prefix)
    "runconfig_jupyter.targets.conda_prefix",
    "runconfig_jupyter.core.data",  # a recorded launch has no data: the plan is read when the run ends
    "runconfig_jupyter.core.runs.logsink",  # made with the first log line the driver itself writes
    "runconfig_jupyter.core.runs.reindex",  # the store's folder scanner: only to rebuild the index
    "runconfig_jupyter.core.runs.distributed",  # a recorded launch is one process (core/runs/script_env.py)
    "tarfile",  # a stored snapshot is materialized from its manifest (core/snapshot/stream.py)
    "dataclasses",  # the classes on the way are records (core/system/records.py); it brings inspect, ast, dis
    "hashlib",  # OpenSSL: the BLAKE3 snapshot store and the config classes need none of it
    "secrets",  # loads hashlib through hmac; named temp objects are a snapshot writer's
    "traceback",  # with textwrap: only when something failed (core/runs/driver.py)
    "runconfig_jupyter.core.safety.confine",  # the confinement checks run at submit (validation)
    "runconfig_jupyter.core.runs.history",  # indexed as the run ends
    "runconfig_jupyter.core.runs.interactive",
    "runconfig_jupyter.targets.collect",
)


def test_a_fresh_driver_hands_a_local_run_to_its_spare_before_the_modules_it_needs_later(run_home, tmp_path):
    """The modules loaded when a fresh driver writes the run to its spare, in a fresh process running the driver's
    own entry (core/runs/driver_entry.py) on a run submitted by another fresh process (whose driver is not started,
    so this one is the run's only driver). The spare's hand-over is wrapped to list ``sys.modules`` at that moment.
    """
    source = tmp_path / "project"
    source.mkdir()
    (source / "train.py").write_text("print('handed over')\n")
    env = _environment(run_home)
    submit = (
        "import os, types\n"
        "from runconfig_jupyter import Experiment, ScriptRunConfig\n"
        "from runconfig_jupyter.core.runs import drivers\n"
        "drivers.spawn_detached = lambda *args, **kwargs: types.SimpleNamespace(pid=os.getpid())  # no driver\n"
        f"print(Experiment('handover').submit(ScriptRunConfig({str(source)!r}, script='train.py')).id)\n"
    )
    submitted = _fresh(submit, env, tmp_path)
    assert submitted.returncode == 0, submitted.stderr
    run_id = submitted.stdout.split()[-1]
    drive = (
        "import sys\n"
        "from runconfig_jupyter.targets.processes import spare\n"
        "handover, seen = spare.start_supervised, []\n"
        "def listing(*args, **kwargs):\n"
        "    seen.extend(sys.modules)\n"
        "    return handover(*args, **kwargs)\n"
        "spare.start_supervised = listing  # before the local target's module binds the name\n"
        "from runconfig_jupyter.core.runs import driver_entry\n"
        f"print(driver_entry.main([{run_id!r}, 'local']))\n"
        "print('\\n'.join(seen))\n"
    )
    driven = _fresh(drive, env, tmp_path)
    assert driven.returncode == 0, driven.stderr
    code, *loaded = driven.stdout.split()
    assert code == "0"
    assert "runconfig_jupyter.core.snapshot.stream" in loaded  # the list is the real one: the snapshot was placed
    assert sorted(name for name in loaded for banned in NOT_BEFORE_THE_SCRIPT if _is_or_under(name, banned)) == []
    assert _on_the_path(set(loaded)) == []
    assert (run_home / "runs" / run_id / "logs" / "std_log.txt").read_text().strip().endswith("handed over")


def test_the_local_targets_warm_up_starts_its_spare_before_the_drivers_imports(run_home, tmp_path):
    """What a fresh driver runs first (core/runs/driver_entry.py): the spare is started by then, and nothing of
    the driver module, the run store or the data plan has been imported for it."""
    modules = _modules_once_the_spare_started(
        "from runconfig_jupyter.core.target.plugins import target_class\ntarget_class('local').warm_up()\n",
        run_home,
        tmp_path,
    )
    heavy = {"runconfig_jupyter.core.runs.driver", "sqlite3", "runconfig_jupyter.core.data.plan", "tarfile"}
    heavy.add("runconfig_jupyter.core.runs.distributed")  # the prediction needs only core/runs/script_env.py
    assert heavy.isdisjoint(modules), sorted(heavy & set(modules))


def test_the_local_head_start_starts_the_spare_before_the_plug_in_loader_and_the_target_interface(run_home, tmp_path):
    """A fresh driver runs the head start the submitter names before anything else (core/runs/driver_entry.py):
    the local target's spare is started with neither the plug-in loader nor the target interface (and its
    dataclasses) imported, nor pathlib, tempfile or json (~25 ms of imports here), so the script's interpreter
    start overlaps those imports too."""
    from runconfig_jupyter.targets.local.target import LocalTarget

    modules = _modules_once_the_spare_started(
        "from runconfig_jupyter.core.runs.driver_entry import run_head_start\n"
        f"run_head_start({LocalTarget.head_start!r})\n",
        run_home,
        tmp_path,
        "-S",  # as a fresh driver starts once its site is remembered (core/system/site_free.py); a .pth may import more
    )
    later = {
        "runconfig_jupyter.core.target.plugins",
        "runconfig_jupyter.core.target.interface",
        "runconfig_jupyter.targets.local.target",
        "dataclasses",
        "inspect",
        "runconfig_jupyter.core.runs.driver",
        "sqlite3",
        # Nor what the spare itself, the secret-name rule and the site record do not need to start it:
        "pathlib",
        "tempfile",
        "json",
        "runconfig_jupyter.core.safety.secret_env",
        "runconfig_jupyter.core.system.site_free",
    }
    assert later.isdisjoint(modules), sorted(later & set(modules))


def test_a_head_start_that_cannot_be_found_costs_only_the_head_start(run_home, tmp_path):
    """A wrong or missing head start never stops a driver: warm_up and the run go on as without one."""
    from runconfig_jupyter.core.runs.driver_entry import run_head_start

    run_head_start("runconfig_jupyter.no_such_module:start")
    run_head_start("runconfig_jupyter.targets.local.head_start:no_such_function")
    run_head_start("not even a name")


def _modules_once_the_spare_started(start: str, run_home: Path, tmp_path: Path, *options: str) -> list[str]:
    """Run ``start`` in a fresh interpreter (started with ``options``); check it started the local target's spare,
    and return the modules imported by then."""
    code = (
        f"import sys\n{start}"
        "from runconfig_jupyter.targets.processes import spare\n"
        "print(spare.spare_pid() is not None)\n"
        "print('\\n'.join(sys.modules))\n"
        "spare.discard_spare()\n"
    )
    result = _fresh(code, _environment(run_home), tmp_path, *options)
    assert result.returncode == 0, result.stderr
    started, *modules = result.stdout.split()
    assert started == "True"
    return modules
