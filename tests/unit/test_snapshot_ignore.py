"""Which files go into a snapshot: .gitignore (nested), .amlignore precedence, built-ins and re-includes."""

from __future__ import annotations

from pathlib import Path

from snapshot_helpers import paths, write

from runconfig_jupyter.core.snapshot.create import build_manifest


def test_root_gitignore_applies_to_all_levels(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\nbuild/\n")
    for rel in ("train.py", "x.log", "sub/y.log", "sub/model.py", "build/out.bin", "sub/build/o.bin"):
        write(tmp_path, rel)
    manifest = build_manifest(tmp_path)
    assert paths(manifest) == {".gitignore", "train.py", "sub/model.py"}
    assert ("x.log", ".gitignore") in manifest.excluded
    assert ("sub/build/", ".gitignore") in manifest.excluded


def test_nested_gitignore_scoped_to_its_folder_and_can_reinclude(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "pkg/.gitignore", "data/\n!keep.log\n/local.txt\n")
    for rel in ("data/a.csv", "pkg/data/b.csv", "pkg/keep.log", "pkg/other.log", "pkg/local.txt", "local.txt"):
        write(tmp_path, rel)
    write(tmp_path, "pkg/deeper/local.txt")
    manifest = build_manifest(tmp_path)
    assert paths(manifest) == {
        ".gitignore",
        "pkg/.gitignore",
        "data/a.csv",  # the nested rule 'data/' does not reach the parent folder
        "pkg/keep.log",  # re-included by the nested file although the root file excludes *.log
        "local.txt",
        "pkg/deeper/local.txt",  # '/local.txt' is anchored to pkg/
    }
    assert ("pkg/data/", "pkg/.gitignore") in manifest.excluded
    assert manifest.ignore_files == [".gitignore", "pkg/.gitignore"]


def test_amlignore_takes_precedence_over_gitignore(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.txt\n")
    write(tmp_path, ".amlignore", "*.csv\n")
    for rel in ("a.txt", "b.csv", "sub/c.txt", "sub/d.csv"):
        write(tmp_path, rel)
    manifest = build_manifest(tmp_path)
    assert paths(manifest) == {".gitignore", ".amlignore", "a.txt", "sub/c.txt"}
    assert manifest.ignore_files == [".amlignore"]


def test_builtin_excludes(tmp_path: Path) -> None:
    for rel in (
        "train.py",
        ".git/HEAD",
        ".ipynb_checkpoints/nb-checkpoint.ipynb",
        "__pycache__/m.cpython-311.pyc",
        "pkg/__pycache__/n.pyc",
        "venv/bin/python",
        ".venv/lib/x.py",
        "env/bin/activate",  # env/ only with an environment marker: see test_env_folder_of_code_is_kept
        "env/lib/y.py",
        "myvenv/pyvenv.cfg",  # detected as a virtualenv by its marker, whatever its name
        "myvenv/lib/z.py",
        "conda/conda-meta/history",
        "conda/lib/w.py",
        ".env",
        ".env.local",
        ".env.example",
        ".azureml/config.json",
        "mod.pyc",
    ):
        write(tmp_path, rel)
    manifest = build_manifest(tmp_path)
    assert paths(manifest) == {"train.py", ".env.example", ".azureml/config.json"}
    excluded = dict(manifest.excluded)
    assert excluded["myvenv/"] == "built-in (pyvenv.cfg)" and excluded["conda/"] == "built-in (conda-meta)"
    assert excluded[".env"] == "built-in"


def test_user_can_reinclude_builtins_with_negation(tmp_path: Path) -> None:
    write(tmp_path, ".amlignore", "!.env\n!venv/\n!myenv/\n")
    for rel in ("train.py", ".env", "venv/lib/a.py", "myenv/pyvenv.cfg", "other/pyvenv.cfg", ".git/HEAD"):
        write(tmp_path, rel)
    manifest = build_manifest(tmp_path)
    assert paths(manifest) == {".amlignore", "train.py", ".env", "venv/lib/a.py", "myenv/pyvenv.cfg"}


def test_summary_mentions_rules_excludes_and_largest(tmp_path: Path) -> None:
    write(tmp_path, ".gitignore", "*.log\n")
    write(tmp_path, "train.py", "print(1)\n" * 100)
    write(tmp_path, "x.log")
    text = build_manifest(tmp_path).summary()
    assert "2 files" in text and "rules: .gitignore" in text
    assert "largest: train.py" in text and "excluded: x.log" in text


def test_env_folder_of_code_is_kept(tmp_path: Path) -> None:
    """``env/`` is often code (RL environments); without an environment marker it stays in."""
    write(tmp_path, "env/__init__.py")
    write(tmp_path, "env/gridworld.py")
    assert paths(build_manifest(tmp_path)) == {"env/__init__.py", "env/gridworld.py"}


def test_the_combined_pre_check_never_changes_a_decision() -> None:
    """``could_match`` only skips levels where no pattern matches; every decision must equal the spec's own.

    Rule sets with negations, anchored and folder-only rules, character classes, ``**`` and escapes, asked
    for files and folders at several depths, against the built-in rules too.
    """
    import itertools

    import pathspec

    from runconfig_jupyter.core.snapshot.ignore import BUILTIN_EXCLUDES, any_pattern_regex

    rule_sets = [
        list(BUILTIN_EXCLUDES),
        ["*.log", "!keep.log", "/build/", "data/**/raw", "[Tt]emp*", "\\#notes", "docs/*.md", "!docs/README.md"],
        ["**/secret?", "out/", "!out/keep/", "*.py[co]", "a/**/b", "", "# comment"],
        [],
    ]
    names = [
        "x.log",
        "keep.log",
        "build",
        "build/x.py",
        "src/build/y",
        "data/a/b/raw",
        "data/raw",
        "Temp1",
        "temp",
        "#notes",
        "docs/a.md",
        "docs/README.md",
        "docs/sub/a.md",
        "secret1",
        "deep/secretX",
        "out/keep/f",
        "out/f",
        "m.pyc",
        "a/b",
        "a/x/y/b",
        "plain.txt",
        ".git/config",
        "venv/bin/python",
        ".env",
        ".env.example",
        "__pycache__/m.pyc",
        "src/main.py",
    ]
    for rules in rule_sets:
        spec = pathspec.GitIgnoreSpec.from_lines(rules)
        quick = any_pattern_regex(spec)
        assert quick is not None
        for name, is_dir in itertools.product(names, (False, True)):
            path = name + "/" if is_dir else name
            if quick.match(path) is None:
                assert spec.check_file(path).include is None, (rules, path)
