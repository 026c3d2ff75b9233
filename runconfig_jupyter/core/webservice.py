"""``azureml.core.webservice``: importable; deploying a model needs Azure ML (or a server you run yourself)."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import azure_only
from runconfig_jupyter.core.errors import NotSupportedLocally
from runconfig_jupyter.core.model import SERVE_LOCALLY


class Webservice:
    """Azure's deployed model endpoint. Serve ``Model.get_model_path(name)`` with a server of your own."""

    deploy = azure_only("Webservice.deploy()", SERVE_LOCALLY)
    deploy_from_model = azure_only("Webservice.deploy_from_model()", SERVE_LOCALLY)
    deploy_from_image = azure_only("Webservice.deploy_from_image()", SERVE_LOCALLY)
    deploy_configuration = azure_only("Webservice.deploy_configuration()", SERVE_LOCALLY)
    list = azure_only("Webservice.list()", SERVE_LOCALLY)

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        # ``AciWebservice(ws, name)`` gets an existing service back: the refusal names that call, not deploy().
        raise NotSupportedLocally(f"{type(self).__name__}()", SERVE_LOCALLY)


# Each kind names itself: a notebook calls ``AciWebservice.deploy_configuration(...)`` and reads that name in
# the refusal, not its base class's.
class AciWebservice(Webservice):
    deploy_configuration = azure_only("AciWebservice.deploy_configuration()", SERVE_LOCALLY)


class AksWebservice(Webservice):
    deploy_configuration = azure_only("AksWebservice.deploy_configuration()", SERVE_LOCALLY)


class LocalWebservice(Webservice):
    deploy_configuration = azure_only("LocalWebservice.deploy_configuration()", SERVE_LOCALLY)


__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice"]
