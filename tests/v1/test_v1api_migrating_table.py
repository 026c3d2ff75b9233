"""docs/MIGRATING.md's table of v1 classes and methods agrees with the code, and ported imports resolve.

Every row must name something that exists; a "not available" row must raise ``NotSupportedLocally`` (a
method when called, a property when read, a class when created) and no other row may; the counts line
must match the rows.
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

import runconfig_jupyter
from runconfig_jupyter.core.azure_only import is_azure_only
from runconfig_jupyter.core.errors import NotSupportedLocally

DOC = Path(__file__).resolve().parents[2] / "docs" / "MIGRATING.md"
ROW = re.compile(r"^\| `(?P<name>[^`]+)` \| (?P<status>same|differs|not available) \|")


def table_rows() -> list[tuple[str, str]]:
    """The rows of section 7 (every class and method); later sections have tables of their own."""
    text = DOC.read_text()
    section = text[text.index("## 7. Every class and method") : text.index("\nCounts:")]
    return [(m["name"], m["status"]) for m in map(ROW.match, section.splitlines()) if m]


def resolve(name: str) -> tuple[object, str | None]:
    """``Class.member`` / ``Class()`` / ``module.path.Class()`` -> (owner, member or None for the class itself)."""
    path = name.removesuffix("()").split(".")
    if path[0] in ("train", "pipeline"):
        module = importlib.import_module("runconfig_jupyter." + ".".join(path[:-1]))
        return getattr(module, path[-1]), None
    if path[0] in ("model", "webservice", "image"):  # runconfig_jupyter.core.<module>.<Class>[.<member>]
        owner = getattr(importlib.import_module(f"runconfig_jupyter.core.{path[0]}"), path[1])
        return owner, (path[2] if len(path) > 2 else None)
    if path[0] == "InteractiveLoginAuthentication":
        from runconfig_jupyter.core.authentication import InteractiveLoginAuthentication

        return InteractiveLoginAuthentication, None
    owner = getattr(runconfig_jupyter, path[0])
    return owner, (path[1] if len(path) > 1 else None)


@pytest.fixture
def instances(v1_project, tmp_path):
    """One real object of each class, for members that exist only on instances."""
    from runconfig_jupyter import ComputeTarget, Environment, Experiment, Model, Workspace

    ws = Workspace.from_config()
    exp = Experiment(ws, "table")
    run = exp.start_logging()
    run.complete()
    (tmp_path / "m.txt").write_text("m")
    return {
        "Workspace": ws,
        "Experiment": exp,
        "Run": run,
        "Model": Model.register(ws, str(tmp_path / "m.txt"), "table-model"),
        "Environment": Environment(name="table-env"),
        "ComputeTarget": ComputeTarget(ws, "local"),
    }


def test_every_row_exists_and_only_not_available_rows_raise(instances):
    rows = table_rows()
    assert len(rows) > 140
    for name, status in rows:
        owner, member = resolve(name)
        if member is None:  # the class itself
            if status == "not available":
                with pytest.raises(NotSupportedLocally):
                    owner()
            continue
        assert isinstance(owner, type), name
        present = hasattr(owner, member) or hasattr(instances.get(owner.__name__), member)
        assert present, f"{name} is in the table but not in the code"
        assert is_azure_only(owner, member) == (status == "not available"), f"{name}: status {status!r}"
        if status == "not available":
            attribute = next(k.__dict__[member] for k in owner.__mro__ if member in k.__dict__)
            function = attribute.fget if isinstance(attribute, property) else attribute.__func__
            with pytest.raises(NotSupportedLocally) as caught:
                function(None)
            assert caught.value.alternative, f"{name} names no alternative"


def test_counts_line_matches_the_rows():
    rows = table_rows()
    counts = {status: sum(1 for _, s in rows if s == status) for status in ("same", "differs", "not available")}
    line = f"Counts: {counts['same']} same, {counts['differs']} differs, {counts['not available']} not available."
    assert line in DOC.read_text(), f"update the counts line to: {line}"


PORTED = """
import runconfig_jupyter.core
from runconfig_jupyter.core import Workspace, Experiment, Run, ScriptRunConfig, Environment, Model
from runconfig_jupyter.core.compute import ComputeTarget, AmlCompute, ComputeInstance, RemoteCompute
from runconfig_jupyter.core.compute_target import ComputeTargetException
from runconfig_jupyter.core.runconfig import RunConfiguration, DockerConfiguration, MpiConfiguration
from runconfig_jupyter.core.conda_dependencies import CondaDependencies
from runconfig_jupyter.core.container_registry import ContainerRegistry, RegistryIdentity
from runconfig_jupyter.core.compute import HDInsightCompute, DatabricksCompute, AksCompute
from runconfig_jupyter.tensorboard.export import export_to_tensorboard
from runconfig_jupyter.contrib.tensorboard import Tensorboard
from runconfig_jupyter.contrib.tensorboard.export import export_to_tensorboard
from runconfig_jupyter.core.compute import DsvmCompute
from runconfig_jupyter.core.resource_configuration import ResourceConfiguration
from runconfig_jupyter.core.environment import Environment, CondaDependencies
from runconfig_jupyter.core.experiment import Experiment
from runconfig_jupyter.core.run import Run
from runconfig_jupyter.core.model import Model
from runconfig_jupyter.core.workspace import Workspace
from runconfig_jupyter.core.script_run_config import ScriptRunConfig, get_run_config_from_script_run
from runconfig_jupyter.core import Webservice, Keyvault
from runconfig_jupyter.core.keyvault import Keyvault
from runconfig_jupyter.core.authentication import InteractiveLoginAuthentication, ServicePrincipalAuthentication
from runconfig_jupyter.train.estimator import Estimator
from runconfig_jupyter.train.dnn import PyTorch, TensorFlow, Chainer, Mpi, Gloo, Nccl, ParameterServer
from runconfig_jupyter.train.hyperdrive import HyperDriveConfig, RandomParameterSampling, BanditPolicy, choice
from runconfig_jupyter.train.hyperdrive import PrimaryMetricGoal
from runconfig_jupyter.pipeline.core import Pipeline, PipelineData
from runconfig_jupyter.pipeline.steps import PythonScriptStep
from runconfig_jupyter.widgets import RunDetails
from runconfig_jupyter.exceptions import ComputeTargetException, ActivityFailedException
print(runconfig_jupyter.core.VERSION)
"""


def test_imports_ported_by_replacing_azureml_resolve():
    """The mechanical rule of section 1, in a fresh interpreter (no state from other tests)."""
    v1_lines = [line.replace("runconfig_jupyter", "azureml") for line in PORTED.strip().splitlines()]
    ported = "\n".join(line.replace("azureml", "runconfig_jupyter") for line in v1_lines)
    result = subprocess.run([sys.executable, "-c", ported], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == runconfig_jupyter.__version__
