"""``azureml.core.webservice``: importable; deploying a model needs Azure ML (or a server you run yourself)."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import azure_only
from runconfig_jupyter.core.model import SERVE_LOCALLY


class Webservice:
    """Azure's deployed model endpoint. Serve ``Model.get_model_path(name)`` with a server of your own."""

    deploy = azure_only("Webservice.deploy()", SERVE_LOCALLY)
    deploy_from_model = azure_only("Webservice.deploy_from_model()", SERVE_LOCALLY)
    deploy_from_image = azure_only("Webservice.deploy_from_image()", SERVE_LOCALLY)
    deploy_configuration = azure_only("Webservice.deploy_configuration()", SERVE_LOCALLY)
    list = azure_only("Webservice.list()", SERVE_LOCALLY)

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        Webservice.deploy()


class AciWebservice(Webservice):
    pass


class AksWebservice(Webservice):
    pass


class LocalWebservice(Webservice):
    pass


__all__ = ["AciWebservice", "AksWebservice", "LocalWebservice", "Webservice"]
