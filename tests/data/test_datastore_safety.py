"""What a datastore can NOT be made to do: store a secret, write where it is read-only, reach outside its
place, hang on a dead store, or let an object name write outside a download folder.

Servers are the real Azurite and moto (tests/data_servers.py); every refusal is checked for its typed error,
the field it names, and for having left nothing behind.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
import yaml

from runconfig_jupyter import Datastore, Workspace
from runconfig_jupyter.core.data.stores import register_datastore
from runconfig_jupyter.core.errors import (
    ConfigError,
    DataError,
    DataPathMissing,
    DatastoreReadOnly,
    DatastoreUnreachable,
)
from runconfig_jupyter.core.safety.confine import Confinement
from tests.data.conftest import SECRETS, files_containing, make_store
from tests.data_servers import AZURITE_KEY, S3_SECRET, free_port


def _registered(run_home: Path) -> dict:
    file = run_home / "datastores.yaml"
    return yaml.safe_load(file.read_text())["datastores"] if file.exists() else {}


# -- credentials ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["azure_blob", "s3"])
def test_credentials_are_named_never_written(kind, request, tmp_path, run_home, credentials, capsys):
    store = make_store(kind, request, tmp_path)
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("data")
    store.datastore.upload(str(tmp_path / "src"), target_path="t")
    store.datastore.download(str(tmp_path / "dl"), prefix="t/")
    entry = _registered(run_home)["data"]
    names = set(entry["settings"].values())
    assert {"azure_blob": "TEST_AZURITE_KEY", "s3": "TEST_S3_SECRET"}[kind] in names
    assert files_containing(run_home, SECRETS) == []  # datastores.yaml, places.yaml, caches: no secret value
    captured = capsys.readouterr()
    assert not any(secret in captured.out + captured.err for secret in SECRETS)


def test_a_secret_value_is_refused_unless_an_environment_variable_holds_it(
    request, tmp_path, run_home, azurite, monkeypatch
):
    from tests.data_servers import new_container

    container = new_container(azurite)
    ws = Workspace()
    with pytest.raises(ConfigError, match="account_key_env") as caught:
        Datastore.register_azure_blob_container(
            ws, "blob", container, "devstoreaccount1", account_key=AZURITE_KEY, endpoint=azurite.endpoint
        )
    assert caught.value.field == "datastores.blob"
    assert _registered(run_home) == {} and files_containing(run_home, SECRETS) == []
    # v1 notebooks pass os.environ[...]: the value is then recorded by the name of the variable that holds it
    monkeypatch.setenv("MY_BLOB_KEY", AZURITE_KEY)
    ds = Datastore.register_azure_blob_container(
        ws, "blob", container, "devstoreaccount1", account_key=AZURITE_KEY, endpoint=azurite.endpoint
    )
    assert _registered(run_home)["blob"]["settings"]["account_key_env"] == "MY_BLOB_KEY"
    assert ds.open()[1] == container and files_containing(run_home, SECRETS) == []


@pytest.mark.parametrize(
    ("kind", "settings", "field"),
    [
        ("azure_blob", {"container_name": "c", "account_key": "k"}, "datastores.x.account_key"),
        ("s3", {"bucket": "b", "aws_secret_access_key": "k"}, "datastores.x.aws_secret_access_key"),
        (
            "fsspec",
            {"url": "memory://x", "storage_options": {"password": "p"}},
            "datastores.x.storage_options.password",
        ),
        ("s3", {"bucket": "b", "key_env": "not a variable name"}, "datastores.x.key_env"),
        ("s3", {"bucket": "b", "color": "red"}, "datastores.x.color"),
        ("local", {}, "datastores.x.path"),
    ],
)
def test_registry_refuses_secrets_unknown_and_missing_settings(kind, settings, field, run_home):
    with pytest.raises(ConfigError) as caught:
        register_datastore("x", kind, **settings)
    assert caught.value.field == field
    assert _registered(run_home) == {}


def test_unset_credential_variable_is_named(request, tmp_path, credentials, monkeypatch):
    store = make_store("s3", request, tmp_path)
    monkeypatch.delenv("TEST_S3_SECRET")
    with pytest.raises(DatastoreUnreachable, match=r"\$TEST_S3_SECRET") as caught:
        store.datastore.download(str(tmp_path / "dl"))
    assert caught.value.field == "datastores.data"


# -- read-only ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["local", "azure_blob", "s3", "fsspec"])
def test_read_only_datastore_refuses_writes_before_contacting_the_store(kind, request, tmp_path, credentials):
    store = make_store(kind, request, tmp_path, read_only=True)
    assert store.datastore.read_only
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f.txt").write_text("data")
    before = len(store.server.settled_requests()) if store.server else 0
    for write in (
        lambda: store.datastore.upload(str(tmp_path / "src")),
        lambda: store.datastore.upload_files([str(tmp_path / "src" / "f.txt")]),
    ):
        with pytest.raises(DatastoreReadOnly) as caught:
            write()
        assert caught.value.field == "datastores.data"
    if store.server is not None:
        assert len(store.server.settled_requests()) == before  # refused before any request reached the server
    assert store.files() == {}
    store.put("r.txt", b"readable")
    assert store.datastore.download(str(tmp_path / "dl")) == 1  # reading stays allowed


# -- unreachable and missing ----------------------------------------------------------------------------------
def test_unreachable_store_is_a_typed_error_naming_the_datastore_quickly(tmp_path, run_home, credentials):
    dead = f"http://127.0.0.1:{free_port()}"
    ws = Workspace()
    started = time.monotonic()
    with pytest.raises(DatastoreUnreachable) as caught:
        Datastore.register_s3(
            ws, "gone", "bucket", endpoint_url=dead, key_env="TEST_S3_KEY", secret_env="TEST_S3_SECRET"
        )
    assert caught.value.field == "datastores.gone" and "gone" in str(caught.value)
    assert _registered(run_home) == {}  # a store that fails validation is never registered
    blob = Datastore.register_azure_blob_container(
        ws,
        "blob",
        "cont",
        "devstoreaccount1",
        endpoint=dead + "/devstoreaccount1",
        account_key_env="TEST_AZURITE_KEY",
        skip_validation=True,
    )
    for call in (lambda: blob.download(str(tmp_path / "dl")), lambda: blob.upload(str(tmp_path))):
        with pytest.raises(DatastoreUnreachable) as caught:
            call()
        assert caught.value.field == "datastores.blob" and "does not answer" in str(caught.value)
    assert time.monotonic() - started < 30


def test_server_that_dies_after_registration(tmp_path, run_home, credentials):
    """A store that was there at registration and is gone at use (the SDKs would retry for minutes)."""
    from tests.data_servers import new_container, start_moto, stop

    server = start_moto(tmp_path)
    try:
        bucket = new_container(server)
        ds = Datastore.register_s3(
            Workspace(), "s3", bucket, endpoint_url=server.endpoint, key_env="TEST_S3_KEY", secret_env="TEST_S3_SECRET"
        )
    finally:
        stop(server.process)
    with pytest.raises(DatastoreUnreachable) as caught:
        ds.download(str(tmp_path / "dl"))
    assert caught.value.field == "datastores.s3"


@pytest.mark.parametrize("kind", ["azure_blob", "s3"])
def test_missing_container_or_bucket_is_data_path_missing(kind, request, tmp_path, run_home, credentials):
    server = request.getfixturevalue({"azure_blob": "azurite", "s3": "moto_s3"}[kind])
    ws = Workspace()
    with pytest.raises(DataPathMissing) as caught:
        if kind == "s3":
            Datastore.register_s3(
                ws,
                "m",
                "no-such-bucket",
                endpoint_url=server.endpoint,
                key_env="TEST_S3_KEY",
                secret_env="TEST_S3_SECRET",
            )
        else:
            Datastore.register_azure_blob_container(
                ws,
                "m",
                "no-such-container",
                "devstoreaccount1",
                endpoint=server.endpoint,
                account_key_env="TEST_AZURITE_KEY",
            )
    assert caught.value.field == "datastores.m" and _registered(run_home) == {}


def test_create_if_not_exists_creates_the_container(request, tmp_path, azurite, credentials):
    ds = Datastore.register_azure_blob_container(
        Workspace(),
        "fresh",
        "created-by-register",
        "devstoreaccount1",
        endpoint=azurite.endpoint,
        account_key_env="TEST_AZURITE_KEY",
        create_if_not_exists=True,
    )
    from tests.data_servers import azure_fs

    assert azure_fs(azurite).exists("created-by-register") and ds.container_name == "created-by-register"


# -- object names and local confinement -----------------------------------------------------------------------
def test_object_name_leading_out_of_the_download_folder_is_refused(request, tmp_path, credentials):
    """S3 keys are opaque: ``a/../../escaped.txt`` is a valid key that a naive download writes two levels up."""
    store = make_store("s3", request, tmp_path)
    store.put("ok.txt", b"ok")
    import boto3

    from tests.data_servers import S3_KEY

    client = boto3.client(
        "s3",
        endpoint_url=store.server.endpoint,
        aws_access_key_id=S3_KEY,
        aws_secret_access_key=S3_SECRET,
        region_name="us-east-1",
    )
    client.put_object(Bucket=store.root, Key="a/../../escaped.txt", Body=b"evil")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=store.root)["Contents"]]
    assert "a/../../escaped.txt" in keys  # the store kept the name verbatim
    target = tmp_path / "deep" / "dl"
    with pytest.raises(DataError, match="outside the download folder") as caught:
        store.datastore.download(str(target))
    assert caught.value.field == "datastores.data"
    assert not (tmp_path / "deep" / "escaped.txt").exists() and not (tmp_path / "escaped.txt").exists()
    from runconfig_jupyter.core.data.cache import DownloadCache

    fs, root = store.datastore.open()
    with pytest.raises(DataError, match="outside the download folder"):
        DownloadCache(tmp_path / "cache").fetch(fs, root)
    assert not list((tmp_path / "cache").rglob("escaped.txt"))


@pytest.mark.parametrize("where", ["/etc", "/proc/self", "~/.ssh", "RUN_HOME", "RUN_HOME/runs", "RUN_HOME/datastores"])
def test_local_datastore_on_a_forbidden_path_is_refused(where, run_home, tmp_path):
    path = where.replace("RUN_HOME", str(run_home)).replace("~", str(Path.home()))
    if "RUN_HOME" in where:
        Path(path).mkdir(parents=True, exist_ok=True)
    with pytest.raises(ConfigError) as caught:
        Datastore.register_local(Workspace(), "bad", path)
    assert caught.value.field == "datastores.bad.path"
    assert _registered(run_home) == {}


def test_local_datastore_is_a_place_read_only_unless_writable(run_home, tmp_path):
    ro, rw = tmp_path / "ro", tmp_path / "rw"
    ro.mkdir()
    rw.mkdir()
    Datastore.register_local(Workspace(), "ro", ro)
    Datastore.register_local(Workspace(), "rw", rw, writable=True)
    source = tmp_path / "project"
    source.mkdir()
    confinement = Confinement.for_source(source)
    assert confinement.path(str(ro), "input") == ro.resolve()
    with pytest.raises(ConfigError):
        confinement.path(str(ro), "output", writable=True)
    assert confinement.path(str(rw), "output", writable=True) == rw.resolve()
    default = Workspace().get_default_datastore().path_on_host
    assert confinement.path(default, "output", writable=True) == Path(default)
    for inside_home in (run_home / "runs.db", run_home / "datastores", run_home / "places.yaml"):
        with pytest.raises(ConfigError):
            confinement.path(str(inside_home), "input")


def test_hand_edited_registry_or_swapped_folder_is_refused_at_use(run_home, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    Datastore.register_local(Workspace(), "d", data, writable=True)
    other = tmp_path / "other"
    other.mkdir()
    registry = yaml.safe_load((run_home / "datastores.yaml").read_text())
    registry["datastores"]["d"]["settings"]["path"] = str(other)  # not a registered place
    (run_home / "datastores.yaml").write_text(yaml.safe_dump(registry))
    with pytest.raises(ConfigError, match="not a registered place") as caught:
        Datastore.get(Workspace(), "d").download(str(tmp_path / "dl"))
    assert caught.value.field == "datastores.d"
    registry["datastores"]["d"]["settings"]["path"] = str(data)
    (run_home / "datastores.yaml").write_text(yaml.safe_dump(registry))
    shutil.rmtree(data)
    os.symlink("/etc", data)  # the registered folder swapped for a link to a system location
    with pytest.raises(ConfigError, match="system location"):
        Datastore.get(Workspace(), "d").download(str(tmp_path / "dl2"))
    assert not (tmp_path / "dl2").exists()


def test_upload_of_a_credential_folder_or_a_link_into_one_is_refused(run_home, tmp_path):
    ws = Workspace()
    with pytest.raises(ConfigError):
        ws.get_default_datastore().upload(str(Path.home() / ".ssh"))
    source = tmp_path / "src"
    source.mkdir()
    os.symlink("/etc/passwd", source / "passwd")
    with pytest.raises(ConfigError, match="system location"):
        ws.get_default_datastore().upload(str(source), target_path="x", show_progress=False)
    assert not (Path(ws.get_default_datastore().path_on_host) / "x").exists()


def test_secret_values_never_reach_the_registry_through_fsspec_options(run_home, monkeypatch):
    monkeypatch.setenv("MEM_TOKEN", S3_SECRET)
    ds = Datastore.register_fsspec(
        Workspace(), "mem", "memory://bucket", options_env={"token": "MEM_TOKEN"}, skip_validation=True
    )
    assert ds.datastore_type == "Fsspec"
    assert files_containing(run_home, (S3_SECRET,)) == []


def test_refused_credentials_are_unreachable_not_missing(tmp_path, run_home, azurite, monkeypatch):
    """Azurite checks the SharedKey signature: a wrong key is refused (adlfs' own exists() would say True)."""
    import base64

    from tests.data_servers import new_container

    monkeypatch.setenv("WRONG_KEY", base64.b64encode(b"not the account key" * 3).decode())
    container = new_container(azurite)
    with pytest.raises(DatastoreUnreachable, match="refused") as caught:
        Datastore.register_azure_blob_container(
            Workspace(), "w", container, "devstoreaccount1", endpoint=azurite.endpoint, account_key_env="WRONG_KEY"
        )
    assert caught.value.field == "datastores.w" and _registered(run_home) == {}


def test_a_link_inside_a_writable_local_datastore_cannot_carry_an_upload_out(run_home, tmp_path):
    folder, outside = tmp_path / "store", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "victim.txt").write_text("original")
    os.symlink(outside, folder / "out")  # a folder link
    os.symlink(outside / "victim.txt", folder / "file.txt")  # a file link
    ds = Datastore.register_local(Workspace(), "rw", folder, writable=True)
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "x.txt").write_text("payload")
    (source / "file.txt").write_text("payload")
    with pytest.raises(ConfigError, match="outside the datastore's folder"):
        ds.upload(str(source / "sub"), target_path="out/new", show_progress=False)
    with pytest.raises(ConfigError, match="outside the datastore's folder"):
        ds.upload_files([str(source / "file.txt")], overwrite=True, show_progress=False)
    assert sorted(p.name for p in outside.iterdir()) == ["victim.txt"]
    assert (outside / "victim.txt").read_text() == "original"


