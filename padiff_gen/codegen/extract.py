"""Pull the source of functions (and everything they reference) out of their modules.

The generated script must stand alone, so for every initializer and runtime helper it needs,
the :class:`SourceCollector` copies the function's top-level statement out of its module with
libcst, then follows the names it uses (scope analysis tells which): module-level helpers and
constants are copied the same way, imports are re-emitted as absolute imports, and anything
imported from padiff_gen itself is copied too, since scripts never import padiff_gen. Every
copied definition gets a unique name in the script; references are renamed to match.
"""

from __future__ import annotations

import builtins
import importlib
import importlib.util
import inspect
import sys
import types
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable, Optional, Union

import libcst as cst
from libcst.metadata import (
    Assignment,
    ImportAssignment,
    MetadataWrapper,
    ScopeProvider,
)

from ..errors import InlineError

INTERNAL_PACKAGE = "padiff_gen"

Statement = Union[cst.SimpleStatementLine, cst.BaseCompoundStatement]


def _is_internal(module_name: str) -> bool:
    return module_name == INTERNAL_PACKAGE or module_name.startswith(
        INTERNAL_PACKAGE + "."
    )


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None) or "?"
    name = getattr(obj, "__qualname__", None) or repr(obj)
    return f"{module}.{name}"


def locate(obj: Any) -> tuple[str, str]:
    """(module name, top-level name) of a function or class that can be inlined."""
    what = _describe(obj)
    hint = (
        "Define the initializer as a plain top-level `def` in an importable module (an "
        "`init_*.py` file or a module passed with --init-module)."
    )
    if not isinstance(obj, (types.FunctionType, type)):
        raise InlineError(
            f"Cannot inline {what}: it is a {type(obj).__name__}, not a Python function with "
            "source code (built-ins, partials and callable objects have none to copy).",
            hint,
        )
    name = obj.__name__
    if name == "<lambda>":
        raise InlineError(
            f"Cannot inline {what}: it is a lambda, which has no name to copy.", hint
        )
    if "<locals>" in obj.__qualname__ or (
        isinstance(obj, types.FunctionType) and obj.__code__.co_freevars
    ):
        raise InlineError(
            f"Cannot inline {what}: it is a closure defined inside another function, so its "
            "source depends on values that exist only at run time.",
            hint,
        )
    if obj.__qualname__ != name:
        raise InlineError(
            f"Cannot inline {what}: it is defined inside a class, not at module level.",
            hint,
        )
    module_name = obj.__module__
    if module_name == "__main__":
        raise InlineError(
            f"Cannot inline {name}: it is defined in the __main__ script, which the generated "
            "file cannot import or re-read reliably.",
            hint,
        )
    module = sys.modules.get(module_name)
    if module is None or getattr(module, name, None) is not obj:
        raise InlineError(
            f"Cannot inline {what}: the module {module_name!r} does not hold it under the name "
            f"{name!r} (was it decorated or reassigned?).",
            hint,
        )
    return module_name, name


@dataclass(frozen=True)
class _Dependency:
    local_name: str
    assignment: Any  # libcst Assignment / ImportAssignment
    access_nodes: tuple[cst.CSTNode, ...]


