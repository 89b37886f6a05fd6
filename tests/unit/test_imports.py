"""The import contract of the package, read from its source (nothing is imported).

- the runtime (what scripts inline) imports only the standard library, numpy, torch,
  paddle and safetensors, and within padiff_gen only the runtime;
- the analysis imports no framework (torch, paddle) at module level: a command that
  needs no model pays for no framework import, and either may be missing;
- module-level imports within padiff_gen make no cycle.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import padiff_gen

PACKAGE = Path(padiff_gen.__file__).resolve().parent
FRAMEWORKS = {"torch", "paddle"}
RUNTIME_MAY_IMPORT = (
    set(sys.stdlib_module_names)
    | FRAMEWORKS
    | {
        "numpy",
        "safetensors",
    }
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module_level_only: bool) -> list[tuple[str, int]]:
    """(absolute module name, line) of every import in a file."""
    tree = ast.parse(path.read_text(), str(path))
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                # `from . import cache`: the names may be modules themselves
                names = [f"{target}.{alias.name}" for alias in node.names]
                found += [
                    (name if _is_module(name) else target, node.lineno)
                    for name in names
                ]
            else:
                found.append((node.module, node.lineno))
    return found


def _is_module(name: str) -> bool:
    relative = Path(*name.split(".")[1:])
    folder = PACKAGE / relative
    return folder.with_suffix(".py").is_file() or (folder / "__init__.py").is_file()


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_runtime_imports_only_what_a_script_may():
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in sorted((PACKAGE / "runtime").rglob("*.py"))
        for name, line in imports(path, module_level_only=False)
        if not (
            name.split(".")[0] in RUNTIME_MAY_IMPORT
            or name.startswith("padiff_gen.runtime")
        )
    ]
    assert not wrong, wrong


def test_the_analysis_imports_no_framework_at_module_level():
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in sources()
        if "runtime" not in path.relative_to(PACKAGE).parts
        for name, line in imports(path, module_level_only=True)
        if name.split(".")[0] in FRAMEWORKS
    ]
    assert not wrong, wrong


def test_module_level_imports_make_no_cycle():
    graph = {
        module_name(path): {
            name
            for name, _ in imports(path, module_level_only=True)
            if name.startswith("padiff_gen")
        }
        for path in sources()
    }
    cycles = []
    state: dict[str, str] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                cycles.append(trail[trail.index(target) :] + [target])
            elif target not in state:
                visit(target, trail + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    # A package's __init__ importing its own modules is not a cycle of its modules.
    cycles = [c for c in cycles if not all(m.startswith(c[0] + ".") for m in c[1:-1])]
    assert not cycles, cycles


def test_the_checker_sees_a_cycle_and_a_framework_import(tmp_path, monkeypatch):
    """Negative control: the reading above finds what it looks for."""
    package = tmp_path / "padiff_gen"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\nimport torch\n")
    (package / "b.py").write_text("from . import a\nx = 1\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    found = imports(package / "a.py", module_level_only=True)
    assert ("padiff_gen.b", 1) in found and ("torch", 2) in found
    assert imports(package / "b.py", True) == [("padiff_gen.a", 1)]
    try:
        test_module_level_imports_make_no_cycle()
    except AssertionError as error:
        assert "padiff_gen.a" in str(error)
    else:
        raise AssertionError("the cycle a -> b -> a was not found")
