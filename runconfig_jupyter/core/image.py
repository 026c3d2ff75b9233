"""``azureml.core.image``: importable; images for deployment are built by Azure ML."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import azure_only
from runconfig_jupyter.core.model import SERVE_LOCALLY


class Image:
    """Azure's deployment image. For training, the docker target builds images from an ``Environment``."""

    image_configuration = azure_only("ContainerImage.image_configuration()", SERVE_LOCALLY)
    create = azure_only("Image.create()", SERVE_LOCALLY)
    list = azure_only("Image.list()", SERVE_LOCALLY)

    def __init__(self, *_args: object, **_kwargs: object) -> None:
        Image.create()


class ContainerImage(Image):
    pass


__all__ = ["ContainerImage", "Image"]
