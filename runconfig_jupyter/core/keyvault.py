"""``azureml.core.keyvault``: the workspace's Azure Key Vault. Importable, so ported imports stay valid; every
call says how secrets reach a run here (environment variables the run configuration names)."""

from __future__ import annotations

from runconfig_jupyter.core.azure_only import SECRETS, azure_only


class Keyvault:
    """v1's ``ws.get_default_keyvault()`` object; ``Workspace.get_default_keyvault()`` itself says the same."""

    set_secret = azure_only("Keyvault.set_secret()", SECRETS)
    set_secrets = azure_only("Keyvault.set_secrets()", SECRETS)
    get_secret = azure_only("Keyvault.get_secret()", SECRETS)
    get_secrets = azure_only("Keyvault.get_secrets()", SECRETS)
    get_secret_content_type = azure_only("Keyvault.get_secret_content_type()", SECRETS)
    list_secrets = azure_only("Keyvault.list_secrets()", SECRETS)
    delete_secret = azure_only("Keyvault.delete_secret()", SECRETS)
    delete_secrets = azure_only("Keyvault.delete_secrets()", SECRETS)


__all__ = ["Keyvault"]
