"""What a run on this machine (the ``local`` target) inherits from the environment that submitted it.

A kernel's environment holds whatever the user's shell, JupyterHub or a cloud SDK put there: AWS keys,
``AZURE_CLIENT_SECRET``, ``GOOGLE_APPLICATION_CREDENTIALS``, the Hub's API token, an ssh agent socket.
Passing all of it to every script means a script from a shared notebook can use them. The default,
``safe``, passes everything except variables whose name looks secret (core/secret_env.py) and the
credential families of cloud SDKs and code hosts; what Python, venvs, conda and CUDA need always passes.

Setting (``inherit_env`` of the local target in targets.yaml, else ``RUNCONFIG_INHERIT_ENV``):
``all`` (everything, the old behaviour), ``safe`` (default), ``none`` (only the base below), or a
comma-separated list of names and ``fnmatch`` patterns added to the base (``DATA_DIR,WANDB_*``).
Variables the run configuration sets are always passed, whatever the setting.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Mapping

from runconfig_jupyter.core.errors import ConfigError
from runconfig_jupyter.core.safety.secret_names import is_secret_name

INHERIT_ENV = "RUNCONFIG_INHERIT_ENV"
MODES = ("all", "safe", "none")
DEFAULT_MODE = "safe"
# What an interpreter, a venv or conda env, CUDA and common numeric libraries need to behave as in the kernel.
BASE = (
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_*",
    "TZ",
    "TERM",
    "TMPDIR",
    "TMP",
    "TEMP",
    "PYTHON*",
    "VIRTUAL_ENV",
    "CONDA_*",
    "PIP_CERT",
    "SSL_CERT_*",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "LD_LIBRARY_PATH",
    "CUDA_*",
    "NVIDIA_*",
    "NCCL_*",
    "OMP_*",
    "MKL_*",
    "OPENBLAS_*",
    "KMP_*",
    "XDG_*",
    "MPLBACKEND",
    "MPLCONFIGDIR",
    "HF_HOME",
    "TORCH_HOME",
    "RUNCONFIG_*",
)
# Credential families dropped by "safe" even when the name does not look secret (AWS_PROFILE, AZURE_CLIENT_ID...).
CREDENTIAL_FAMILIES = (
    "AWS_*",
    "AZURE_*",
    "ARM_*",
    "GOOGLE_*",
    "GCLOUD_*",
    "GCP_*",
    "CLOUDSDK_*",
    "OCI_*",
    "IBM_*",
    "ALIBABA_CLOUD_*",
    "DIGITALOCEAN_*",
    "JUPYTERHUB_*",
    "JPY_*",
    "GITHUB_*",
    "GH_*",
    "GITLAB_*",
    "KUBECONFIG",
    "DOCKER_CONFIG",
    "DOCKER_AUTH_CONFIG",
    "SSH_*",
    "GPG_*",
    "VAULT_*",
)
_PATTERN = re.compile(r"[A-Za-z0-9_*?\[\]!-]+")


def _matches(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    return _one_pattern(tuple(patterns)).match(name) is not None


@functools.lru_cache(maxsize=16)
def _one_pattern(patterns: tuple[str, ...]) -> re.Pattern[str]:
    """``fnmatchcase`` against any of ``patterns``, as one expression compiled once (a driver starts with ~70
    patterns: compiling each separately on first use cost a few milliseconds of every local run's start)."""
    return re.compile("|".join(fnmatch.translate(pattern) for pattern in patterns) or "(?!)")


def parse_setting(value: object, field: str = "inherit_env") -> str | list[str]:
    """``all``/``safe``/``none`` or the list of extra patterns; ConfigError naming ``field`` otherwise."""
    if value is None or value == "":
        return DEFAULT_MODE
    items = value if isinstance(value, list) else str(value).split(",")
    words = [str(item).strip() for item in items if str(item).strip()]
    if len(words) == 1 and words[0].lower() in MODES:
        return words[0].lower()
    bad = [w for w in words if not _PATTERN.fullmatch(w) or w.lower() in MODES]
    if bad or not words:
        raise ConfigError(
            f"use all, safe, none, or a comma-separated list of variable names/patterns; got {value!r}", field=field
        )
    return words


def setting_for(target_setting: object = None, environ: Mapping[str, str] | None = None) -> str | list[str]:
    """The target's own setting wins over ``RUNCONFIG_INHERIT_ENV``."""
    if target_setting not in (None, ""):
        return parse_setting(target_setting)
    environ = os.environ if environ is None else environ
    return parse_setting(environ.get(INHERIT_ENV), field=INHERIT_ENV)


def inherited(environ: Mapping[str, str], setting: str | list[str]) -> dict[str, str]:
    """The part of ``environ`` a local run receives under ``setting``."""
    if setting == "all":
        return dict(environ)
    if setting == "safe":
        return {
            k: v
            for k, v in environ.items()
            if _matches(k, BASE) or not (is_secret_name(k) or _matches(k.upper(), CREDENTIAL_FAMILIES))
        }
    extra = [] if setting == "none" else list(setting)
    return {k: v for k, v in environ.items() if _matches(k, BASE) or _matches(k, extra)}
