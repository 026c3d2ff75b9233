"""Fixtures of the data tests: one writable datastore of each kind, on the real servers of tests/data_servers.py (or
a local folder); and, for the input tests, a workspace, a read-only local datastore with files, a project.

``store`` is parametrised over local / azure_blob / s3 so the v1 verbs are checked the same way on each.
Credentials are put in environment variables (as a user would) and the datastore names them; every test
can then assert that the secret values appear in no file the workspace wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runconfig_jupyter import Datastore, Workspace
from tests.data.inputs_helpers import make_data, make_project
from tests.data_servers import AZURITE_KEY, S3_KEY, S3_SECRET, Server, azure_fs, new_container, s3_fs

KINDS = ("local", "azure_blob", "s3", "fsspec")
SECRETS = (AZURITE_KEY, S3_SECRET)


@dataclass
class Store:
    """A registered datastore plus a raw client to look at what really is on the store."""

    kind: str
    datastore: Datastore
    fs: Any  # fsspec filesystem opened by the test, not by the code under test
    root: str  # the datastore's root on ``fs``
    server: Server | None

    def files(self) -> dict[str, bytes]:
        """Every file on the datastore, relative name -> bytes."""
        base = self.root.rstrip("/")
        return {name[len(base) + 1 :]: self.fs.cat_file(name) for name in self.fs.find(base)}

    def put(self, name: str, data: bytes) -> None:
        path = f"{self.root.rstrip('/')}/{name}"
        if self.kind == "local":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.fs.pipe_file(path, data)


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_AZURITE_KEY", AZURITE_KEY)
    monkeypatch.setenv("TEST_S3_KEY", S3_KEY)
    monkeypatch.setenv("TEST_S3_SECRET", S3_SECRET)


def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str = "data", **options: Any) -> Store:
    """Register a writable datastore of ``kind`` (its servers started on first use)."""
    ws = Workspace()
    if kind == "local":
        folder = tmp_path / f"{name}-folder"
        folder.mkdir()
        datastore = Datastore.register_local(ws, name, folder, writable=not options.get("read_only", False))
        from fsspec.implementations.local import LocalFileSystem

        return Store(kind, datastore, LocalFileSystem(), str(folder.resolve()), None)
    if kind == "azure_blob":
        server = request.getfixturevalue("azurite")
        container = new_container(server)
        datastore = Datastore.register_azure_blob_container(
            ws,
            name,
            container_name=container,
            account_name="devstoreaccount1",
            endpoint=server.endpoint,
            account_key_env="TEST_AZURITE_KEY",
            read_only=options.get("read_only", False),
        )
        return Store(kind, datastore, azure_fs(server), container, server)
    server = request.getfixturevalue("moto_s3")
    bucket = new_container(server)
    if kind == "fsspec":  # the generic path: an s3:// URL, its endpoint as an option, its keys by variable name
        datastore = Datastore.register_fsspec(
            ws,
            name,
            f"s3://{bucket}",
            storage_options={"client_kwargs": {"endpoint_url": server.endpoint}},
            options_env={"key": "TEST_S3_KEY", "secret": "TEST_S3_SECRET"},
            writable=not options.get("read_only", False),
        )
        return Store(kind, datastore, s3_fs(server), bucket, server)
    datastore = Datastore.register_s3(
        ws,
        name,
        bucket=bucket,
        endpoint_url=server.endpoint,
        key_env="TEST_S3_KEY",
        secret_env="TEST_S3_SECRET",
        writable=not options.get("read_only", False),
    )
    return Store(kind, datastore, s3_fs(server), bucket, server)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, credentials: None) -> Store:
    return make_store(request.param, request, tmp_path)


def files_containing(folder: Path, needles: tuple[str, ...]) -> list[str]:
    """Files below ``folder`` whose bytes contain any needle (a secret must be in none)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {needle[:6]}..." for needle in needles if needle.encode() in data]
    return found


@pytest.fixture
def workspace() -> Workspace:
    return Workspace()


@pytest.fixture
def datastore(workspace: Workspace, tmp_path: Path) -> Datastore:
    """A read-only local datastore over ``make_data``'s folder (``tmp_path / "data"``)."""
    return Datastore.register_local(workspace, "trainingdata", str(make_data(tmp_path / "data")))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "project")


@pytest.fixture
def shell(project: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An IPython shell with the magics loaded, in the project folder (``%%runconfig withdata`` is dropped after)."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(project)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "runconfig_jupyter")
    ip.run_line_magic("config", "RunConfigMagics.live_view = False")
    yield ip
    ip.user_ns.pop("withdata", None)


# -- what the per-target tests use (test_data_docker / _kernel / _ray) ---------------------------------------
CREDENTIALS = {"TEST_S3_KEY": S3_KEY, "TEST_S3_SECRET": S3_SECRET, "TEST_AZURITE_KEY": AZURITE_KEY}


def remote_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> Store:
    """A writable ``kind`` store holding ``train/a.csv`` and ``train/sub/b.csv``."""
    made = make_store(kind, request, tmp_path, name=name)
    made.put("train/a.csv", b"x,y\n1,2\n")
    made.put("train/sub/b.csv", b"x,y\n3,4\n")
    return made


@pytest.fixture
def s3_store(request: pytest.FixtureRequest, tmp_path: Path, credentials: None) -> Store:
    """Datastore 's3data' on the moto server, with two csv files under train/."""
    return remote_store("s3", request, tmp_path, "s3data")


@pytest.fixture
def local_store(tmp_path: Path) -> Datastore:
    """A registered (read-only) folder with ``train/a.csv``; a file NEXT to it that no run may see."""
    root = tmp_path / "datasets" / "registered"
    (root / "train").mkdir(parents=True)
    (root / "train" / "a.csv").write_text("x,y\n1,2\n")
    (tmp_path / "datasets" / "secret.txt").write_text("not registered\n")
    return Datastore.register_local(Workspace(), "localdata", str(root))


@pytest.fixture
def out_store(tmp_path: Path) -> Datastore:
    """A writable registered folder outputs are uploaded to."""
    root = tmp_path / "results"
    root.mkdir()
    return Datastore.register_local(Workspace(), "results", str(root), writable=True)
