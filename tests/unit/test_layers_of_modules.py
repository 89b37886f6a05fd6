"""padiff_gen's modules import each other in one direction: no circle, lazy imports included.

A circle means that no module in it can be read or tested alone; imports inside functions
hide circles from Python but not from this test.
"""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "padiff_gen"


def module_name(path: Path) -> str:
    parts = path.with_suffix("").relative_to(ROOT).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Every padiff_gen module and the padiff_gen modules it imports, anywhere in it."""
    paths = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = package.split(".")[
                        : len(package.split(".")) - node.level + 1
                    ]
                    origin = ".".join(parts + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                for alias in node.names:
                    # `from . import progress` imports the module padiff_gen.progress;
                    # `from . import __version__` imports from padiff_gen itself.
                    submodule = f"{origin}.{alias.name}"
                    found.add(submodule if submodule in paths else origin)
        graph[name] = {module for module in found if module in paths} - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import circle as a list of modules (first == last), or [] when there is none."""
    state: dict[str, str] = {}
    trail: list[str] = []

    def visit(module: str) -> list[str]:
        state[module] = "open"
        trail.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                return trail[trail.index(imported) :] + [imported]
            if imported not in state:
                cycle = visit(imported)
                if cycle:
                    return cycle
        state[module] = "done"
        trail.pop()
        return []

    for module in sorted(graph):
        if module not in state:
            cycle = visit(module)
            if cycle:
                return cycle
    return []


def test_find_cycle_finds_a_circle_through_a_lazy_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) == []
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    assert (
        "padiff_gen.write.write" in graph["padiff_gen.cli.targets"]
    )  # inside a function
    assert "padiff_gen.cli.options" in graph["padiff_gen.cli.cli"]
    assert (
        "padiff_gen.runtime.core.copy_torch"
        in graph["padiff_gen.special_init.init_rnn"]
    )


def test_padiff_gen_imports_in_one_direction():
    cycle = find_cycle(import_graph())
    assert not cycle, "import circle: " + " -> ".join(cycle)


def test_the_command_layer_stands_on_shared_pieces():
    """cli is the top; commands, check and targets never import the modules above them."""
    graph = import_graph()
    above = {
        "padiff_gen.cli.targets": {"padiff_gen.cli.check", "padiff_gen.cli.commands"},
        "padiff_gen.cli.check": {"padiff_gen.cli.commands"},
    }
    for module, forbidden in above.items():
        assert not graph[module] & (forbidden | {"padiff_gen.cli.cli"}), module
    importers = {
        module for module, imports in graph.items() if "padiff_gen.cli.cli" in imports
    }
    assert importers == {"padiff_gen.__main__"}
