"""A tiny stand-in package for environments where runconfig_jupyter is not installed.

Scripts do ``from runconfig_jupyter import Run; Run.get_context().log(...)``.
Inside a container, a remote kernel or a Ray worker the package is usually not
installed, so targets put this shim on ``PYTHONPATH``: it carries only the
in-script API (context + metric markers), no dependencies beyond the stdlib.
When the real package is installed there, the target should put the shim
*after* it on the path, so the real one wins.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

SHIM_DIR_NAME = "runconfig-shim"
# The in-script API and what it imports (all standard library only).
SHIM_MODULES = (
    "core/runs/context.py",
    "core/errors.py",
    "core/runs/logsink.py",
    "core/runs/artifacts.py",
    "core/runs/folder.py",
    "core/runs/run_logging.py",
    "core/runs/v1_run_api.py",
    "core/runs/input_datasets.py",
    "core/runs/partitions.py",
    "core/runs/script_env.py",
    "core/model_framework.py",
    "core/resource_configuration.py",
)

_SHIM_INIT = '''"""In-script API of runconfig_jupyter (shim: the full package is not installed here)."""

from runconfig_jupyter.core import Run

__all__ = ["Run"]
'''
# ``from runconfig_jupyter.core import Run`` and ``from runconfig_jupyter.core.run import Run`` are the ported
# spellings of v1's ``from azureml.core import Run`` / ``azureml.core.run``: both must work inside a target.
_SHIM_CORE_INIT = '''"""In-script ``Run`` (and ``Model``, for ``Model.Framework``) of runconfig_jupyter.core (shim)."""

from runconfig_jupyter.core.runs.context import get_context as _get_context


class Run:
    @staticmethod
    def get_context(allow_offline=True):
        return _get_context()

    @staticmethod
    def get_submitted_run(**kwargs):
        return _get_context()


from runconfig_jupyter.core.model import Model  # noqa: E402 - after Run, as the real package names them

__all__ = ["Model", "Run"]
'''
_SHIM_RUN = '''"""``runconfig_jupyter.core.run`` (shim): the in-script ``Run``."""

from runconfig_jupyter.core import Run

__all__ = ["Run"]
'''


# A script registers its model with ``run.register_model(..., model_framework=Model.Framework.X)``: the
# registry is the notebook's, so the stand-in ``Model`` only carries the framework names.
_SHIM_MODEL = '''"""``runconfig_jupyter.core.model`` (shim): ``Model.Framework`` for a script's register_model."""

from runconfig_jupyter.core.model_framework import Framework


class Model:
    """The names a script uses; registered models are read in the notebook (``Model(ws, name)``)."""

    Framework = Framework


__all__ = ["Model"]
'''


def shim_files() -> dict[str, bytes]:
    """Relative path -> content; the context module is copied from this very package."""
    package = Path(__file__).resolve().parents[2]
    return {
        "runconfig_jupyter/__init__.py": _SHIM_INIT.encode(),
        "runconfig_jupyter/core/__init__.py": _SHIM_CORE_INIT.encode(),
        "runconfig_jupyter/core/runs/__init__.py": b"",
        "runconfig_jupyter/core/run.py": _SHIM_RUN.encode(),
        "runconfig_jupyter/core/model.py": _SHIM_MODEL.encode(),
        **{f"runconfig_jupyter/{module}": (package / module).read_bytes() for module in SHIM_MODULES},
    }


def shim_tar(prefix: str = SHIM_DIR_NAME) -> bytes:
    """The shim as an uncompressed tar rooted at ``prefix/`` (for put_archive and uploads)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for relative, content in shim_files().items():
            info = tarfile.TarInfo(f"{prefix}/{relative}")
            info.size = len(content)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()
