"""Load: turn a model spec (``torch:pkg.module.Net``) into a model object.

For analysis, models are built without weights (torch's meta device, paddle's LazyGuard),
falling back to a normal build per model when the lazy build fails.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import inspect
import json
import os
import pkgutil
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional

from ..errors import SpecError, UsageError
from ..knowledge.frameworks import (
    FRAMEWORKS,
    adapter,
    framework_of_layer,
    import_framework,
    lazy_build,
)


@dataclass(frozen=True)
class ModelSpec:
    """``FW:dotted.path`` plus constructor keyword arguments."""

    framework: str
    target: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return f"{self.framework}:{self.target}"

    def as_dict(self) -> dict:
        """The spec as scripts record it (kwargs sorted, as the recorded command has
        them, so that the same models always give the same text)."""
        return {
            "framework": self.framework,
            "target": self.target,
            "kwargs": _sorted(dict(self.kwargs)),
        }


def _sorted(value):
    """A JSON-like value with every dict's keys in sorted order."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


# Other names people write for the frameworks: the projects' own names, and the short
# forms transformers (return_tensors="pt") and PaddleNLP (return_tensors="pd") use.
FRAMEWORK_ALIASES = {
    "torch": "torch",
    "pytorch": "torch",
    "pt": "torch",
    "paddle": "paddle",
    "paddlepaddle": "paddle",
    "pd": "paddle",
}


def canonical_spec_text(text: str) -> str:
    """``pytorch:pkg.Net`` -> ``torch:pkg.Net``; anything else unchanged."""
    word, sep, target = text.partition(":")
    framework = FRAMEWORK_ALIASES.get(word.strip().lower())
    return f"{framework}:{target}" if sep and framework else text


# ---------------------------------------------------------------- where inputs came from


@dataclass(frozen=True)
class InputSource:
    """Where one model's spec and constructor arguments were written, for messages.

    From the command line by default (``--base`` / ``--base-kwargs``); a configured
    target names its key, target and file instead.
    """

    role: str  # "base" or "raw"
    target: str = ""  # the target's name when the values come from a configuration
    config: str = ""  # that configuration's file
    spec_from_flag: bool = True
    kwargs_from_flag: bool = True

    def _in_config(self) -> str:
        return f"in target '{self.target}' of {self.config}"

    def spec(self, text: str) -> str:
        """``--base torch:pkg.Net`` or ``base = "torch:pkg.Net" in target 'T' of FILE``."""
        if self.spec_from_flag:
            return f"--{self.role} {text}"
        return f'{self.role} = "{text}" {self._in_config()}'

    def kwargs(self) -> str:
        """``--base-kwargs`` or ```base-kwargs` in target 'T' of FILE``."""
        if self.kwargs_from_flag:
            return f"--{self.role}-kwargs"
        return f"`{self.role}-kwargs` {self._in_config()}"

    def kwargs_as_written(self, kwargs: Mapping[str, Any]) -> str:
        """Constructor arguments as they are written there: JSON or a TOML table."""
        if self.kwargs_from_flag:
            return f"--{self.role}-kwargs '{json.dumps(dict(kwargs))}'"
        items = ", ".join(f"{key} = {json.dumps(v)}" for key, v in kwargs.items())
        return f"{self.role}-kwargs = {{ {items} }} {self._in_config()}"


_SOURCES: contextvars.ContextVar[dict[str, InputSource]] = contextvars.ContextVar(
    "padiff_gen_input_sources", default={}
)


def input_source(role: str) -> InputSource:
    """Where the ``role`` model's spec and kwargs came from (the flags unless told)."""
    return _SOURCES.get().get(role) or InputSource(role or "base")


@contextlib.contextmanager
def input_sources(*sources: InputSource) -> Iterator[None]:
    """Inside, messages about these models name where their inputs were written."""
    token = _SOURCES.set({**_SOURCES.get(), **{s.role: s for s in sources}})
    try:
        yield
    finally:
        _SOURCES.reset(token)


