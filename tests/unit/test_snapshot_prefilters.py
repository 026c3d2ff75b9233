"""Remembered pre-filters of ignore rules (core/snapshot/prefilters.py): pathspec is imported only when a path
could match a rule, and no remembered entry can make a walk package what the rules exclude."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from snapshot_helpers import paths, write

from runconfig_jupyter.core.snapshot import ignore, prefilters
from runconfig_jupyter.core.snapshot.create import build_manifest

ROOT = Path(__file__).resolve().parents[2]
WALK = (
    "import sys; from runconfig_jupyter.core.snapshot.create import build_manifest\n"
    "m = build_manifest(sys.argv[1])\n"
    "print(sorted(f.path for f in m.files)); print('pathspec' in sys.modules)\n"
)


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Each test starts as a new process would: nothing remembered in memory."""
    prefilters._loaded = None
    ignore.prefilter.cache_clear()
    yield
    prefilters._loaded = None
    ignore.prefilter.cache_clear()


def _walk_in_a_fresh_process(folder: Path, run_home: Path) -> tuple[list[str], bool]:
    env = {**os.environ, "RUNCONFIG_JUPYTER_HOME": str(run_home)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", WALK, str(folder)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    files, imported = result.stdout.splitlines()
    return json.loads(files.replace("'", '"')), imported == "True"


def _builtin_key() -> str:
    return prefilters.rule_set_key(ignore.BUILTIN_EXCLUDES)


def test_a_walk_that_matches_no_rule_imports_no_pathspec_once_remembered(tmp_path, run_home):
    write(tmp_path / "clean", "train.py")
    write(tmp_path / "clean", "pkg/model.py")
    assert _walk_in_a_fresh_process(tmp_path / "clean", run_home) == (["pkg/model.py", "train.py"], True)
    remembered = json.loads((run_home / prefilters.REMEMBERED_FILE).read_text())
    assert remembered["state"] == prefilters.current_state(ignore.__file__) != ""
    assert _builtin_key() in remembered["sets"]
    assert _walk_in_a_fresh_process(tmp_path / "clean", run_home) == (["pkg/model.py", "train.py"], False)


def test_a_fresh_process_with_remembered_filters_still_applies_every_rule(tmp_path, run_home):
    """The pre-filter only says which paths need the rules; the rules (pathspec) still decide those."""
    write(tmp_path / "warm", "a.py")
    _walk_in_a_fresh_process(tmp_path / "warm", run_home)  # remembers the built-ins' pre-filter
    project = tmp_path / "project"
    for rel in ("train.py", ".env", ".env.example", "__pycache__/m.pyc", "data/x.log", "data/keep.log", "id_rsa"):
        write(project, rel)
    write(project, ".gitignore", "*.log\n!keep.log\n")
    files, imported = _walk_in_a_fresh_process(project, run_home)
    assert files == [".env.example", ".gitignore", "data/keep.log", "train.py"]
    assert imported


@pytest.mark.parametrize("case", ["not json", "another pathspec", "wrong shape"])
def test_a_damaged_or_foreign_file_is_replaced_and_changes_no_decision(tmp_path, run_home, case):
    """Entries remembered for another pathspec (installed or upgraded since) are never used: here one that
    would let no path through to the rules, so .env would be packaged if it were."""
    contents = {
        "not json": "not json",
        "another pathspec": json.dumps({"state": "another pathspec:1:1|", "sets": {_builtin_key(): "(?!)"}}),
        "wrong shape": json.dumps({"state": None, "sets": []}),
    }
    cache = run_home / prefilters.REMEMBERED_FILE
    cache.parent.mkdir()
    cache.write_text(contents[case])
    for rel in ("train.py", ".env", "__pycache__/m.pyc"):
        write(tmp_path / "src", rel)
    assert paths(build_manifest(tmp_path / "src")) == {"train.py"}
    rewritten = json.loads(cache.read_text())
    assert rewritten["state"] == prefilters.current_state(ignore.__file__)
    assert rewritten["sets"][_builtin_key()] == ignore.any_pattern_source(ignore.compile_spec(ignore.BUILTIN_EXCLUDES))


def test_a_remembered_filter_that_does_not_compile_leaves_every_path_to_the_rules(tmp_path, run_home):
    cache = run_home / prefilters.REMEMBERED_FILE
    cache.parent.mkdir()
    state = prefilters.current_state(ignore.__file__)
    cache.write_text(json.dumps({"state": state, "sets": {_builtin_key(): "(unclosed"}}))
    for rel in ("train.py", ".env", ".git/config"):
        write(tmp_path / "src", rel)
    manifest = build_manifest(tmp_path / "src")
    assert paths(manifest) == {"train.py"}
    assert (".env", "built-in") in manifest.excluded


def test_remembering_never_creates_a_missing_run_home(tmp_path, monkeypatch):
    gone = tmp_path / "removed-home"
    monkeypatch.setenv("RUNCONFIG_JUPYTER_HOME", str(gone))
    write(tmp_path / "src", "train.py")
    assert paths(build_manifest(tmp_path / "src")) == {"train.py"}
    assert not gone.exists()


def test_an_unwritable_cache_only_costs_the_import(tmp_path, run_home):
    (run_home / "cache").write_text("not a folder")
    for rel in ("train.py", ".env"):
        write(tmp_path / "src", rel)
    assert paths(build_manifest(tmp_path / "src")) == {"train.py"}


def test_threads_packaging_at_once_leave_a_whole_file_with_every_rule_set(run_home):
    """A server packages submits in threads: the remembered file is never torn nor missing a set."""
    import threading

    rule_sets = [(f"*.tmp{n}", f"build{n}/") for n in range(24)]
    threads = [threading.Thread(target=ignore.prefilter, args=(lines,)) for lines in rule_sets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    remembered = json.loads((run_home / prefilters.REMEMBERED_FILE).read_text())
    assert {prefilters.rule_set_key(lines) for lines in rule_sets} <= set(remembered["sets"])
    quick = ignore.prefilter(rule_sets[3])
    assert quick is not None and quick.match("build3/") and not quick.match("build4/")
