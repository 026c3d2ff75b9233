"""Red team: a docker target's ``ca_bundle`` cannot ship a host file into images and containers.

The bundle (target setting ``ca_bundle`` or ``$RUNCONFIG_CA_BUNDLE``) is copied into every image build and
bind-mounted or copied into every container. Any readable file was accepted - ``/etc/shadow`` or a private
key would travel into the run. Now it must be a PEM certificate bundle (no private key); the refusal names
the field, before anything is packaged or any container created. Against the real docker target class and
the real engine (the check happens before the engine is contacted).
"""

from __future__ import annotations

import pytest

from runconfig_jupyter import ScriptRunConfig
from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.runs.script_run import submit
from runconfig_jupyter.core.runs.store import RunStore
from runconfig_jupyter.targets.docker.image import ca_bundle_path
from runconfig_jupyter.targets.docker.target import DockerTarget

KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nredteam-key-canary\n-----END OPENSSH PRIVATE KEY-----\n"
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.mark.parametrize(
    "content", [KEY, "root:$6$hash:19000:0:99999:7:::\n", CERT + "-----BEGIN PRIVATE KEY-----\nx\n", "plain text"]
)
def test_docker_target_refuses_a_ca_bundle_that_is_not_certificates(project, run_home, tmp_path, content):
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(content)
    config = ScriptRunConfig(str(project), script="train.py", compute_target="docker")
    with pytest.raises(ConfigError) as refused:
        submit(config, "redteam", target=DockerTarget(name="docker", ca_bundle=str(bundle)))
    assert refused.value.field == "targets.docker.ca_bundle"
    assert "redteam-key-canary" not in str(refused.value)
    assert RunStore(run_home).list(limit=10) == []


def test_the_environment_variable_is_held_to_the_same_rule(monkeypatch, tmp_path):
    bundle = tmp_path / "id_rsa"
    bundle.write_text(KEY)
    monkeypatch.setenv("RUNCONFIG_CA_BUNDLE", str(bundle))
    with pytest.raises(ConfigError) as refused:
        ca_bundle_path(None)
    assert refused.value.field == "RUNCONFIG_CA_BUNDLE"


def test_a_real_certificate_bundle_still_passes(tmp_path):
    certifi = pytest.importorskip("certifi")
    assert ca_bundle_path(certifi.where()) is not None
    (tmp_path / "one.pem").write_text(CERT)
    assert ca_bundle_path(str(tmp_path / "one.pem")) == tmp_path / "one.pem"
