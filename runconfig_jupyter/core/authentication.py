"""``azureml.core.authentication``: accepted and ignored, because nothing local asks who you are.

``Workspace.from_config(auth=InteractiveLoginAuthentication(...))`` in ported code keeps working;
no credential is read, stored or sent anywhere.
"""

from __future__ import annotations

from typing import Any


class _NoAuthentication:
    """Takes Azure's arguments and keeps none of them (they may be secrets)."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        pass

    def get_authentication_header(self) -> dict[str, str]:
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(local: no authentication needed)"


class InteractiveLoginAuthentication(_NoAuthentication):
    pass


class ServicePrincipalAuthentication(_NoAuthentication):
    pass


class AzureCliAuthentication(_NoAuthentication):
    pass


class MsiAuthentication(_NoAuthentication):
    pass


class TokenAuthentication(_NoAuthentication):
    pass


__all__ = [
    "AzureCliAuthentication",
    "InteractiveLoginAuthentication",
    "MsiAuthentication",
    "ServicePrincipalAuthentication",
    "TokenAuthentication",
]