@dataclass(frozen=True)
class BuiltModel:
    model: Any
    lazy: bool
    note: str = ""


def parse_kwargs(text: Optional[str], flag: str) -> dict:
    """Parse a ``--base-kwargs`` / ``--raw-kwargs`` JSON object."""
    if text is None or text == "":
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(
            f"{flag} is not valid JSON: {error.msg} at character {error.pos} of {text!r}.",
            f"""Pass a JSON object, e.g. {flag} '{{"num_classes": 10}}'.""",
        ) from None
    if not isinstance(value, dict):
        raise UsageError(
            f"{flag} must be a JSON object of keyword arguments, got {type(value).__name__}.",
            f"""Pass e.g. {flag} '{{"num_classes": 10}}'.""",
        )
    return value


def parse_spec(
    text: str, kwargs: Optional[Mapping[str, Any]] = None, role: str = ""
) -> ModelSpec:
    """``FW:dotted.path`` as a ModelSpec; framework aliases (``pytorch``, ``pd``...) are
    accepted and written the standard way."""
    where = input_source(role).spec(text) if role else repr(text)
    word, sep, target = text.partition(":")
    if not sep or not target:
        raise SpecError(
            f"The model spec {where} has no framework prefix.",
            f"Write it as torch:package.module.Class or paddle:package.module.Class.",
        )
    if not all(part.isidentifier() for part in target.split(".")):
        raise SpecError(
            f"The model spec {where} is not a dotted Python path.",
            "Name a class, factory or model instance, e.g. torch:models.resnet.ResNet18.",
        )
    framework = FRAMEWORK_ALIASES.get(word.strip().lower())
    if framework is None:
        raise SpecError(
            f"The model spec {where} names an unknown framework {word!r}.",
            _framework_hint(word, target),
        )
    return ModelSpec(framework, target, dict(kwargs or {}))


def _framework_hint(word: str, target: str) -> str:
    """Write the framework the object belongs to, when it can be told without building."""
    try:
        obj = resolve_spec(ModelSpec("torch", target))
    except Exception:  # the module may not import at all: then say what the words are
        obj = None
    found = framework_of_layer(obj)
    if found is None and isinstance(obj, type):
        found = next(
            (
                framework
                for framework in FRAMEWORKS
                if _base_class(framework) is not None
                and issubclass(obj, _base_class(framework))
            ),
            None,
        )
    if found is not None:
        return f"{target} is a {found} model: write {found}:{target}."
    near = difflib.get_close_matches(word.lower(), list(FRAMEWORK_ALIASES), n=1)
    if near:
        return f"Did you mean {FRAMEWORK_ALIASES[near[0]]}:{target}?"
    return f"Use torch:{target} or paddle:{target}."


def _base_class(framework: str) -> Optional[type]:
    return adapter(framework).loaded_layer_class()


def _where(spec: ModelSpec, role: str) -> str:
    """The spec as the user wrote it, with where: `--base torch:pkg.Net`."""
    return input_source(role).spec(spec.text) if role else spec.text


def _import_longest_prefix(
    spec: ModelSpec, role: str = ""
) -> tuple[types.ModuleType, list[str]]:
    parts = spec.target.split(".")
    last_missing = None
    for split in range(len(parts), 0, -1):
        module_name = ".".join(parts[:split])
        try:
            return importlib.import_module(module_name), parts[split:]
        except ModuleNotFoundError as error:
            # Only "this very module is missing" means: try a shorter prefix.
            if error.name is None or not module_name.startswith(error.name):
                raise SpecError(
                    f"Importing module {module_name!r} for {_where(spec, role)} failed: {error}.",
                    "Install the missing package or fix the import in that module.",
                ) from error
            last_missing = module_name
        except Exception as error:  # the user's module raised while importing
            raise SpecError(
                f"Importing module {module_name!r} for {_where(spec, role)} raised "
                f"{type(error).__name__}: {error}.",
                "Fix the error in that module (run with --debug for the traceback).",
            ) from error
    missing = last_missing or parts[0]
    near = _near_modules(missing)
    raise SpecError(
        f"Cannot import module {missing!r} for {_where(spec, role)}."
        + (f" Did you mean {', '.join(near)}?" if near else ""),
        "Run padiff-gen from the directory that holds the module, or add it to PYTHONPATH.",
    )


