"""``azureml.mlflow`` (the azureml-mlflow package): v1's MLflow notebooks open with ``import azureml.mlflow``.

In v1 the import registered MLflow plugins for the ``azureml://`` tracking URI that
``ws.get_mlflow_tracking_uri()`` returned. Here that URI is a plain MLflow store of the run home (or, in a
submitted run, the run's own store), which MLflow reads without a plugin, so importing this module changes
nothing: the ported import line stands and the notebook goes on to ``mlflow.set_tracking_uri(...)``. It
imports neither mlflow nor anything else, so it costs a notebook nothing.
"""

from __future__ import annotations

from typing import Any, NoReturn

from runconfig_jupyter.core.azure_only import PORTAL
from runconfig_jupyter.core.errors import NotSupportedLocally


def get_portal_url(run: Any) -> NoReturn:
    """v1's ``azureml.mlflow.get_portal_url(run)``: the run's page in Azure ML studio, which does not exist here."""
    raise NotSupportedLocally("azureml.mlflow.get_portal_url()", PORTAL)


__all__ = ["get_portal_url"]
