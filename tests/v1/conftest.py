"""Fixtures for the v1 porting tests: a v1-style project folder, and the docker fixtures of
tests/integration/docker/conftest.py.

That folder has no ``__init__.py`` on purpose (a package named ``docker`` would shadow the SDK), so its
conftest is loaded by path and its fixtures are re-exported here rather than written twice.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location(
    "_docker_fixtures", Path(__file__).resolve().parents[1] / "integration" / "docker" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_docker = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_docker)

docker_client = _docker.docker_client
session_nonce = _docker.session_nonce
our_containers = _docker.our_containers
image_remover = _docker.image_remover


@pytest.fixture
def make_project(tmp_path):
    """``make_project({"train.py": SOURCE})``: a source directory holding the given v1-style scripts."""

    def make(files: dict[str, str], name: str = "project") -> Path:
        root = tmp_path / name
        root.mkdir()
        for relative, text in files.items():
            (root / relative).write_text(text)
        return root

    return make


@pytest.fixture
def v1_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder laid out like an Azure ML v1 sample: config.json, a training script, the notebook's cwd."""
    root = tmp_path / "v1project"
    (root / ".azureml").mkdir(parents=True)
    (root / ".azureml" / "config.json").write_text(
        '{"subscription_id": "00000000-0000-0000-0000-000000000000", "resource_group": "rg-ml", '
        '"workspace_name": "ml-workspace"}'
    )
    (root / "train.py").write_text(
        textwrap.dedent(
            """
            import argparse, os
            from runconfig_jupyter import Run

            parser = argparse.ArgumentParser()
            parser.add_argument("--alpha", type=float, default=0.5)
            args = parser.parse_args()
            run = Run.get_context()
            run.log("alpha", args.alpha)
            try:
                print("workspace home:", run.experiment.workspace.home)
            except RuntimeError as error:
                print("workspace unreachable:", error)
            run.log("mse", 1.0 - args.alpha / 2)
            run.tag("stage", "train")
            run.add_properties({"author": "script", "alpha": args.alpha})
            for i, child in enumerate(run.create_children(count=2)):
                child.log("fold_score", 0.5 + i / 10)
                child.tag("fold", i)
                child.complete()
            run.child_run("left-open").log("x", 1)
            os.makedirs("outputs", exist_ok=True)
            with open("outputs/model.pkl", "w") as out:
                out.write(f"alpha={args.alpha}")
            model = run.register_model("from-script", model_path="outputs/model.pkl", tags={"alpha": args.alpha})
            print("pending model:", model.name, model.id, model.version, model.tags, sep="|")
            run.register_model(model_name="from-script", model_path="outputs/missing.pkl")
            print("trained")
            """
        )
    )
    monkeypatch.chdir(root)
    return root
