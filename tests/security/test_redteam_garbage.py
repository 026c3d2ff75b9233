"""What someone who can write into the run home could NOT make the garbage collector remove.

The collector deletes folders and files; an attacker (or an accident) that plants links or odd names in
``snapshots/`` or ``envs/`` must not turn it into a way to delete what lies elsewhere.
"""

from __future__ import annotations

import os

from runconfig_jupyter.core.runs.garbage import GcPolicy
from runconfig_jupyter.core.runs.gc import collect_garbage
from runconfig_jupyter.core.runs.store import RunStore

NOW = GcPolicy(grace_seconds=0)


def test_links_and_strange_names_in_the_home_are_never_followed_or_removed(tmp_path, run_home):
    RunStore()  # makes the home's folders
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("keep me")
    envs = run_home / "envs"
    envs.mkdir()
    os.symlink(victim, envs / ("a" * 16))  # named like a venv, a link to elsewhere
    os.symlink(victim, envs / ("conda-" + "b" * 16))
    os.symlink(victim / "precious.txt", run_home / "snapshots" / ("c" * 32 + ".tar"))  # named like a snapshot
    (envs / "notes").mkdir()  # not a name any target makes: not ours to judge
    (envs / "notes" / "mine.txt").write_text("mine")
    (run_home / "snapshots" / "readme.tar").write_text("not a snapshot id")
    real = envs / ("d" * 16)  # a real, unreferenced venv folder holding a link out
    real.mkdir()
    os.symlink(victim, real / "lib")

    report = collect_garbage(NOW, dry_run=False)

    assert {e.name for e in report.entries} == {"d" * 16}, report.summary()
    assert not real.exists()  # the folder went, the link inside it was removed as a link
    assert (victim / "precious.txt").read_text() == "keep me"
    assert (envs / ("a" * 16)).is_symlink() and (envs / ("conda-" + "b" * 16)).is_symlink()
    assert (run_home / "snapshots" / ("c" * 32 + ".tar")).is_symlink()
    assert (envs / "notes" / "mine.txt").exists() and (run_home / "snapshots" / "readme.tar").exists()
