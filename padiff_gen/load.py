"""Load: turn a model spec (``torch:pkg.module.Net``) into a model object.

For analysis, models are built without weights (torch's meta device, paddle's LazyGuard),
falling back to a normal build per model when the lazy build fails.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import sys
import types
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .errors import SpecError, UsageError
from .frameworks import FRAMEWORKS, framework_of_layer, import_framework, lazy_build


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
        return {
            "framework": self.framework,
            "target": self.target,
            "kwargs": dict(self.kwargs),
        }


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
    flag = f"--{role} " if role else ""
    framework, sep, target = text.partition(":")
    if not sep or not target:
        raise SpecError(
            f"The model spec {flag}{text!r} has no framework prefix.",
            f"Write it as torch:package.module.Class or paddle:package.module.Class.",
        )
    if framework not in FRAMEWORKS:
        raise SpecError(
            f"The model spec {flag}{text!r} names an unknown framework {framework!r}.",
            f"Use torch:{target} or paddle:{target}.",
        )
    if not all(part.isidentifier() for part in target.split(".")):
        raise SpecError(
            f"The model spec {flag}{text!r} is not a dotted Python path.",
            "Name a class, factory or model instance, e.g. torch:models.resnet.ResNet18.",
        )
    return ModelSpec(framework, target, dict(kwargs or {}))


def _where(spec: ModelSpec, role: str) -> str:
    """The spec as the user wrote it, with its flag: `--base torch:pkg.Net`."""
    return f"--{role} {spec.text}" if role else spec.text


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
    raise SpecError(
        f"Cannot import module {last_missing or parts[0]!r} for {_where(spec, role)}.",
        "Run padiff-gen from the directory that holds the module, or add it to PYTHONPATH.",
    )


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
            suggestion = f" Did you mean {', '.join(near)}?" if near else ""
            raise SpecError(
                f"{owner!r} has no attribute {attribute!r} (from {_where(spec, role)}).{suggestion}",
                "Name a class, factory or model instance defined in that module.",
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
            f"which is not a {'torch.nn.Module' if spec.framework == 'torch' else 'paddle.nn.Layer'}.",
            "Name a model class, a zero-argument factory returning a model, or a model instance.",
        )
    raise SpecError(
        f"{spec.text} is a {actual} model, not a {spec.framework} one.",
        f"Write {actual}:{spec.target}.",
    )


def _check_class_framework(spec: ModelSpec, cls: type) -> None:
    for framework in FRAMEWORKS:
        module = sys.modules.get(framework)
        if module is None:
            continue
        base = module.nn.Module if framework == "torch" else module.nn.Layer
        if issubclass(cls, base):
            if framework != spec.framework:
                raise SpecError(
                    f"{spec.text} is a {framework} model class, not a {spec.framework} one.",
                    f"Write {framework}:{spec.target}.",
                )
            return
    raise SpecError(
        f"{spec.text} is the class {cls.__module__}.{cls.__qualname__}, which is not a "
        f"{'torch.nn.Module' if spec.framework == 'torch' else 'paddle.nn.Layer'}.",
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
        flag = f"--{role}-kwargs" if role else "the kwargs"
        # Show the arguments it still needs, so the hint is the fix rather than a pattern.
        named = (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        example = {
            name: spec.kwargs.get(name, "...")
            for name, parameter in signature.parameters.items()
            if parameter.kind in named
            and (name in spec.kwargs or parameter.default is inspect.Parameter.empty)
        }
        example = json.dumps(example or {"num_classes": 10})
        takes = [n for n, p in signature.parameters.items() if p.kind in named]
        raise SpecError(
            f"{spec.text} cannot be called with {json.dumps(dict(spec.kwargs))}: {error}."
            + (f" It takes: {', '.join(takes)}." if takes else ""),
            f"Pass its constructor arguments as JSON with {flag}, e.g. {flag} '{example}'.",
        ) from None


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def build_model(spec: ModelSpec, *, lazy: bool, role: str = "") -> BuiltModel:
    """Build the model a spec names, without weights when ``lazy``."""
    target = resolve_spec(spec, role)
    if framework_of_layer(target) is not None:  # a model instance
        if spec.kwargs:
            raise SpecError(
                f"{spec.text} is a model instance, so it takes no constructor arguments.",
                f"Drop --{role}-kwargs or name the model class instead.",
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
