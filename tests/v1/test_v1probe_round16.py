"""Call patterns of v1 how-to documentation snippets and samples (models, datastores, environments) that broke
when ported by imports only, each against the real local target."""

from __future__ import annotations

from pathlib import Path

import pytest

from runconfig_jupyter.core.errors import ConfigError


def test_model_list_filters_on_key_value_pairs(v1_project):
    """The many-models solution accelerator's forecasting script (and v1's ``Model.list`` reference: "filter based on
    the provided list, by either 'key' or '[key, value]'"): ``Model.list(ws, tags=[['Store', store_name], ['Brand',
    brand_name], ['ModelType', 'lr']], latest=True)`` returned [] (each pair was read as a tag *named*
    ``"['Store', '1000']"``), so the script found no model to forecast with. A pair matches the tag's value, a name
    alone its presence; ``Model(ws, name, tags=[[key, value]])`` filters the same way."""
    from runconfig_jupyter.core import Model, Workspace

    ws = Workspace.from_config()
    Path("model.pkl").write_text("lr")
    for store in ("1000", "1001"):
        Model.register(ws, "model.pkl", f"lr_{store}", tags={"Store": store, "Brand": "dominicks", "ModelType": "lr"})
    models = Model.list(ws, tags=[["Store", "1001"], ["Brand", "dominicks"], ["ModelType", "lr"]], latest=True)
    assert [m.name for m in models] == ["lr_1001"]
    assert sorted(m.name for m in Model.list(ws, tags=["Store", ["ModelType", "lr"]])) == ["lr_1000", "lr_1001"]
    assert Model.list(ws, tags=[["Store", "1002"]]) == []
    assert Model(ws, "lr_1000", tags=[["Brand", "dominicks"]]).version == 1
    with pytest.raises(ConfigError, match="tags"):
        Model.list(ws, tags=[["Store", "1000", "extra"]])


def test_model_register_child_paths_bundles_only_those_files(v1_project):
    """v1's ``Model.register(ws, model_path='outputs', model_name='sklearn-model', child_paths=['model.pkl',
    'scaler/params.json'])``: "only the specified files will be bundled into the Model". The argument was accepted
    and ignored: the whole folder (checkpoints, logs) was copied into the registry. Now only those paths are, at
    their place under the folder; a child path that is missing or leaves the folder is refused, naming it."""
    from runconfig_jupyter.core import Model, Workspace

    ws = Workspace.from_config()
    outputs = Path("outputs")
    (outputs / "scaler").mkdir(parents=True)
    (outputs / "model.pkl").write_text("model")
    (outputs / "scaler" / "params.json").write_text("{}")
    (outputs / "checkpoint-1.pt").write_text("big")
    children = ["model.pkl", "scaler/params.json"]
    model = Model.register(ws, model_path="outputs", model_name="sklearn-model", child_paths=children)
    root = Path(Model.get_model_path("sklearn-model", _workspace=ws))
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "model.pkl",
        "scaler/params.json",
    ]
    copied = Path(model.download(target_dir="downloaded", exist_ok=True))
    assert not (copied / "checkpoint-1.pt").exists() and (copied / "model.pkl").read_text() == "model"
    with pytest.raises(ConfigError, match=r"'missing\.pkl'"):
        Model.register(ws, model_path="outputs", model_name="sklearn-model", child_paths=["missing.pkl"])
    with pytest.raises(ConfigError, match="outside"):
        Model.register(ws, model_path="outputs", model_name="sklearn-model", child_paths=["../train.py"])
    with pytest.raises(ConfigError, match="folder"):
        Model.register(ws, model_path="outputs/model.pkl", model_name="sklearn-model", child_paths=["model.pkl"])
    assert [m.version for m in Model.list(ws, name="sklearn-model")] == [1]


FEED = "pkgs.dev.azure.com/contoso/_packaging/ml-feed/pypi/simple"
PAT = "patSECRETvalue0123456789"


def _files_holding(root: Path, text: str) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


@pytest.mark.usefixtures("docker_engine")
def test_private_feed_credentials_never_reach_records_logs_or_images(v1_project, tmp_path):
    """v1's "use private Python packages" how-to: ``cd.set_pip_option('--extra-index-url https://' + feed)`` with the
    feed's personal access token in the URL (``https://build:<PAT>@pkgs.dev.azure.com/...``, the usual form outside
    ``ws.set_connection``), in a docker environment. The submit went ahead: the token was written into the run's
    run.json, record.json, runs.db, prepare and driver logs, and into the Dockerfile's RUN line (so the image's
    ``docker history``). It is refused now at submit and at ``env.register`` (pip options, pip packages and conda
    channels alike), before anything is written, with a message that shows the URL without the token and says
    what to do instead; an attacker reading the run home finds no trace of it."""
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.conda_dependencies import CondaDependencies
    from runconfig_jupyter.core.runconfig import DockerConfiguration

    ws = Workspace.from_config()
    env = Environment(name="private-feed-env")
    env.docker.base_image = "runconfig-jupyter/python:bookworm"
    cd = CondaDependencies()
    cd.add_pip_package("contoso-ml-utils")
    cd.set_pip_option(f"--extra-index-url https://build:{PAT}@{FEED}")
    env.python.conda_dependencies = cd
    src = ScriptRunConfig(".", script="train.py", environment=env, docker_runtime_config=DockerConfiguration(True))
    with pytest.raises(ConfigError) as refused:
        Experiment(ws, "private-feed").submit(src)
    message = str(refused.value)
    assert PAT not in message and f"https://build:***@{FEED}" in message
    assert "base image" in message and "pip_options" in message
    with pytest.raises(ConfigError, match="never kept"):
        env.register(ws)

    for placed in (
        lambda c: c.add_pip_package(f"contoso-ml-utils @ git+https://{PAT}@github.com/contoso/utils.git"),
        lambda c: c.add_channel(f"https://user:{PAT}@conda.contoso.com/channel"),
    ):
        other = CondaDependencies()
        placed(other)
        env.python.conda_dependencies = other
        with pytest.raises(ConfigError, match="never kept") as refused:
            Experiment(ws, "private-feed").submit(ScriptRunConfig(".", script="train.py", environment=env))
        assert PAT not in str(refused.value)

    home = Path(ws.home)
    assert _files_holding(home, PAT) == []
    # an index URL without credentials (the feed reads pip's own configuration) and ssh's user stay accepted
    fine = CondaDependencies()
    fine.set_pip_option(f"--extra-index-url https://{FEED}")
    fine.add_pip_package("utils @ git+ssh://git@github.com/contoso/utils.git")
    env.python.conda_dependencies = fine
    assert env.register(ws).version == "1"
