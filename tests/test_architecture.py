"""The shape of the package: sdk_gen's modules import each other without a cycle.

A cycle makes import order matter, hides which layer owns what (the runtimes must not depend on
the convert stage that drives them), and tempts lazy imports that only dodge it. So every import
of an sdk_gen module counts, wherever it is written: module level, inside functions, and under
``if TYPE_CHECKING:`` (a type a module needs is still a dependency of its design, and a cycle
through annotations is a cycle the next runtime import closes).
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import REPO

PACKAGE = "sdk_gen"


def package_modules(root: Path = REPO / PACKAGE) -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its __init__.py)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def imported_modules(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``module`` imports anywhere in its source.

    ``from a.b import c`` names the submodule a.b.c when there is one, else the module a.b. The
    parent packages Python also runs on the way (``a`` for ``a.b``) are not counted: a package's
    __init__ that re-exports its own submodules would otherwise form a "cycle" with each of them.
    """
    is_package = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, node.module] if node.module else anchor)
            else:
                base = node.module or ""
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in modules else base)
    return {name for name in found if name in modules and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, iteratively)."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" once fully explored
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        pending = [iter(sorted(graph[start]))]
        state[start] = "open"
        while pending:
            following = next(pending[-1], None)
            if following is None:
                state[path.pop()] = "done"
                pending.pop()
            elif state.get(following) == "open":
                return path[path.index(following):] + [following]
            elif following not in state:
                state[following] = "open"
                path.append(following)
                pending.append(iter(sorted(graph[following])))
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "sdk_gen.runtimes.base" in graph and "sdk_gen.conversion" in graph  # the scan sees the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_runtimes_do_not_import_the_stages_that_drive_them():
    graph = import_graph()
    drivers = {"sdk_gen.conversion", "sdk_gen.project", "sdk_gen.planner", "sdk_gen.cli", "sdk_gen.verify_worker"}
    for module, imports in graph.items():
        if module.startswith("sdk_gen.runtimes"):
            assert not imports & drivers, f"{module} imports {sorted(imports & drivers)}"


def test_the_scan_counts_lazy_and_type_checking_imports(tmp_path):
    """The cycle finder is not decorative: the imports a cycle hides behind are seen."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.b import B\n")
    (package / "b.py").write_text("def f():\n    from . import c\n")
    (package / "c.py").write_text("import pkg.a\n")
    modules = package_modules(package)
    graph = {name: imported_modules(name, path, modules) for name, path in modules.items()}
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.c"}, "pkg.c": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None
