"""Azure ML v1 names that need Azure itself, declared once so they fail the same way everywhere.

A ported notebook calls ``run.get_portal_url()`` or ``ComputeTarget.create(...)``; without Azure the
honest answer is one sentence naming the local alternative (a typed ``NotSupportedLocally``), never an
AttributeError that reads like a bug. Declaring each name as a class attribute (instead of a blanket
``__getattr__``) keeps typos failing as typos, shows the names in ``dir()`` and lets the test suite
check docs/MIGRATING.md against the classes.
"""

from __future__ import annotations

from typing import Any, NoReturn

from runconfig_jupyter.core.errors import NotSupportedLocally


def azure_only(feature: str, alternative: str) -> Any:
    """A method (callable on the class or an instance) that raises ``NotSupportedLocally`` when called."""

    def unavailable(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise NotSupportedLocally(feature, alternative)

    unavailable.__doc__ = f"Not available locally ({feature}). {alternative}"
    unavailable.azure_only = (feature, alternative)  # type: ignore[attr-defined]
    return staticmethod(unavailable)


def azure_only_property(feature: str, alternative: str) -> property:
    """An attribute that raises ``NotSupportedLocally`` when read."""

    def unavailable(_self: Any) -> NoReturn:
        raise NotSupportedLocally(feature, alternative)

    unavailable.azure_only = (feature, alternative)  # type: ignore[attr-defined]
    return property(unavailable, doc=f"Not available locally ({feature}). {alternative}")


def is_azure_only(owner: type, name: str) -> bool:
    """Whether ``owner.name`` was declared with ``azure_only``/``azure_only_property`` (used by tests and docs)."""
    for klass in owner.__mro__:
        if name in klass.__dict__:
            value = klass.__dict__[name]
            function = value.fget if isinstance(value, property) else getattr(value, "__func__", value)
            return hasattr(function, "azure_only")
    return False


SECRETS = "Pass secrets as environment variables (RunConfiguration.environment_variables) instead."
# v1's model interpretability packages upload explanations to Azure ML's explanation store.
INTERPRET = (
    "Model explanation (azureml.interpret, azureml.explain.model, azureml.contrib.interpret)",
    "Compute them in the training script with the open-source packages they wrap (pip install interpret-community, "
    "or shap), save them under ./outputs and log their figures with run.log_image(name, plot=figure).",
)
PORTAL = "Open the run in JupyterLab's runs sidebar, or use %runs / RunDetails(run).show() in the notebook."
PROVISIONING = (
    "Compute is what you configure locally: map the cluster name to a target with "
    "'aliases: {NAME: local}' in $RUNCONFIG_JUPYTER_HOME/targets.yaml or "
    "register_target('NAME', alias_of='docker'); add a machine with register_target(name, type='kernel'|'ray', ...)."
)
DATA_LAYER = (
    "Local datasets read delimited text and JSON lines from a datastore: write the data as CSV to a datastore "
    "(datastore.upload(...)) and use Dataset.Tabular.from_delimited_files((datastore, 'folder/*.csv')), or pass "
    "a file dataset (Dataset.File.from_files) to the run and read the files in the script (docs/data.md)."
)
OTHER_STORES = (
    "Register the data where fsspec reaches it: Datastore.register_local (a mounted share or folder), "
    "register_azure_blob_container, register_azure_data_lake_gen2, register_s3 or register_fsspec (any fsspec URL)."
)


def azure_only_class(name: str, feature: str, alternative: str, module: str) -> type:
    """A v1 class that needs Azure: importing it works (ported imports stay valid), creating one raises."""

    def __init__(self: Any, *_args: Any, **_kwargs: Any) -> None:
        raise NotSupportedLocally(feature, alternative)

    __init__.azure_only = (feature, alternative)  # type: ignore[attr-defined]
    return type(
        name, (), {"__init__": __init__, "__module__": module, "__doc__": f"Not available locally. {alternative}"}
    )


def azure_only_function(name: str, feature: str, alternative: str) -> Any:
    """A v1 module-level function that needs Azure."""
    function = azure_only(feature, alternative).__func__
    function.__name__ = name
    return function


def declare_azure_only(
    namespace: dict[str, Any], area: str, alternative: str, classes: tuple[str, ...], functions: tuple[str, ...] = ()
) -> list[str]:
    """Define a v1 module's Azure-only classes and functions in ``namespace`` (a module's globals); their names."""
    module = str(namespace["__name__"])
    for name in classes:
        namespace[name] = azure_only_class(name, f"{area} ({name})", alternative, module)
    for name in functions:
        namespace[name] = azure_only_function(name, f"{area} ({name}())", alternative)
    return [*classes, *functions]
