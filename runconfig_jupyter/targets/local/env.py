"""Python interpreters (and conda prefixes) for the local target.

User-managed environments run with the given interpreter (default: the one
running Jupyter). Otherwise conda packages are solved and installed with
py-rattler into a cached prefix (conda_prefix.py), and the pip packages go into
a virtualenv cached under the run home by the environment's content hash, so an
unchanged environment is never rebuilt. The venv sees the system site-packages,
which keeps ``runconfig_jupyter`` (for ``Run.get_context()``) and the user's
installed stack importable without reinstalling them. When the conda solution
brings its own python, that python runs the script and receives the pip packages.
"""

from __future__ import annotations

import fcntl
import shutil
import sys
from pathlib import Path
from typing import Any

from runconfig_jupyter.core.errors import ConfigError, PreparationFailed
from runconfig_jupyter.core.target.interface import TargetRunContext
from runconfig_jupyter.targets.conda_prefix import cached_prefix, conda_request, pip_into_prefix, process_environment

READY_MARKER = ".runconfig-ready"


def check_host_pip(config: Any, environment: Any) -> None:
    """At submit: the pip list a host-installing target (local, Ray) will run holds packages, not options.

    Options and local paths would make pip read files of this machine (see ``Confinement.host_pip_packages``).
    """
    python = environment.python
    conda = python.conda_dependencies
    if conda is None or python.user_managed_dependencies or not conda.pip_packages:
        return
    from runconfig_jupyter.core.safety.confine import Confinement  # a submit's check, not the driver's

    confinement = Confinement.for_source(config.source_directory)
    confinement.host_pip_packages(conda.pip_packages, "environment.python.conda_dependencies.pip")
    host_pip_options(conda.pip_options)


# pip options that only choose where packages come from over the network, or which builds to take: they read no
# file of this machine, so a host-installing target passes them to pip (v1's pip_indexurl, set_pip_option).
HOST_PIP_OPTIONS = {
    "--index-url": True,  # option -> takes a value
    "-i": True,
    "--extra-index-url": True,
    "--trusted-host": True,
    "--only-binary": True,
    "--no-binary": True,
    "--pre": False,
    "--prefer-binary": False,
    "--no-deps": False,
}
_URL_OPTIONS = ("--index-url", "-i", "--extra-index-url")


def host_pip_options(options: list[str]) -> list[str]:
    """The environment's pip options as pip arguments; any other option (``--find-links``, ``-r``, ``-c``) or an
    index that is not an http(s) URL is refused, naming it, since pip would read this machine's files with it."""
    import shlex

    words: list[str] = []
    for option in options:
        try:
            words += shlex.split(str(option))
        except ValueError as error:  # an unclosed quote: named like any other option pip would not get
            raise ConfigError(
                f"'{option}' is not a pip option line ({error})",
                field="environment.python.conda_dependencies.pip_options",
            ) from None
    out, index = [], 0
    while index < len(words):
        name, _, inline = words[index].partition("=")
        takes_value = HOST_PIP_OPTIONS.get(name)
        value = inline or (words[index + 1] if takes_value and not inline and index + 1 < len(words) else "")
        if takes_value is None or (takes_value and not value) or (takes_value is False and inline):
            raise ConfigError(
                f"'{words[index]}' is not passed to pip on this machine (it could read local files); use "
                f"{', '.join(sorted(HOST_PIP_OPTIONS))}, or the docker target",
                field="environment.python.conda_dependencies.pip_options",
            )
        if name in _URL_OPTIONS and not value.lower().startswith(("http://", "https://")):
            raise ConfigError(
                f"'{name} {value}' is not an http(s) index: pip would read this machine's files",
                field="environment.python.conda_dependencies.pip_options",
            )
        out += [name, value] if takes_value else [name]
        index += 1 if inline or not takes_value else 2
    return out


def ready_interpreter(environment: Any) -> str | None:
    """The python that runs a script of ``environment`` when nothing has to be built for it (a user-managed
    interpreter, or no conda or pip packages); None when the environment needs a venv or conda prefix."""
    python = environment.python
    if python.user_managed_dependencies:
        path = python.interpreter_path
        return sys.executable if not path or path == "python" else path
    conda = python.conda_dependencies
    if (conda is not None and conda.installed_pip_packages()) or conda_request(environment) is not None:
        return None
    return sys.executable


def interpreter_for(ctx: TargetRunContext) -> tuple[str, dict[str, str]]:
    """The python that runs the script and the variables it needs (a conda prefix's PATH/CONDA_PREFIX)."""
    environment = ctx.config.effective_environment()
    ready = ready_interpreter(environment)
    if ready is not None:
        return ready, {}
    python = environment.python
    conda = python.conda_dependencies
    packages = conda.installed_pip_packages() if conda is not None else []
    if packages and conda is not None:  # checked at submit (check_host_pip): index choices only
        packages = [*host_pip_options(conda.pip_options), *packages]
    request = conda_request(environment)
    if request is not None:
        ctx.progress("Installing conda packages", None, request.describe())
        prefix = cached_prefix(request, _envs_dir(ctx), environment.content_hash(), ctx.prepare_log)
        own_python = prefix / "bin" / "python"
        if own_python.exists():  # the solution brought a python: it runs the script and takes the pip packages
            if packages:
                pip_into_prefix(own_python, prefix, packages, lambda argv: _run(ctx, argv))
            return str(own_python), process_environment(prefix)
        interpreter = str(_cached_venv(ctx, environment.content_hash(), packages)) if packages else sys.executable
        return interpreter, process_environment(prefix)
    return str(_cached_venv(ctx, environment.content_hash(), packages)), {}  # pip packages (not ready above)


def _envs_dir(ctx: TargetRunContext) -> Path:
    return ctx.run_dir.parent.parent / "envs"


def _cached_venv(ctx: TargetRunContext, digest: str, packages: list[str]) -> Path:
    home = _envs_dir(ctx)
    venv = home / digest[:16]
    home.mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    with open(home / f"{digest[:16]}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second run with the same env waits, then reuses
        if (venv / READY_MARKER).exists():
            ctx.prepare_log(f"environment {digest[:12]} is cached at {venv}; nothing to install")
            return python
        shutil.rmtree(venv, ignore_errors=True)
        ctx.prepare_log(f"creating environment {digest[:12]} (first use of these packages): {' '.join(packages)}")
        try:
            ctx.progress("Creating environment", None, "python -m venv")
            _run(ctx, [sys.executable, "-m", "venv", "--system-site-packages", str(venv)])
            ctx.progress("Installing packages", None, " ".join(packages))
            _run(ctx, [str(python), "-m", "pip", "install", "--disable-pip-version-check", *packages])
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)  # a half-built env must not look cached
            raise
        (venv / READY_MARKER).write_text(digest)
    return python


def _run(ctx: TargetRunContext, argv: list[str]) -> None:
    import subprocess  # here: a submit imports this module to check the interpreter, and builds no environment

    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert process.stdout is not None
    for line in process.stdout:
        ctx.prepare_log(line.decode(errors="replace").rstrip("\n"))
        if ctx.cancel_event.is_set():
            process.kill()
    if process.wait() != 0:
        raise PreparationFailed(
            f"'{' '.join(argv[:4])} ...' failed with exit code {process.returncode}; "
            "see logs/prepare_log.txt in the run folder"
        )
