"""The import contract of the package, read from its source (nothing is imported).

- the runtime (what scripts inline) imports only the standard library, numpy, torch,
  paddle and safetensors, and within padiff_gen only the runtime;
- the analysis imports no framework (torch, paddle) at module level: a command that
  needs no model pays for no framework import, and either may be missing.

That the modules import each other in one direction, lazy imports included, is
tests/unit/test_layers_of_modules.py.
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


def test_the_reader_sees_relative_framework_and_lazy_imports(tmp_path, monkeypatch):
    """Negative control: the reading above finds what it looks for."""
    package = tmp_path / "padiff_gen"
    (package / "runtime").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import x\nimport torch\n")
    (package / "b.py").write_text("x = 1\n\ndef f():\n    import jinja2\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    found = imports(package / "a.py", module_level_only=True)
    assert ("padiff_gen.b", 1) in found and ("torch", 2) in found
    assert imports(package / "b.py", module_level_only=True) == []
    assert imports(package / "b.py", module_level_only=False) == [("jinja2", 4)]
