"""Imports run one way: the import graph of the package (every import statement, also those inside functions,
except ``if TYPE_CHECKING:`` blocks) has no cycle, and the genotype layer imports no method.

The graph is built from the source with :mod:`ast`, so it holds the imports a module may make, not only those a
given run happens to make. A backend module is loaded by name on first use (``importlib`` in
:mod:`pmo_workbench.genotypes.backends`), which is not an import statement and so not an edge.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"pmo_workbench": ROOT / "pmo_workbench", "pmo_widgets": ROOT / "widgets"}
LOWER = ("pmo_workbench.genotypes", "pmo_workbench.numba_kernels", "pmo_workbench.ckernels")
"""The genotype layer: stores, backends and kernels."""
METHODS = ("pmo_workbench.qc", "pmo_workbench.model", "pmo_workbench.cohort")
"""Packages of methods built on the genotype layer."""


def find_modules() -> dict[str, Path]:
    """Module name -> file, for every ``.py`` of the packages (``pkg/__init__.py`` is ``pkg``)."""
    modules = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def iter_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` (in functions too), leaving out the bodies of ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                yield from iter_imports(ast.Module(body=[child], type_ignores=[]))
        else:
            yield from iter_imports(node)


def resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The modules of ``known`` that an import statement of ``module`` imports."""

    def nearest(name: str) -> str | None:
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name or None

    if isinstance(node, ast.Import):
        targets = [nearest(alias.name) for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}" if base else package
        targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else nearest(base) for a in node.names]
    return {t for t in targets if t is not None and t != module}


def build_import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports."""
    modules = find_modules()
    known = set(modules)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in iter_imports(tree):
            edges |= resolve(name, path.name == "__init__.py", node, known)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return build_import_graph()


def test_the_graph_sees_the_imports_it_should(graph: dict[str, set[str]]) -> None:
    """The parser finds top-level, deferred (in a function) and relative imports, and skips TYPE_CHECKING."""
    assert "pmo_workbench.genotypes.backends" in graph["pmo_workbench.qc.sample_qc"]
    assert "pmo_workbench.ckernels.king" in graph["pmo_workbench.genotypes.backends.embedded"]  # deferred
    assert "pmo_widgets.qc_explorer" in graph["pmo_widgets"]  # relative
    assert "pmo_workbench.qc.sample_qc" not in graph["pmo_workbench.qc"]  # only under TYPE_CHECKING there
    assert len(graph) > 80


def test_find_cycles_reports_a_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_the_import_graph_is_acyclic(graph: dict[str, set[str]]) -> None:
    cycles = find_cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_the_genotype_layer_imports_no_method(graph: dict[str, set[str]]) -> None:
    """Backends, stores and kernels sit below the methods: a method asks the registry for a kernel, never the
    other way round."""
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith(LOWER)
                    for t in targets if t.startswith(METHODS))
    assert not upward, f"the genotype layer imports methods: {upward}"


def test_track_libraries_do_not_import_the_runner_or_the_cli(graph: dict[str, set[str]]) -> None:
    """qc, cohort and model are used by the runner's notebooks, never the other way round; run folders are looked
    up through :mod:`pmo_workbench.catalogue` (#9 item 5)."""
    upward = sorted(f"{m} -> {t}" for m, targets in graph.items() if m.startswith(METHODS)
                    for t in targets if t.startswith(("pmo_workbench.runner", "pmo_workbench.cli")))
    assert not upward, f"track libraries import the runner or the CLI: {upward}"
    assert "pmo_workbench.reports" not in graph  # the runner is a package now
    runner = {m for m in graph if m.startswith("pmo_workbench.runner")}
    assert {"pmo_workbench.runner.parameters", "pmo_workbench.runner.execute", "pmo_workbench.runner.finish",
            "pmo_workbench.runner.provenance", "pmo_workbench.runner.html", "pmo_workbench.runner.scan"} <= runner