def _near_modules(name: str, parent: Optional[types.ModuleType] = None) -> list[str]:
    """Importable modules named like ``name``: the package's own, or top-level ones
    (those in the working directory first)."""
    short = name.rpartition(".")[2]
    if parent is not None:
        prefix = parent.__name__ + "."
        found = [m.name for m in pkgutil.iter_modules(getattr(parent, "__path__", []))]
        return [prefix + n for n in difflib.get_close_matches(short, found, n=3)]
    # Top level: the working directory's modules first, then everything installed (a
    # stricter cutoff there, since thousands of names would match something).
    local = [m.name for m in pkgutil.iter_modules([os.getcwd()])]
    near = difflib.get_close_matches(short, local, n=3)
    if near:
        return near
    everything = [m.name for m in pkgutil.iter_modules()]
    return difflib.get_close_matches(short, everything, n=3, cutoff=0.8)


def resolve_spec(spec: ModelSpec, role: str = "") -> Any:
    """The object a spec names: a class, a factory function or a model instance."""
    import_framework(spec.framework)
    obj, attributes = _import_longest_prefix(spec, role)
    if not attributes and isinstance(obj, types.ModuleType) and "." in spec.target:
        # `paddle.vision.models.alexnet` (and torchvision's) is a submodule that its
        # package shadows with a factory of the same name; the factory is what is meant,
        # and what the generated script's getattr-based lookup finds.
        package, _, name = spec.target.rpartition(".")
        shadow = getattr(sys.modules.get(package), name, obj)
        if not isinstance(shadow, types.ModuleType):
            obj = shadow
    owner = spec.target[: len(spec.target) - len(".".join(attributes))].rstrip(".")
    for attribute in attributes:
        if not hasattr(obj, attribute):
            candidates = [
                name
                for name in dir(obj)
                if not name.startswith("_")
                and not isinstance(getattr(obj, name, None), types.ModuleType)
            ]
            near = difflib.get_close_matches(attribute, candidates, n=3)
            what = "attribute"
            hint = "Name a class, factory or model instance defined in that module."
            if isinstance(obj, types.ModuleType) and hasattr(obj, "__path__"):
                what = "module or attribute"  # a package: the name may be a module
                near = _near_modules(f"{owner}.{attribute}", obj) + near
                hint = "Fix the dotted path to the module that defines the model."
            suggestion = f" Did you mean {', '.join(near[:3])}?" if near else ""
            raise SpecError(
                f"{owner!r} has no {what} {attribute!r} (from {_where(spec, role)})."
                + suggestion,
                hint,
            )
        obj = getattr(obj, attribute)
        owner = f"{owner}.{attribute}"
    return obj


def _check_framework(spec: ModelSpec, model: Any) -> None:
    actual = framework_of_layer(model)
    if actual == spec.framework:
        return
    if actual is None:
        raise SpecError(
            f"{spec.text} gave a {type(model).__module__}.{type(model).__qualname__}, "
            f"which is not a {adapter(spec.framework).layer_class_name}.",
            "Name a model class, a zero-argument factory returning a model, or a model instance.",
        )
    raise SpecError(
        f"{spec.text} is a {actual} model, not a {spec.framework} one.",
        f"Write {actual}:{spec.target}.",
    )


