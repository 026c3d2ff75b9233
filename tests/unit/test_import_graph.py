"""The import graph keeps the shape docs/ARCHITECTURE.md draws, read from the source (every import counts:
top-level, inside functions, and under ``TYPE_CHECKING``).

- core imports no front end and no concrete target, not even lazily;
- no file imports another file's private (``_x``) name;
- no import goes in a circle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "runconfig_jupyter"
FRONT_ENDS = ("IPython", "ipywidgets", "anywidget", "tornado", "jupyter_server")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(name: str, path: Path) -> list[tuple[str, list[str]]]:
    """(module, names taken from it) for every import statement of the file, relative ones resolved."""
    found = []
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            found.append((module, [alias.name for alias in node.names]))
    return found


def _edges(modules: dict[str, Path]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _imports(name, path):
            targets = {f"{module}.{taken}" for taken in names} & modules.keys() or {module} & modules.keys()
            edges[name] |= targets - {name}
    return edges


def _circles(edges: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(component)
    return circles


def test_core_imports_no_front_end_and_no_concrete_target():
    wrong = [
        f"{name} imports {module}"
        for name, path in _modules().items()
        if name.startswith("runconfig_jupyter.core")
        for module, _names in _imports(name, path)
        if module.split(".")[0] in (*FRONT_ENDS, "docker", "ray")
        or module.startswith(("runconfig_jupyter.targets", "runconfig_jupyter.widgets", "runconfig_jupyter.server"))
        or module == "runconfig_jupyter.magics"
    ]
    assert wrong == []


def test_no_private_name_is_imported_from_another_file():
    modules = _modules()
    wrong = [
        f"{name} takes {taken} from {module}"
        for name, path in modules.items()
        for module, names in _imports(name, path)
        if module in modules and module != name
        for taken in names
        if taken.startswith("_") and not taken.startswith("__")
    ]
    assert wrong == []


def test_no_import_goes_in_a_circle():
    """Every import counts: module level, inside functions and under TYPE_CHECKING.

    The v1 objects that name each other (Workspace, Experiment, Run) share one module; models, compute targets
    and the in-script context reach them through an instance or a factory handed in (core/runs/script_run.py).
    """
    circles = _circles(_edges(_modules()))
    assert [sorted(circle) for circle in circles] == []


def test_the_circle_finder_finds_a_circle():
    """The check above is only worth something if a loop is found when there is one."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(edges) == [{"a", "b", "c"}]
