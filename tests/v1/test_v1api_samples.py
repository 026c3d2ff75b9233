"""Flows of Microsoft's public v1 samples (manage-runs, train-within-notebook), written anew from their
documented calls, ported by the import rule only, and run as a plain Python process against the local target.

scikit-learn is not installed here, so the model is fitted by hand; every azureml call keeps its v1 form.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

from runconfig_jupyter.core.runs.store import RunStore

MANAGE_RUNS = """
import runconfig_jupyter.core
from runconfig_jupyter.core import Workspace, Experiment, Run
from runconfig_jupyter.core import ScriptRunConfig

print(runconfig_jupyter.core.VERSION)
ws = Workspace.from_config()
exp = Experiment(workspace=ws, name="explore-runs")

notebook_run = exp.start_logging()
notebook_run.log(name="message", value="Hello from run!")
print("status1", notebook_run.get_status())
notebook_run.get_details()
notebook_run.complete()
print("status2", notebook_run.get_status())

with exp.start_logging() as notebook_run:
    notebook_run.log(name="message", value="Hello from run!")
print("status3", notebook_run.get_status())

run_config = ScriptRunConfig(source_directory=".", script="hello.py")
local_script_run = exp.submit(run_config)
local_script_run.get_details_with_logs()
local_script_run.wait_for_completion(show_output=True)
print("status4", local_script_run.get_status())

local_script_run.add_properties({"author": "azureml-user"})
try:
    local_script_run.add_properties({"author": "different-user"})
except Exception as e:
    print("refused:", type(e).__name__)
local_script_run.tag("quality", "great run")
local_script_run.tag("quality", "fantastic run")
local_script_run.tag("worth another look")
print("found1", len(list(exp.get_runs(properties={"author": "azureml-user"}, tags={"quality": "fantastic run"}))))
print("found2", len(list(exp.get_runs(properties={"author": "azureml-user"}, tags="worth another look"))))

run_config = ScriptRunConfig(source_directory=".", script="hello_with_children.py")
local_script_run = exp.submit(run_config)
local_script_run.wait_for_completion(show_output=True)
print("children1", len(list(local_script_run.get_children())))

with exp.start_logging() as parent_run:
    for c, count in enumerate(range(5)):
        with parent_run.child_run() as child:
            child.log(name="Hello from child run", value=c)
print("children2", len(list(parent_run.get_children())))

run_config = ScriptRunConfig(source_directory=".", script="hello_with_delay.py")
local_script_run = exp.submit(run_config)
print("Did the run start?", local_script_run.get_status())
local_script_run.cancel()
local_script_run.wait_for_completion(raise_on_error=False)
print("canceled", local_script_run.get_status())

local_script_run = exp.submit(run_config)
local_script_run.fail()
local_script_run.wait_for_completion(raise_on_error=False)
print("failed", local_script_run.get_status())
print("snapshot", local_script_run.restore_snapshot(path="snapshots"))
"""

TRAIN_WITHIN_NOTEBOOK = """
import os, pickle
import runconfig_jupyter.core
from runconfig_jupyter.core import Experiment, Workspace

ws = Workspace.from_config()
print('Workspace name: ' + ws.name, 'Azure region: ' + ws.location, 'Subscription id: ' + ws.subscription_id,
      'Resource group: ' + ws.resource_group, sep='\\n')

xs = [i / 10 for i in range(40)]
ys = [2 * x + 1 for x in xs]

def fit(alpha):
    n = len(xs); mx = sum(xs) / n; my = sum(ys) / n
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / (sum((x - mx) ** 2 for x in xs) + alpha)
    mse = sum((slope * (x - mx) + my - y) ** 2 for x, y in zip(xs, ys)) / n
    return slope, mse

experiment = Experiment(workspace=ws, name="train-within-notebook")
run = experiment.start_logging()
run.log('alpha', 0.03)
model, mse = fit(0.03)
run.log('mse', mse)
os.makedirs('outputs', exist_ok=True)
with open('outputs/model.pkl', 'wb') as f:
    pickle.dump(model, f)
run.take_snapshot('./')
run.complete()

for alpha in [0.0, 0.5, 1.0, 5.0]:
    with experiment.start_logging() as run:
        model, mse = fit(alpha)
        run.log(name="alpha", value=alpha)
        run.log(name="mse", value=mse)
        with open('outputs/model.pkl', 'wb') as f:
            pickle.dump(model, f)
        run.take_snapshot('./')

runs, run_metrics = {}, {}
for r in experiment.get_runs():
    metrics = r.get_metrics()
    if 'mse' in metrics.keys():
        runs[r.id] = r
        run_metrics[r.id] = metrics
best_run_id = min(run_metrics, key=lambda k: run_metrics[k]['mse'])
best_run = runs[best_run_id]
print('best alpha', run_metrics[best_run_id]['alpha'])
best_run.tag("Best Run")
for f in best_run.get_file_names():
    print('file', f)
model = best_run.register_model(model_name='best_model', model_path='outputs/model.pkl')

from runconfig_jupyter.core.model import Model
for m in Model.list(ws, name='best_model'):
    print('model', m.name, m.version)

from runconfig_jupyter.core.conda_dependencies import CondaDependencies
from runconfig_jupyter.core.image import ContainerImage
env = CondaDependencies()
env.add_conda_package("scikit-learn")
print(env.serialize_to_string())
try:
    ContainerImage.image_configuration(execution_script="score.py", runtime="python", conda_file="myenv.yml")
except Exception as error:
    print("deploy:", type(error).__name__, error)
"""


def _run_ported(folder: Path, code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=folder, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def test_manage_runs_sample(v1_project):
    (v1_project / "hello.py").write_text(
        "from runconfig_jupyter.core import Run\nrun = Run.get_context()\nrun.log('message', 'Hello!')\n"
    )
    (v1_project / "hello_with_children.py").write_text(
        textwrap.dedent("""
        from runconfig_jupyter.core import Run
        run = Run.get_context()
        for i, child in enumerate(run.create_children(count=5)):
            child.log("number", i)
            child.complete()
        """)
    )
    (v1_project / "hello_with_delay.py").write_text("import time\ntime.sleep(60)\n")
    out = _run_ported(v1_project, MANAGE_RUNS)
    for line in ("status1 Running", "status2 Completed", "status3 Completed", "status4 Completed"):
        assert line in out
    assert "refused: AssetConflict" in out and "found1 1" in out and "found2 1" in out
    assert "children1 5" in out and "children2 5" in out
    assert "canceled Canceled" in out and "failed Failed" in out
    zip_path = v1_project / out.split("snapshot ")[-1].strip()
    with zipfile.ZipFile(zip_path) as snapshot:
        assert "hello_with_delay.py" in snapshot.namelist()
    runs = RunStore().list(experiment="explore-runs", limit=100)
    assert all(r.is_terminal for r in runs)


def test_train_within_notebook_sample(v1_project):
    out = _run_ported(v1_project, TRAIN_WITHIN_NOTEBOOK)
    assert "Workspace name: ml-workspace" in out and "Azure region: local" in out
    assert "best alpha 0.0" in out and "file outputs/model.pkl" in out
    assert "model best_model 1" in out and "scikit-learn" in out
    assert "deploy: NotSupportedLocally" in out
    runs = RunStore().list(experiment="train-within-notebook")
    assert len(runs) == 5 and all(r.status.value == "Completed" and r.snapshot_id for r in runs)
