"""The Azure registrations' other shapes, on Azurite: ADLS Gen2, a connection string by variable name, a SAS,
and v1's endpoint suffix."""

from __future__ import annotations

import datetime

import pytest
import yaml

from runconfig_jupyter import Datastore, Workspace
from runconfig_jupyter.core.errors import ConfigError, DatastoreUnreachable
from tests.data.conftest import files_containing
from tests.data_servers import AZURITE_ACCOUNT, AZURITE_KEY, azure_fs, new_container


def _roundtrip(ds: Datastore, tmp_path) -> bytes:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "f.txt").write_text("azure")
    ds.upload(str(tmp_path / "src"), target_path="rt", overwrite=True, show_progress=False)
    ds.download(str(tmp_path / "dl"), prefix="rt/", overwrite=True, show_progress=False)
    return (tmp_path / "dl" / "rt" / "f.txt").read_bytes()


def test_adls_gen2_with_an_account_key_variable(azurite, tmp_path, run_home, monkeypatch):
    monkeypatch.setenv("LAKE_KEY", AZURITE_KEY)
    container = new_container(azurite)
    ds = Datastore.register_azure_data_lake_gen2(
        Workspace(), "lake", filesystem=container, account_name=AZURITE_ACCOUNT, endpoint=azurite.endpoint,
        account_key_env="LAKE_KEY",
    )  # fmt: skip
    assert (ds.datastore_type, ds.container_name, ds.read_only) == ("AzureDataLakeGen2", container, False)
    assert _roundtrip(ds, tmp_path) == b"azure"
    assert azure_fs(azurite).cat_file(f"{container}/rt/f.txt") == b"azure"
    with pytest.raises(ConfigError, match="client_secret_env"):
        Datastore.register_azure_data_lake_gen2(
            Workspace(), "sp", filesystem=container, account_name=AZURITE_ACCOUNT, tenant_id="t", client_id="c",
            client_secret="a-literal-client-secret-value",
        )  # fmt: skip
    assert files_containing(run_home, (AZURITE_KEY, "a-literal-client-secret-value")) == []


def test_connection_string_and_sas_by_variable_name(azurite, tmp_path, run_home, monkeypatch):
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    container = new_container(azurite)
    monkeypatch.setenv("BLOB_CONNECTION", azurite.extra["connection_string"])
    by_connection = Datastore.register_azure_blob_container(
        Workspace(), "conn", container, connection_string_env="BLOB_CONNECTION"
    )
    assert _roundtrip(by_connection, tmp_path) == b"azure"
    sas = generate_container_sas(
        AZURITE_ACCOUNT, container, account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1),
    )  # fmt: skip
    monkeypatch.setenv("BLOB_SAS", sas)
    by_sas = Datastore.register_azure_blob_container(
        Workspace(), "sas", container, AZURITE_ACCOUNT, endpoint=azurite.endpoint, sas_token_env="BLOB_SAS"
    )  # fmt: skip
    assert by_sas.download(str(tmp_path / "sas-dl"), prefix="rt/", show_progress=False) == 1
    with pytest.raises(DatastoreUnreachable, match="permissions") as caught:  # the SAS cannot write
        by_sas.upload(str(tmp_path / "src"), target_path="denied", show_progress=False)
    assert caught.value.field == "datastores.sas"
    assert not azure_fs(azurite).exists(f"{container}/denied/f.txt")
    assert files_containing(run_home, (AZURITE_KEY, sas)) == []


def test_v1_endpoint_suffix_becomes_the_account_url(run_home):
    ws = Workspace()
    Datastore.register_azure_blob_container(ws, "pub", "c1", "acct", skip_validation=True)
    Datastore.register_azure_blob_container(
        ws, "cn", "c1", "acct", endpoint="core.chinacloudapi.cn", skip_validation=True
    )
    settings = yaml.safe_load((run_home / "datastores.yaml").read_text())["datastores"]
    assert "endpoint" not in settings["pub"]["settings"]
    assert settings["cn"]["settings"]["endpoint"] == "https://acct.blob.core.chinacloudapi.cn"
