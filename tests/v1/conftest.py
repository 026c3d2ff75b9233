"""Fixtures for the v1-compatibility suites: a v1-style project folder and, for docker tests, a real engine."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
            run.register_model(model_name="from-script", model_path="outputs/model.pkl", tags={"alpha": args.alpha})
            run.register_model(model_name="from-script", model_path="outputs/missing.pkl")
            print("trained")
            """
        )
    )
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="session")
def docker_engine() -> None:
    """The real engine (scripts/ensure_docker.sh); the docker tests skip with its message when it cannot run."""
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "ensure_docker.sh")], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        pytest.skip(f"Docker engine cannot be started here: {result.stderr.strip() or result.stdout.strip()}")
