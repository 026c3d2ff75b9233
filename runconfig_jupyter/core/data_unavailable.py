"""``Dataset``: importable for ported code, but datasets are not local yet (issue 13; datastores are, in core/data).

v1 notebooks reach datasets through class-level factories (``Dataset.Tabular.from_delimited_files``,
``Dataset.File.from_files``, ``Dataset.get_by_name``) before ever creating an instance, so those names are
declared here too: each raises the typed ``NotSupportedLocally`` instead of an AttributeError.
"""

from __future__ import annotations

from typing import Any

from runconfig_jupyter.core.azure_only import DATA_LAYER, azure_only, azure_only_class


def _with_factories(klass: type, area: str, names: tuple[str, ...]) -> type:
    """Attach Azure-only class-level factories (``klass.name(...)`` raises with the data-layer sentence)."""
    for name in names:
        setattr(klass, name, azure_only(f"{area}.{name}()", DATA_LAYER))
    return klass


def _factory_namespace(area: str, names: tuple[str, ...]) -> Any:
    """A v1 factory holder such as ``Dataset.Tabular``: never instantiated, only its factories are called."""
    return _with_factories(
        type(area.rsplit(".", 1)[-1], (), {"__doc__": f"Not available locally. {DATA_LAYER}"}), area, names
    )


Dataset = _with_factories(
    azure_only_class("Dataset", "Dataset", DATA_LAYER, __name__),
    "Dataset",
    ("get_by_name", "get_by_id", "get_all"),
)
Dataset.Tabular = _factory_namespace(  # type: ignore[attr-defined]
    "Dataset.Tabular",
    (
        "from_delimited_files",
        "from_parquet_files",
        "from_json_lines_files",
        "from_sql_query",
        "register_pandas_dataframe",
    ),
)
Dataset.File = _factory_namespace("Dataset.File", ("from_files", "upload_directory"))  # type: ignore[attr-defined]

__all__ = ["Dataset"]