class _ParsedModule:
    """One module's source, parsed once, with scope analysis."""

    def __init__(self, module_name: str) -> None:
        self.name = module_name
        module = importlib.import_module(module_name)
        try:
            source = inspect.getsource(module)
        except (OSError, TypeError) as error:
            raise InlineError(
                f"Cannot read the source of module {module_name!r}: {error}.",
                "Initializers must live in .py files that ship with their source.",
            ) from None
        self.package = module.__package__ or module_name.rpartition(".")[0]
        self.wrapper = MetadataWrapper(cst.parse_module(source))
        self.module = self.wrapper.module
        scopes = self.wrapper.resolve(ScopeProvider)
        self.global_scope = scopes[self.module]
        self.scopes = {scope for scope in scopes.values() if scope is not None}
        self._statement_nodes = [(stmt, _node_ids(stmt)) for stmt in self.module.body]
        # Every emit asks the same questions of the same modules: answer each once.
        self._ids = {id(stmt): ids for stmt, ids in self._statement_nodes}
        self._dependencies: dict[tuple[int, frozenset[int]], list[_Dependency]] = {}
        self._plain_code: dict[int, str] = {}

    def statement_defining(self, name: str) -> Statement:
        matches = []
        for assignment in self.global_scope[name]:
            if isinstance(assignment, ImportAssignment) or not isinstance(
                assignment, Assignment
            ):
                continue
            matches.append(self._statement_holding(assignment.node))
        matches = [m for m in matches if m is not None]
        if len(matches) != 1:
            problem = (
                "is not defined at its top level" if not matches else "assigns it twice"
            )
            raise InlineError(
                f"Cannot inline {name!r} from module {self.name!r}: the module {problem}.",
                "Define it once, at module level, with a plain def, class or assignment.",
            )
        return matches[0]

    def _statement_holding(self, node: cst.CSTNode) -> Optional[Statement]:
        for stmt, ids in self._statement_nodes:
            if id(node) in ids:
                return stmt
        return None

    def dependencies(self, stmt: Statement, skip: frozenset[int]) -> list[_Dependency]:
        """Global names the statement uses, in order of first use."""
        key = (id(stmt), skip)
        if key not in self._dependencies:
            self._dependencies[key] = self._find_dependencies(stmt, skip)
        return self._dependencies[key]

    def code(
        self, stmt: Statement, renames: dict[int, str], dropped: frozenset[int]
    ) -> str:
        """The statement's source, with references renamed and decorators dropped."""
        if renames or dropped:
            rewritten = stmt.visit(_Rewrite(renames, dropped))
            return cst.Module(body=[rewritten]).code.strip("\n")
        if id(stmt) not in self._plain_code:
            self._plain_code[id(stmt)] = cst.Module(body=[stmt]).code.strip("\n")
        return self._plain_code[id(stmt)]

    def _find_dependencies(
        self, stmt: Statement, skip: frozenset[int]
    ) -> list[_Dependency]:
        ids = self._ids.get(id(stmt))
        inside = (ids if ids is not None else _node_ids(stmt)) - skip
        order = _node_order(stmt)
        found = []
        for assignment in self.global_scope.assignments:
            if not isinstance(assignment, (Assignment, ImportAssignment)):
                continue
            nodes = tuple(
                access.node
                for access in assignment.references
                if id(access.node) in inside
            )
            if nodes and not (
                isinstance(assignment, Assignment)
                and not isinstance(assignment, ImportAssignment)
                and self._statement_holding(assignment.node) is stmt
            ):
                found.append(_Dependency(assignment.name, assignment, nodes))
        found.sort(key=lambda d: min(order[id(n)] for n in d.access_nodes))
        self._check_undefined(stmt, inside)
        return found

    def _check_undefined(self, stmt: Statement, inside: set[int]) -> None:
        for scope in self.scopes:
            for access in scope.accesses:
                if id(access.node) not in inside or access.referents:
                    continue
                name = getattr(access.node, "value", None)
                if name is None or hasattr(builtins, name) or name.startswith("__"):
                    continue
                raise InlineError(
                    f"Cannot inline code from module {self.name!r}: it uses the name {name!r}, "
                    "which that module never defines or imports.",
                    "Import or define the name at the module's top level.",
                )

    def resolve_import(self, assignment: ImportAssignment) -> tuple[str, Optional[str]]:
        """(absolute module, imported name or None for ``import x``) for an import binding."""
        node = assignment.node
        for alias in node.names:
            bound = alias.asname.name.value if alias.asname else _dotted(alias.name)
            if isinstance(node, cst.Import):
                if (
                    bound == assignment.name
                    or _dotted(alias.name).split(".")[0] == assignment.name
                ):
                    return _dotted(alias.name), None
            elif bound == assignment.name:
                relative = "." * len(node.relative) + (
                    _dotted(node.module) if node.module else ""
                )
                module = importlib.util.resolve_name(relative, self.package)
                return module, _dotted(alias.name)
        raise InlineError(
            f"Cannot resolve the import of {assignment.name!r} in {self.name!r}."
        )


def _dotted(node: cst.BaseExpression) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return f"{_dotted(node.value)}.{node.attr.value}"
    raise TypeError(node)


def _node_ids(node: cst.CSTNode) -> set[int]:
    ids = set()

    class Collect(cst.CSTVisitor):
        def on_visit(self, n: cst.CSTNode) -> bool:
            ids.add(id(n))
            return True

    node.visit(Collect())
    return ids


def _node_order(node: cst.CSTNode) -> dict[int, int]:
    order: dict[int, int] = {}

    class Collect(cst.CSTVisitor):
        def on_visit(self, n: cst.CSTNode) -> bool:
            order.setdefault(id(n), len(order))
            return True

    node.visit(Collect())
    return order