def _check_class_framework(spec: ModelSpec, cls: type) -> None:
    for framework in FRAMEWORKS:
        base = adapter(framework).loaded_layer_class()
        if base is None:
            continue
        if issubclass(cls, base):
            if framework != spec.framework:
                raise SpecError(
                    f"{spec.text} is a {framework} model class, not a {spec.framework} one.",
                    f"Write {framework}:{spec.target}.",
                )
            return
    raise SpecError(
        f"{spec.text} is the class {cls.__module__}.{cls.__qualname__}, which is not a "
        f"{adapter(spec.framework).layer_class_name}.",
        "Name a model class, a zero-argument factory returning a model, or a model instance.",
    )


def _check_arguments(spec: ModelSpec, target: Any, role: str) -> None:
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(**spec.kwargs)
    except TypeError as error:
        source = input_source(role)
        named = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        takes = [n for n, p in signature.parameters.items() if p.kind in named]
        required = [
            n
            for n, p in signature.parameters.items()
            if p.kind in named and p.default is inspect.Parameter.empty
        ]
        # The fix, not a pattern: each unknown keyword renamed to the one it resembles
        # (dropped when none does), and the required arguments still missing.
        fixed: dict[str, Any] = {}
        renamed = []
        for key, value in spec.kwargs.items():
            if key in takes:
                fixed[key] = value
                continue
            free = [n for n in takes if n not in spec.kwargs]
            near = difflib.get_close_matches(key, free, n=1)
            if near:
                fixed[near[0]] = value
                renamed.append((key, near[0]))
        for name in required:
            fixed.setdefault(name, "...")
        where = _where(spec, role) if role else spec.text
        message = (
            f"{where} cannot be called with {json.dumps(dict(spec.kwargs))}: {error}."
            + _did_you_mean(renamed)
            + (f" It takes: {', '.join(takes)}." if takes else "")
        )
        if fixed:
            hint = f"Write {source.kwargs_as_written(fixed)}."
        else:
            hint = f"Remove the constructor arguments from {source.kwargs()}."
        raise SpecError(message, hint) from None


def _did_you_mean(renamed: list[tuple[str, str]]) -> str:
    if not renamed:
        return ""
    if len(renamed) == 1:
        return f" Did you mean `{renamed[0][1]}`?"
    return " Did you mean " + ", ".join(f"`{n}` for `{o}`" for o, n in renamed) + "?"


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def build_model(spec: ModelSpec, *, lazy: bool, role: str = "") -> BuiltModel:
    """Build the model a spec names, without weights when ``lazy``."""
    target = resolve_spec(spec, role)
    if framework_of_layer(target) is not None:  # a model instance
        if spec.kwargs:
            raise SpecError(
                f"{spec.text} is a model instance, so it takes no constructor arguments.",
                f"Drop {input_source(role).kwargs()} or name the model class instead.",
            )
        return BuiltModel(target, lazy=False)
    if isinstance(target, type):
        _check_class_framework(spec, target)
    elif not callable(target):
        raise SpecError(
            f"{spec.text} is {_article(type(target).__name__)} {type(target).__name__}, "
            "not a model, model class or factory.",
            "Name a model class, a zero-argument factory returning a model, or a model instance.",
        )
    _check_arguments(spec, target, role)
    note = ""
    if lazy:
        try:
            with lazy_build(spec.framework):
                model = target(**spec.kwargs)
            _check_framework(spec, model)
            return BuiltModel(model, lazy=True)
        except SpecError:
            raise
        except (
            Exception
        ) as error:  # data-dependent constructors fail without real weights
            note = (
                f"note: {spec.text} could not be built without weights "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                "built it normally instead."
            )
    try:
        model = target(**spec.kwargs)
    except Exception as error:
        raise SpecError(
            f"Building {spec.text} raised {type(error).__name__}: {error}.",
            "Fix the constructor or its arguments (run with --debug for the traceback).",
        ) from error
    _check_framework(spec, model)
    return BuiltModel(model, lazy=False, note=note)
