# A v1 user notebook (train-on-local, using-environments, manage-runs call patterns), ported by imports only.
import os
import sys

import runconfig_jupyter.core
from runconfig_jupyter.core import Environment, Experiment, Run, ScriptRunConfig, Workspace
from runconfig_jupyter.core.authentication import InteractiveLoginAuthentication
from runconfig_jupyter.core.conda_dependencies import CondaDependencies
from runconfig_jupyter.core.runconfig import DockerConfiguration, RunConfiguration
from runconfig_jupyter.exceptions import NotSupportedLocally

TARGET = sys.argv[1]
print("SDK version:", runconfig_jupyter.core.VERSION)
ws = Workspace.from_config(path=".azureml/config.json", auth=InteractiveLoginAuthentication(tenant_id="t"))
print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep="\n")
print("details", sorted(ws.get_details())[:3])
exp = Experiment(workspace=ws, name="probe-" + TARGET)

run_local = RunConfiguration(framework="python")
run_local.environment.python.user_managed_dependencies = True
run_local.save(name="local", path=".")
run_local = RunConfiguration.load(name="local", path=".")
run_local.target = TARGET
src = ScriptRunConfig(source_directory=".", script="probe_train.py", run_config=run_local)
print(src)
run = exp.submit(config=src)
print(run)
run.wait_for_completion(show_output=True)
script_log = run.get_details_with_logs()["logFiles"]["logs/std_log.txt"]
print("script log has", "datasets: KeyError" in script_log and "details True Running" in script_log)

env = Environment("user-managed-env")
env.python.user_managed_dependencies = True
env.docker.enabled = TARGET == "docker"
env.register(workspace=ws)
print("clone", env.clone("copy-env").name, env.clone("copy-env").version)
print("registered", Environment.get(workspace=ws, name="user-managed-env").name, "in", list(Environment.list(ws)))
docker = DockerConfiguration(use_docker=TARGET == "docker")
for lr in (0.01, 0.5):
    cfg = ScriptRunConfig(
        source_directory=".",
        script="probe_train.py",
        arguments=["--lr", lr],
        compute_target=TARGET,
        environment=env,
        docker_runtime_config=docker,
    )
    exp.submit(cfg).wait_for_completion(show_output=False)

runs = list(Run.list(exp))
best_run = max(runs, key=lambda r: r.get_metrics()["lr"])
print("numbers", sorted(r.number for r in runs))
metrics = best_run.get_metrics()
print("best", metrics["lr"], "loss", metrics["loss"], "row", metrics["per epoch"], "table", metrics["curve"])
print("files", sorted(best_run.get_file_names()))
definition = best_run.get_details()["runDefinition"]
print("definition", definition["script"], definition["arguments"], definition["target"])
best_run.download_file(name="outputs/model.txt", output_file_path="best_model.txt")
with open("best_model.txt") as downloaded:
    print("downloaded", downloaded.read())
print("cleaned", best_run.clean())
print("registered model", best_run.register_model(model_name="probe-model", model_path="outputs/model.txt").name)
deps = CondaDependencies.create(python_version="3.10", pip_packages=["six"], pin_sdk_version=False)
deps.add_conda_package("numpy")
deps.save("probe_env.yml")
reloaded = CondaDependencies(conda_dependencies_file_path="probe_env.yml")
print("deps", reloaded.serialize_to_string().split(), reloaded.get_python_version())
os.remove("probe_env.yml")

from runconfig_jupyter.core import Dataset, Datastore  # noqa: E402

default_store = ws.get_default_datastore()
with open("probe.csv", "w") as table_file:
    table_file.write("a,b\n1,2\n3,4\n")
default_store.upload_files(["probe.csv"], target_path="probe", overwrite=True, show_progress=False)
os.remove("probe.csv")
table = Dataset.Tabular.from_delimited_files(path=(default_store, "probe/probe.csv")).register(ws, "probe-table")
rows = len(Dataset.get_by_name(ws, name="probe-table").to_pandas_dataframe())
print("dataset", table.name, table.version, rows, Dataset.File.from_files(path=(default_store, "probe/**")).to_path())
for call in (
    lambda: Dataset.Tabular.from_sql_query("select 1"),
    lambda: best_run.get_portal_url(),
    lambda: Environment.from_existing_conda_environment(name="e", conda_environment_name="base"),
    lambda: Environment.add_private_pip_wheel(ws, "dist/my.whl"),
):
    try:
        call()
    except NotSupportedLocally as error:
        print("not local:", str(error).split(" needs")[0])
os.remove("best_model.txt")
store = Datastore.get(ws, "workspaceblobstore")
print("datastore", store.name, store.datastore_type, ws.get_default_datastore().name)
