"""The registry file itself: concurrent writers, a damaged file, the default's lifecycle."""

from __future__ import annotations

import subprocess
import sys

import pytest

from runconfig_jupyter.core.data import stores
from runconfig_jupyter.core.errors import ConfigError

REGISTER = (
    "import sys; from runconfig_jupyter.core.data.stores import register_datastore; "
    "register_datastore(sys.argv[1], 'fsspec', url='memory://' + sys.argv[1])"
)


def test_concurrent_registrations_all_land(run_home):
    """Six processes registering at once: the lock makes every read-modify-write count."""
    names = [f"store{index}" for index in range(6)]
    children = [subprocess.Popen([sys.executable, "-c", REGISTER, name]) for name in names]
    assert [child.wait(120) for child in children] == [0] * len(names)
    assert {spec.name for spec in stores.list_datastores()} == {"workspaceblobstore", *names}


def test_a_damaged_registry_is_an_error_not_an_empty_list(run_home):
    (run_home / "datastores.yaml").write_text("datastores: [not, a, mapping]\n")
    with pytest.raises(ConfigError, match="cannot be read") as caught:
        stores.list_datastores()
    assert caught.value.field == "datastores"


def test_default_name_falls_back_when_its_datastore_is_gone(run_home):
    stores.register_datastore("mem", "fsspec", url="memory://mem")
    stores.set_default_datastore("mem")
    assert stores.default_datastore_name() == "mem"
    assert stores.unregister_datastore("mem") and not stores.unregister_datastore("mem")
    assert stores.default_datastore_name() == "workspaceblobstore"
    with pytest.raises(ConfigError, match="already registered"):
        stores.register_datastore("again", "fsspec", url="memory://a")
        stores.register_datastore("again", "fsspec", url="memory://b", overwrite=False)
