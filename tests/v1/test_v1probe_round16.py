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


def test_experiment_tags_and_list_by_tag(v1_project):
    """A manage-experiments notebook ("List experiments with specific tag": ``experiment.set_tags({'dataset':
    'diabetes'}); experiment.tags; Experiment.list(ws, experiment_name=None, view_type='ActiveOnly',
    tags={'dataset': 'diabetes'})``) and the MLOps templates' ``experiment.set_tags({'model_name': ...,
    'best_model_version': ...})`` after registering a model: ``set_tags`` and ``tags`` were AttributeError
    (``tag`` raised NotSupportedLocally), and ``Experiment.list(tags=...)`` ignored the filter, listing every
    experiment. Tags are kept in the run home next to the experiment's runs, read back by another process, and
    filter ``Experiment.list`` like run tags."""
    import subprocess
    import sys

    from runconfig_jupyter.core import Experiment, Workspace

    ws = Workspace.from_config()
    experiment = Experiment(ws, "diabetes_exp")
    other = Experiment(ws, "other_exp")
    for exp in (experiment, other):
        exp.start_logging().complete()
    assert experiment.tags == {}
    experiment.set_tags({"dataset": "diabetes", "best_model_version": 3})
    experiment.tag("reviewed")
    assert experiment.tags == {"dataset": "diabetes", "best_model_version": "3", "reviewed": None}
    assert [e.name for e in Experiment.list(ws, experiment_name=None, view_type="ActiveOnly")] == [
        "diabetes_exp",
        "other_exp",
    ]
    assert Experiment.list(ws, tags={"dataset": "diabetes"}) == [experiment]
    assert Experiment.list(ws, tags=["reviewed"]) == [experiment]
    assert Experiment.list(ws, tags={"dataset": "cars"}) == []
    experiment.remove_tags(["reviewed"])
    read_elsewhere = subprocess.run(
        [
            sys.executable,
            "-c",
            "from runconfig_jupyter.core import Experiment, Workspace\n"
            "print(sorted(Experiment(Workspace.from_config(), 'diabetes_exp').tags.items()))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert read_elsewhere.strip() == "[('best_model_version', '3'), ('dataset', 'diabetes')]"
    assert experiment.refresh() is experiment
    with pytest.raises(ConfigError, match="tags"):
        experiment.set_tags(["dataset"])


def _serve_index(root: Path):
    """A PEP 503 simple index over http on localhost holding one hand-made wheel (``rcjfeed`` 1.0)."""
    import base64
    import hashlib
    import http.server
    import threading
    import zipfile
    from functools import partial

    files = {
        "rcjfeed/__init__.py": "VALUE = 'from the private feed'\n",
        "rcjfeed-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: rcjfeed\nVersion: 1.0\n",
        "rcjfeed-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(text.encode())}")
    files["rcjfeed-1.0.dist-info/RECORD"] = "\n".join([*record, "rcjfeed-1.0.dist-info/RECORD,,"]) + "\n"
    project = root / "simple" / "rcjfeed"
    project.mkdir(parents=True)
    wheel = "rcjfeed-1.0-py3-none-any.whl"
    with zipfile.ZipFile(project / wheel, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    (project / "index.html").write_text(f'<html><body><a href="{wheel}">{wheel}</a></body></html>')
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/simple"


def test_pip_index_options_reach_pip_on_the_local_target(v1_project, tmp_path):
    """v1 environments naming their package index: ``CondaDependencies.create(pip_packages=[...],
    pip_indexurl=feed)`` (and ``cd.set_pip_option('--extra-index-url ...')``, or a conda file's ``pip:``
    section starting with ``--index-url``). On the local target the options were dropped without a word: pip
    asked PyPI for the private package and the run failed in Preparing. They are passed to pip now; an option
    that would make pip read this machine's files (``--find-links``, ``-r``, a ``file:`` index) is refused at
    submit, naming it."""
    from runconfig_jupyter.core import Environment, Experiment, ScriptRunConfig, Workspace
    from runconfig_jupyter.core.conda_dependencies import CondaDependencies

    server, index = _serve_index(tmp_path / "feed")
    try:
        Path("use_feed.py").write_text(
            "import rcjfeed\nfrom runconfig_jupyter import Run\nRun.get_context().log('feed', rcjfeed.VALUE)\n"
        )
        env = Environment("feed-env")
        env.python.conda_dependencies = CondaDependencies.create(
            pip_packages=["rcjfeed==1.0"], pip_indexurl=index, pin_sdk_version=False
        )
        env.python.conda_dependencies.set_pip_option("--trusted-host 127.0.0.1")
        run = Experiment(Workspace.from_config(), "private-feed").submit(
            ScriptRunConfig(".", script="use_feed.py", environment=env)
        )
        run.wait_for_completion(raise_on_error=True)
        assert run.get_metrics()["feed"] == "from the private feed"
    finally:
        server.shutdown()
        server.server_close()
    for option in ("--find-links /etc", "-r /etc/passwd", "--index-url file:///etc", "--index-url 'unclosed"):
        bad = CondaDependencies.create(pip_packages=["rcjfeed"])
        bad.set_pip_option(option)
        env.python.conda_dependencies = bad
        with pytest.raises(ConfigError, match="pip_options") as refused:
            Experiment(Workspace.from_config(), "private-feed").submit(
                ScriptRunConfig(".", script="use_feed.py", environment=env)
            )
        assert option.split()[0] in str(refused.value)
