"""The import contract of the package, read from its source (nothing is imported).

- the runtime (what scripts inline) imports only the standard library, numpy, torch,
  paddle and safetensors, and within padiff_gen only the runtime;
- the analysis imports no framework (torch, paddle) at module level: a command that
  needs no model pays for no framework import, and either may be missing.

- torch and paddle are told apart only in the framework adapter
  (padiff_gen/knowledge/frameworks.py): no other module of the analysis compares a
  value with "torch" or "paddle" (the runtime and the built-in initializers, which
  scripts inline without padiff_gen, tell them apart themselves);
- the folders stand in the order of the pipeline (STAGES below): a module imports only
  from its own stage or the ones beneath it, lazy imports included;

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


# The package's stages, bottom up: each may import the ones above it in this list, never
# one below. Data flows load -> analysis -> plan -> codegen -> write; imports run the
# other way for the plan, the data every stage passes on (analysis builds plan objects).
# A module not named here by its folder or its own name fails the test: place it.
STAGES = (
    # shared basics: user errors, the logger, the terminal, the disk cache
    ("errors", "version", "log", "term", "progress", "cache"),
    ("runtime.core",),
    ("runtime.conversion", "runtime"),
    ("special_init",),
    ("knowledge",),
    ("load",),
    ("plan",),
    ("analysis",),  # with analysis.evidence: the evidence that runs models
    ("codegen",),
    ("write",),
    ("api", "verify", "init_api", ""),  # the Python API; "" is padiff_gen/__init__.py
    ("cli", "__main__"),
)


def stage_of(module: str) -> int:
    """The index in STAGES of a padiff_gen module (by its longest named prefix)."""
    inner = module.split(".", 1)[1] if "." in module else ""
    best = None
    for index, names in enumerate(STAGES):
        for name in names:
            if inner == name or (name and inner.startswith(name + ".")):
                if best is None or len(name) > best[1]:
                    best = (index, len(name))
    assert best is not None, f"{module} is in no stage of STAGES: place it there"
    return best[0]


def climbing_imports() -> list[str]:
    """Every import of a module from a stage above the importer's (every module is
    placed first: one in no stage fails)."""
    stages = {path: stage_of(module_name(path)) for path in sources()}
    return [
        f"{module_name(path)}:{line} ({STAGES[stage][0]}) "
        f"imports {name} ({STAGES[stage_of(name)][0]})"
        for path, stage in stages.items()
        for name, line in imports(path, module_level_only=False)
        if name.split(".")[0] == "padiff_gen" and stage_of(name) > stage
    ]


def test_each_stage_imports_only_the_stages_beneath_it():
    wrong = climbing_imports()
    assert not wrong, wrong


def test_a_climbing_import_and_a_module_in_no_stage_are_found(tmp_path, monkeypatch):
    """Negative control: load importing codegen lazily is caught; a module in no stage
    is named."""
    package = tmp_path / "padiff_gen"
    for folder in ("load", "codegen"):
        (package / folder).mkdir(parents=True)
        (package / folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "codegen" / "render.py").write_text("from ..load import load\n")
    (package / "load" / "load.py").write_text(
        "def f():\n    from ..codegen import render\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert climbing_imports() == [
        "padiff_gen.load.load:2 (load) imports padiff_gen.codegen.render (codegen)"
    ]
    (package / "nowhere.py").write_text("")
    try:
        climbing_imports()
    except AssertionError as error:
        assert "padiff_gen.nowhere is in no stage" in str(error)
    else:
        raise AssertionError("a module in no stage was placed")


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


# Where comparing with "torch" / "paddle" is allowed: the adapter, and the code scripts
# inline (it cannot import the adapter).
FRAMEWORK_BRANCHES_ALLOWED = ("knowledge/frameworks.py", "runtime/", "special_init/")


def framework_branches() -> list[str]:
    """Every comparison of a value with the string "torch" or "paddle" outside the
    places allowed (``x == "torch"``, ``x != "paddle"``, ``"paddle" in x``,
    ``x == ("paddle", "paddle")``)."""
    found = []
    for path in sources():
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(FRAMEWORK_BRANCHES_ALLOWED):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Compare):
                continue
            operands = []
            for operand in (node.left, *node.comparators):
                if isinstance(operand, (ast.Tuple, ast.List, ast.Set)):
                    operands += operand.elts
                else:
                    operands.append(operand)
            if any(
                isinstance(o, ast.Constant) and o.value in FRAMEWORKS for o in operands
            ):
                found.append(f"{relative}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_only_the_adapter_tells_torch_from_paddle():
    wrong = framework_branches()
    assert not wrong, wrong


def test_a_framework_branch_elsewhere_is_found(tmp_path, monkeypatch):
    """Negative control: branches in an analysis module are found, the adapter's and
    the runtime's are allowed."""
    package = tmp_path / "padiff_gen"
    for folder in ("analysis", "knowledge", "runtime"):
        (package / folder).mkdir(parents=True)
    (package / "analysis" / "walk.py").write_text(
        'def f(fw, fws):\n    return fw == "torch" or fws == ("paddle", "paddle")\n'
    )
    (package / "knowledge" / "frameworks.py").write_text(
        'x = 1 if "a" == "torch" else 2\n'
    )
    (package / "runtime" / "rows.py").write_text('y = "paddle" in ()\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", package)
    assert framework_branches() == [
        "analysis/walk.py:2: fw == 'torch'",
        "analysis/walk.py:2: fws == ('paddle', 'paddle')",
    ]


def test_every_package_folder_is_in_the_wheel():
    """pyproject.toml lists the packages the wheel carries: a folder of padiff_gen left
    out installs a padiff_gen that cannot import (tests/test_wheel.py shows it end to
    end, in minutes; this says which folder, in a second)."""
    import tomllib

    listed = set(
        tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())["tool"][
            "setuptools"
        ]["packages"]
    )
    folders = {
        module_name(path) for path in PACKAGE.rglob("__init__.py")
    }  # padiff_gen.analysis.layouts, ...
    assert folders - listed == set()