@lru_cache(maxsize=None)
def _parsed(module_name: str) -> _ParsedModule:
    return _ParsedModule(module_name)


class _Rewrite(cst.CSTTransformer):
    """Rename references (by node identity) and drop padiff_gen registration decorators."""

    def __init__(self, renames: dict[int, str], dropped: frozenset[int]) -> None:
        super().__init__()
        self.renames = renames
        self.dropped = dropped

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.Name:
        new = self.renames.get(id(original))
        return updated.with_changes(value=new) if new else updated

    def leave_Decorator(self, original, updated):
        if id(original) in self.dropped:
            return cst.RemoveFromParent()
        return updated


class SourceCollector:
    """Collects definitions and imports for one generated script, with unique names."""

    def __init__(
        self,
        reserved: Iterable[str] = (),
        substitutes: Optional[dict[tuple[str, str], tuple[str, str]]] = None,
    ) -> None:
        self._taken: set[str] = set(reserved)
        self._definition_names: dict[tuple[str, str], str] = {}
        self._import_names: dict[tuple[str, Optional[str]], str] = {}
        self._definitions: list[str] = []
        # (module, name) -> (module, name) copied instead wherever code imports the
        # first: e.g. the paddle copy kernel for the torch one in paddle -> paddle scripts.
        self._substitutes = dict(substitutes or {})

    # -------------------------------------------------------------- public
    def state(self) -> dict[str, Any]:
        """Everything collected so far, as JSON-ready data (see from_state)."""
        return {
            "taken": sorted(self._taken),
            "definition_names": [[*k, v] for k, v in self._definition_names.items()],
            "import_names": [[*k, v] for k, v in self._import_names.items()],
            "definitions": self._definitions,
            "substitutes": [[*k, *v] for k, v in self._substitutes.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "SourceCollector":
        """A collector holding what ``state`` says another one had collected."""
        collector = cls()
        collector._taken = set(state["taken"])
        collector._definition_names = {
            (m, n): v for m, n, v in state["definition_names"]
        }
        collector._import_names = {(m, n): v for m, n, v in state["import_names"]}
        collector._definitions = list(state["definitions"])
        collector._substitutes = {(a, b): (c, d) for a, b, c, d in state["substitutes"]}
        return collector

    def add(self, obj: Any, name: Optional[str] = None) -> str:
        """Copy ``obj`` (and what it needs) into the script; return its name there.

        With ``name``, the object gets exactly that name; an object already copied under
        another name gets an alias (``name = other``).
        """
        module_name, top_name = locate(obj)
        script_name = self._definition(
            module_name, top_name, name or top_name, exact=bool(name)
        )
        if name and script_name != name:
            self._claim(name, exact=True)
            self._definitions.append(f"{name} = {script_name}")
            return name
        return script_name

    def claim(self, preferred: str) -> str:
        """Reserve a unique name without copying anything (for objects passed in at run time)."""
        return self._claim(preferred)

    def add_at(self, position: int, obj: Any) -> str:
        """Like :meth:`add`, with what it copies placed at `position` among the
        definitions collected so far (the runtime's part of a script before the
        initializers, when a late choice adds to it)."""
        count = len(self._definitions)
        name = self.add(obj)
        added = self._definitions[count:]
        del self._definitions[count:]
        self._definitions[position:position] = added
        return name

    @property
    def definitions(self) -> list[str]:
        return list(self._definitions)

    @property
    def imports(self) -> list[list[str]]:
        """Absolute import lines in groups (standard library, then third party), sorted."""
        groups: dict[bool, set[str]] = {True: set(), False: set()}
        for (module, name), alias in self._import_names.items():
            top = module.split(".")[0]
            if name is None:
                line = (
                    f"import {module}"
                    if alias == top
                    else f"import {module} as {alias}"
                )
            else:
                suffix = "" if alias == name else f" as {alias}"
                line = f"from {module} import {name}{suffix}"
            groups[top in sys.stdlib_module_names].add(line)
        return [
            _sorted_imports(groups[stdlib])
            for stdlib in (True, False)
            if groups[stdlib]
        ]

    @property
    def imported_modules(self) -> set[str]:
        return {module.split(".")[0] for module, _ in self._import_names}

    # -------------------------------------------------------------- internals
    def _claim(self, preferred: str, exact: bool = False) -> str:
        if preferred not in self._taken:
            self._taken.add(preferred)
            return preferred
        if exact:
            raise InlineError(
                f"The name {preferred!r} is already used in the generated script."
            )
        number = 2
        while f"{preferred}_{number}" in self._taken:
            number += 1
        self._taken.add(f"{preferred}_{number}")
        return f"{preferred}_{number}"

    def _import(self, module: str, name: Optional[str], preferred: str) -> str:
        key = (module, name)
        if key not in self._import_names:
            if name is None and "." in module and preferred == module.split(".")[0]:
                # `import a.b` binds `a`; reuse it when `a` is imported already.
                if (
                    preferred in self._taken
                    and (preferred, None) not in self._import_names
                ):
                    raise InlineError(
                        f"Cannot import {module}: the name {preferred!r} is taken."
                    )
            existing = (
                self._import_names.get((preferred, None)) if name is None else None
            )
            self._import_names[key] = existing or self._claim(preferred)
        return self._import_names[key]

    def _definition(
        self, module_name: str, top_name: str, preferred: str, exact: bool = False
    ) -> str:
        key = (module_name, top_name)
        if key in self._definition_names:
            return self._definition_names[key]
        script_name = self._claim(preferred, exact)
        self._definition_names[key] = script_name
        parsed = _parsed(module_name)
        stmt = parsed.statement_defining(top_name)
        dropped, dropped_nodes = self._registration_decorators(parsed, stmt)
        renames: dict[int, str] = {}
        for dependency in parsed.dependencies(stmt, dropped_nodes):
            new_name = self._dependency(parsed, dependency)
            if new_name != dependency.local_name:
                for node in dependency.access_nodes:
                    renames[id(node)] = new_name
        if script_name != top_name:
            renames.update(self._definition_name_nodes(stmt, top_name, script_name))
        self._definitions.append(parsed.code(stmt, renames, dropped))
        return script_name

    def _dependency(self, parsed: _ParsedModule, dependency: _Dependency) -> str:
        assignment = dependency.assignment
        if not isinstance(assignment, ImportAssignment):
            return self._definition(
                parsed.name, dependency.local_name, dependency.local_name
            )
        module, name = parsed.resolve_import(assignment)
        if not _is_internal(module):
            return self._import(module, name, dependency.local_name)
        if name is None:
            raise InlineError(
                f"Cannot inline code from {parsed.name!r}: it imports the module {module!r} "
                "whole; scripts never import padiff_gen.",
                f"Import the functions it needs by name: from {module} import ...",
            )
        obj = getattr(importlib.import_module(module), name)
        if isinstance(obj, (types.FunctionType, type)):
            real_module, real_name = locate(obj)
        else:
            real_module, real_name = module, name
        real_module, real_name = self._substitutes.get(
            (real_module, real_name), (real_module, real_name)
        )
        return self._definition(real_module, real_name, dependency.local_name)

    def _registration_decorators(
        self, parsed: _ParsedModule, stmt: Statement
    ) -> tuple[frozenset[int], frozenset[int]]:
        """Decorators that only register the function with padiff_gen (dropped when copied)."""
        decorators = getattr(stmt, "decorators", ())
        dropped, nodes = set(), set()
        for decorator in decorators:
            ids = _node_ids(decorator)
            for dependency in parsed.dependencies(decorator, frozenset()):  # type: ignore[arg-type]
                assignment = dependency.assignment
                if isinstance(assignment, ImportAssignment) and _is_internal(
                    parsed.resolve_import(assignment)[0]
                ):
                    dropped.add(id(decorator))
                    nodes |= ids
                    break
        return frozenset(dropped), frozenset(nodes)

    @staticmethod
    def _definition_name_nodes(stmt: Statement, old: str, new: str) -> dict[int, str]:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            return {id(stmt.name): new}
        renames = {}
        for node_id, node in _names_in(stmt):
            if node.value == old:
                renames[node_id] = new
        return renames


def _sorted_imports(lines: set[str]) -> list[str]:
    """``import x`` lines before ``from x import y`` lines, each alphabetical."""
    return sorted(lines, key=lambda line: (line.startswith("from "), line))


def _names_in(stmt: cst.CSTNode) -> list[tuple[int, cst.Name]]:
    found = []

    class Collect(cst.CSTVisitor):
        def visit_Name(self, n: cst.Name) -> None:
            found.append((id(n), n))

    stmt.visit(Collect())
    return found
