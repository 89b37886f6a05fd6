"""``[tool.padiff-gen]`` in a model repository's ``pyproject.toml``: the targets to emit.

Schema (every key but ``output``, ``base`` and ``raw`` is optional)::

    [tool.padiff-gen]
    init-modules = ["myrepo.inits"]   # imported for every target, before the target's own
    layer-map = "auto"                # default for every target: "auto" or "none"

    [[tool.padiff-gen.targets]]
    name = "resnet"                   # default: the output's file name without .py
    output = "weights/init_resnet.py" # relative to the folder holding pyproject.toml
    base = "torch:myrepo.torch_models.ResNet18"
    raw = "paddle:myrepo.paddle_models.ResNet18"
    base-kwargs = { num_classes = 10 }
    raw-kwargs = { num_classes = 10 }
    maps = ["fc=head.fc"]             # or [["fc", "head.fc"]]
    layer-map = "auto"
    init-modules = ["myrepo.resnet_inits"]
    layouts = ["qkv_proj=q_proj,k_proj,v_proj/8"]  # --layout: where shapes cannot tell
    inputs = ["1,8:int64:32000"]      # --input: to run both models on to decide layouts

Model and initializer modules are imported relative to that folder, and outputs and the
recorded ``-o`` paths are relative to it, so every target means the same thing wherever in
the repository padiff-gen runs.
"""

from __future__ import annotations

import difflib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ..errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

SECTION = "tool.padiff-gen"
TOP_KEYS = ("targets", "init-modules", "layer-map", "match")
TARGET_KEYS = (
    "name",
    "output",
    "base",
    "raw",
    "base-kwargs",
    "raw-kwargs",
    "maps",
    "layer-map",
    "match",
    "init-modules",
    "layouts",
    "inputs",
)
LAYER_MAPS = ("auto", "none")
MATCHES = ("auto", "order", "names")


@dataclass(frozen=True)
class Target:
    """One script to emit: the models, the options, and where it goes (root-relative)."""

    name: str
    output: Optional[str]  # None only for a recorded command that wrote to stdout
    base: str
    raw: str
    base_kwargs: dict = field(default_factory=dict)
    raw_kwargs: dict = field(default_factory=dict)
    maps: tuple[str, ...] = ()
    layer_map: str = "auto"
    match: str = "auto"
    init_modules: tuple[str, ...] = ()
    layouts: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    # Where the target was configured, and which of its values the command line replaced
    # (attribute names): messages then name the right place. Not part of its identity.
    config: str = field(default="", compare=False)
    from_flags: frozenset[str] = field(default=frozenset(), compare=False)

    def options(self) -> dict:
        """The target's keyword arguments for padiff_gen.api (emit, verify, inspect)."""
        return {
            "base_kwargs": self.base_kwargs,
            "raw_kwargs": self.raw_kwargs,
            "layer_map": self.layer_map,
            "match": self.match,
            "maps": list(self.maps),
            "init_modules": list(self.init_modules),
            "layouts": list(self.layouts),
            "inputs": list(self.inputs),
        }

    def argv(self) -> list[str]:
        """The ``padiff-gen emit`` arguments for this target (as its header records them)."""
        words = ["--base", self.base, "--raw", self.raw]
        for flag, kwargs in (
            ("--base-kwargs", self.base_kwargs),
            ("--raw-kwargs", self.raw_kwargs),
        ):
            if kwargs:
                words += [flag, compact_json(kwargs)]
        for item in self.maps:
            words += ["--map", item]
        if self.layer_map != "auto":
            words += ["--layer-map", self.layer_map]
        if self.match != "auto":
            words += ["--match", self.match]
        for module in self.init_modules:
            words += ["--init-module", module]
        for layout in self.layouts:
            words += ["--layout", layout]
        for text in self.inputs:
            words += ["--input", text]
        return [*words, "-o", self.output] if self.output else words


@dataclass(frozen=True)
class Config:
    path: Path  # the pyproject.toml
    targets: tuple[Target, ...]

    @property
    def root(self) -> Path:
        return self.path.parent

    def names(self) -> str:
        return ", ".join(target.name for target in self.targets) or "none"

    def target_for(self, file: Path) -> Optional[Target]:
        """The target whose output is ``file``, if any."""
        wanted = file.resolve()
        for target in self.targets:
            if (self.root / target.output).resolve() == wanted:
                return target
        return None


def compact_json(value: Any) -> str:
    """kwargs as the recorded command writes them: sorted keys, no spaces."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def find_config(start: Optional[Path] = None) -> Optional[Config]:
    """The nearest pyproject.toml with a [tool.padiff-gen] table, from ``start`` upwards.

    The search stops at the top of a git or hg checkout, so a repository never picks up the
    configuration of whatever folder it was cloned into.
    """
    directory = (start or Path.cwd()).resolve()
    for folder in (directory, *directory.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file() and _mentions_section(candidate):
            config = load_config(candidate)
            if config is not None:
                return config
        if (folder / ".git").exists() or (folder / ".hg").exists():
            return None
    return None


def _mentions_section(path: Path) -> bool:
    # Cheap pre-check: an unrelated pyproject.toml is never parsed, so its errors are not ours.
    try:
        return "padiff-gen" in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def load_config(path: Path) -> Optional[Config]:
    """The configuration in ``path``; None when it has no [tool.padiff-gen] table."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"Cannot read {path}: {error}.", "Fix the file.") from None
    except tomllib.TOMLDecodeError as error:
        raise UsageError(
            f"{path} is not valid TOML: {error}.",
            "Fix the syntax (padiff-gen reads its [tool.padiff-gen] table).",
        ) from None
    section = data.get("tool", {}).get("padiff-gen")
    if section is None:
        return None
    where = f"[{SECTION}] in {path}"
    _expect(section, dict, where, "a table")
    _check_keys(section, TOP_KEYS, where)
    shared_modules = _string_list(section, "init-modules", where)
    layer_map = _layer_map(section, "auto", where)
    match = _choice(section, "match", "auto", MATCHES, where)
    raw_targets = section.get("targets", [])
    _expect(raw_targets, list, f"`targets` of {where}", "an array of tables")
    targets = tuple(
        _target(entry, index, path, shared_modules, layer_map, match)
        for index, entry in enumerate(raw_targets, start=1)
    )
    _check_unique(targets, path)
    return Config(path, targets)