@pytest.mark.parametrize(
    ("url", "options", "options_env"),
    [
        ("file:///etc", None, None),
        ("/etc", None, None),
        ("local:///root", None, None),
        ("simplecache::s3://bucket", None, None),
        ("zip://member::file:///tmp/archive.zip", None, None),
        ("dir://", {"path": "/etc"}, None),
        ("memory://x", {"target_protocol": "file"}, None),
        ("s3://bucket", {"cache_storage": "/etc"}, None),
        ("s3://bucket", None, {"target_protocol": "SOME_VARIABLE"}),
        ("git://repo", None, None),
    ],
)
def test_fsspec_urls_that_reach_host_files_are_refused(url, options, options_env, run_home):
    with pytest.raises(ConfigError) as caught:
        Datastore.register_fsspec(
            Workspace(), "u", url, storage_options=options, options_env=options_env, skip_validation=True
        )
    assert caught.value.field.startswith("datastores.u.")
    assert _registered(run_home) == {}


def test_fsspec_url_edited_into_the_registry_is_refused_at_use(run_home, tmp_path):
    ds = Datastore.register_fsspec(Workspace(), "mem", "memory://bucket", skip_validation=True, writable=True)
    registry = yaml.safe_load((run_home / "datastores.yaml").read_text())
    registry["datastores"]["mem"]["settings"]["url"] = "file:///etc"
    (run_home / "datastores.yaml").write_text(yaml.safe_dump(registry))
    with pytest.raises(ConfigError, match="reaches this machine's files"):
        Datastore.get(Workspace(), "mem").download(str(tmp_path / "dl"))
    assert ds.name == "mem" and not (tmp_path / "dl").exists()