def _target(
    entry: Any,
    index: int,
    path: Path,
    shared_modules: tuple[str, ...],
    default_layer_map: str,
    default_match: str,
) -> Target:
    where = f"target {index} ([[{SECTION}.targets]]) in {path}"
    _expect(entry, dict, where, "a table")
    _check_keys(entry, TARGET_KEYS, where)
    for key in ("output", "base", "raw"):
        if key not in entry:
            raise UsageError(
                f"{where} has no `{key}`.",
                'Every target needs output, base and raw, e.g. output = "init_weights.py", '
                'base = "torch:models.Net", raw = "paddle:models.Net".',
            )
        _expect(entry[key], str, f"`{key}` of {where}", "a string")
    output = entry["output"]
    if Path(output).is_absolute() or ".." in Path(output).parts:
        raise UsageError(
            f"`output` of {where} is {output!r}, which leaves the project folder.",
            f'Give a path relative to {path.parent}, e.g. output = "init_weights.py".',
        )
    name = entry.get("name", Path(output).stem)
    _expect(name, str, f"`name` of {where}", "a string")
    return Target(
        name=name,
        output=Path(output).as_posix(),
        base=entry["base"],
        raw=entry["raw"],
        base_kwargs=_kwargs(entry, "base-kwargs", where),
        raw_kwargs=_kwargs(entry, "raw-kwargs", where),
        maps=_maps(entry, where),
        layer_map=_layer_map(entry, default_layer_map, where),
        match=_choice(entry, "match", default_match, MATCHES, where),
        init_modules=shared_modules
        + tuple(
            m
            for m in _string_list(entry, "init-modules", where)
            if m not in shared_modules
        ),
        layouts=_string_list(entry, "layouts", where),
        inputs=_string_list(entry, "inputs", where),
        config=str(path),
    )


def _expect(value: Any, kind: type, what: str, described: str) -> None:
    if not isinstance(value, kind):
        raise UsageError(
            f"{what} must be {described}, got {type(value).__name__} {value!r}.",
            "See docs/commands.md for the [tool.padiff-gen] schema.",
        )


def _check_keys(table: dict, allowed: tuple[str, ...], where: str) -> None:
    for key in table:
        if key not in allowed:
            near = difflib.get_close_matches(key.replace("_", "-"), allowed, n=1)
            suggestion = f" Did you mean `{near[0]}`?" if near else ""
            raise UsageError(
                f"{where} has an unknown key `{key}`.{suggestion}",
                f"The keys are: {', '.join(allowed)}.",
            )


def _string_list(table: dict, key: str, where: str) -> tuple[str, ...]:
    value = table.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(
            f"`{key}` of {where} must be a list of strings, got {value!r}.",
            f'Write e.g. {key} = ["myrepo.inits"].',
        )
    return tuple(value)


def _layer_map(table: dict, default: str, where: str) -> str:
    return _choice(table, "layer-map", default, LAYER_MAPS, where)


def _choice(table: dict, key: str, default: str, allowed: tuple, where: str) -> str:
    value = table.get(key, default)
    if value not in allowed:
        raise UsageError(
            f"`{key}` of {where} is {value!r}.",
            "Use " + " or ".join(f'"{choice}"' for choice in allowed) + ".",
        )
    return value


def _kwargs(table: dict, key: str, where: str) -> dict:
    value = table.get(key, {})
    _expect(value, dict, f"`{key}` of {where}", "a table of keyword arguments")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise UsageError(
            f"`{key}` of {where} holds a value JSON cannot carry ({value!r}).",
            "Use strings, numbers, booleans, lists and tables only (no dates).",
        ) from None
    return dict(value)


def _maps(table: dict, where: str) -> tuple[str, ...]:
    items = table.get("maps", [])
    _expect(items, list, f"`maps` of {where}", "a list")
    maps = []
    for item in items:
        if (
            isinstance(item, list)
            and len(item) == 2
            and all(isinstance(p, str) and p for p in item)
        ):
            item = f"{item[0]}={item[1]}"
        if (
            not isinstance(item, str)
            or item.count("=") != 1
            or item.startswith("=")
            or item.endswith("=")
        ):
            raise UsageError(
                f"`maps` of {where} has the entry {item!r}.",
                'Write each pair as "BASE_PATH=RAW_PATH" or ["BASE_PATH", "RAW_PATH"].',
            )
        maps.append(item)
    return tuple(maps)


def _check_unique(targets: tuple[Target, ...], path: Path) -> None:
    for attribute in ("name", "output"):
        seen: set[str] = set()
        for target in targets:
            value = getattr(target, attribute)
            if value in seen:
                raise UsageError(
                    f"Two targets in [{SECTION}] of {path} have the {attribute} {value!r}.",
                    f"Give every target its own {attribute}.",
                )
            seen.add(value)
