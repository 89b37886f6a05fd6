"""The SpecialInit registry: initializers for sub-layers whose weights need custom copying.

An initializer has the signature ``init_logic(base_model, raw_model)`` and copies the weights
of one base sub-layer into the matching raw sub-layer. It is keyed by the frameworks and class
names of both sides, exactly as in PaDiff::

    @global_special_init_pool.register("torch", "BatchNorm2d", "paddle", "BatchNorm2D")
    def init_batchnorm(base_model, raw_model): ...

Generated scripts inline the initializer's source, so it must be a module-level function.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Optional

from ..errors import UsageError

FRAMEWORKS = ("torch", "paddle")

# validate(base_layer, raw_layer) -> None when the initializer can copy this pair, else the
# reason it cannot, or a SettingDifference when it can but the layers still compute apart.
Validator = Callable[[Any, Any], Optional[str]]
# copies_as_is(base_layer, raw_layer) -> True when, for these two layers, the initializer
# would only copy each tensor as it is: the pair is then copied by the script's tensor
# table instead, where a reviewer sees it and a checkpoint conversion streams it.
AsIsTest = Callable[[Any, Any], bool]


class SettingDifference(str):
    """What a validator returns when the weights copy exactly but a setting that is not
    a weight differs (a BatchNorm's eps, say): the two layers then compute slightly
    different outputs. ``emit`` goes on, says so, and marks the pair in the script.

    The text is the difference itself, short enough for a table comment:
    ``torch eps=0.001, paddle epsilon=1e-05``.
    """


class TrainingDifference(SettingDifference):
    """A setting that differs between the layers but changes only training (gradients,
    initialisation), not what they compute: torch's Embedding padding_idx against a
    paddle Embedding without one. ``emit`` says so and marks the pair."""


@dataclass(frozen=True, order=True)
class InitKey:
    base_framework: str
    base_class: str
    raw_framework: str
    raw_class: str

    def describe(self) -> str:
        return (
            f"{self.base_framework} {self.base_class} -> "
            f"{self.raw_framework} {self.raw_class}"
        )


@dataclass(frozen=True)
class Initializer:
    key: InitKey
    func: Callable[[Any, Any], None] = field(compare=False)
    origin: str = "built-in"
    validate: Optional[Validator] = field(default=None, compare=False)
    copies_as_is: Optional[AsIsTest] = field(default=None, compare=False)
    # False: the auto layer map never claims a layer by this entry's classes; the
    # analysis gives it only the pairs it was made for (see padiff_gen.analysis.analyze).
    by_class: bool = field(default=True, compare=False)

    @property
    def name(self) -> str:
        return getattr(self.func, "__name__", repr(self.func))


def _origin_of(func: Callable) -> str:
    module = getattr(func, "__module__", "") or ""
    if module.startswith("padiff_gen.special_init"):
        return "built-in"
    return module or "unknown"


def _check_framework(value: str, argument: str) -> None:
    if value not in FRAMEWORKS:
        raise UsageError(
            f"Unknown framework {value!r} given as {argument} of a special initializer.",
            'Use "torch" or "paddle".',
        )


class SpecialInitPool:
    """Initializers by (base framework, base class, raw framework, raw class)."""

    def __init__(self) -> None:
        self._entries: dict[InitKey, Initializer] = {}
        # Every registration ever made, in order: lets a run with several targets give each
        # target only the --init-module registrations it names (see padiff_gen.cli.targets).
        self._history: list[Initializer] = []
        self._origins: list[str] = []

    def add(
        self,
        base_framework: str,
        base_class: str,
        raw_framework: str,
        raw_class: str,
        func: Callable[[Any, Any], None],
        *,
        origin: Optional[str] = None,
        validate: Optional[Validator] = None,
        copies_as_is: Optional[AsIsTest] = None,
        by_class: bool = True,
    ) -> Initializer:
        _check_framework(base_framework, "base_framework")
        _check_framework(raw_framework, "raw_framework")
        if not callable(func):
            raise UsageError(
                f"The special initializer for {base_class} -> {raw_class} is not callable "
                f"({func!r}).",
                "Pass a function with the signature init_logic(base_model, raw_model).",
            )
        key = InitKey(base_framework, base_class, raw_framework, raw_class)
        origin = origin or (self._origins[-1] if self._origins else _origin_of(func))
        entry = Initializer(key, func, origin, validate, copies_as_is, by_class)
        self._entries[key] = (
            entry  # a later registration overrides: users may replace built-ins
        )
        self._history.append(entry)
        return entry

    @contextlib.contextmanager
    def origin(self, label: str) -> Iterator[None]:
        """Registrations made inside this block come from ``label`` (a plugin, a module)."""
        self._origins.append(label)
        try:
            yield
        finally:
            self._origins.pop()

    def history(self) -> tuple[Initializer, ...]:
        """Every registration so far, in order, overridden ones included."""
        return tuple(self._history)

    def register(
        self,
        base_framework: str,
        base_class: str,
        raw_framework: str,
        raw_class: str,
        *,
        validate: Optional[Validator] = None,
    ) -> Callable[[Callable], Callable]:
        """Decorator form of :meth:`add`; returns the function unchanged."""

        def decorate(func: Callable) -> Callable:
            self.add(
                base_framework,
                base_class,
                raw_framework,
                raw_class,
                func,
                validate=validate,
            )
            return func

        return decorate

    def get(self, key: InitKey) -> Optional[Initializer]:
        return self._entries.get(key)

    def find(
        self,
        base_framework: str,
        base_classes: Iterable[str],
        raw_framework: str,
        raw_classes: Iterable[str],
    ) -> Optional[Initializer]:
        """The initializer for two layers, following their class hierarchies.

        ``base_classes`` / ``raw_classes`` name each layer's class and its ancestors,
        nearest first: a library's ``BatchNormAct2d(torch.nn.BatchNorm2d)`` is copied
        by the BatchNorm2d initializer unless one is registered for it. Of the
        registered pairs, the one with the nearest classes (fewest steps up both
        hierarchies, then up the base one) wins.
        """
        found = []
        for i, base_class in enumerate(base_classes):
            for j, raw_class in enumerate(raw_classes):
                key = InitKey(base_framework, base_class, raw_framework, raw_class)
                if key in self._entries:
                    found.append((i + j, i, self._entries[key]))
        return min(found, key=lambda f: f[:2])[2] if found else None

    def entries(self) -> list[Initializer]:
        return [self._entries[key] for key in sorted(self._entries)]

    def classes(self, framework: str, role: str, other_framework: str) -> set[str]:
        """Class names on one side ('base' or 'raw') of initializers for this direction."""
        found = set()
        for key, entry in self._entries.items():
            if not entry.by_class:
                continue
            if role == "base" and (key.base_framework, key.raw_framework) == (
                framework,
                other_framework,
            ):
                found.add(key.base_class)
            if role == "raw" and (key.raw_framework, key.base_framework) == (
                framework,
                other_framework,
            ):
                found.add(key.raw_class)
        return found

    def classes_any_direction(self, framework: str, role: str) -> set[str]:
        return {
            key.base_class if role == "base" else key.raw_class
            for key, entry in self._entries.items()
            if entry.by_class
            and (key.base_framework if role == "base" else key.raw_framework)
            == framework
        }

    def near(self, key: InitKey, limit: int = 5) -> list[Initializer]:
        """Registered initializers that look like ``key``, closest first.

        Near means: the same class on one side (torch LSTM -> paddle GRU is near torch
        LSTM -> paddle LSTM), or similar class names (a user's MyBatchNorm2d). Unrelated
        entries are left out, so that the list helps rather than buries the message.
        """
        import difflib

        def similarity(entry: Initializer) -> float:
            other = entry.key
            same_class = other.base_class.lower() == key.base_class.lower() or (
                other.raw_class.lower() == key.raw_class.lower()
            )
            text = difflib.SequenceMatcher(
                None,
                f"{key.base_class} {key.raw_class}".lower(),
                f"{other.base_class} {other.raw_class}".lower(),
            ).ratio()
            return max(text, 0.8 if same_class else 0.0)

        def same_direction(entry: Initializer) -> bool:
            other = entry.key
            return (other.base_framework, other.raw_framework) == (
                key.base_framework,
                key.raw_framework,
            )

        near = [e for e in self._entries.values() if similarity(e) >= 0.75]
        # The other direction only helps when nothing in this one comes close (were the
        # base and raw models swapped?).
        near = [e for e in near if same_direction(e)] or near
        return sorted(near, key=lambda e: (-similarity(e), e.key))[:limit]

    def snapshot(self) -> dict[InitKey, Initializer]:
        return dict(self._entries)

    def restore(self, entries: Iterable[tuple[InitKey, Initializer]]) -> None:
        self._entries = dict(entries)


global_special_init_pool = SpecialInitPool()


def add_special_init(
    base_framework: str,
    base_class: str,
    raw_framework: str,
    raw_class: str,
    func: Callable[[Any, Any], None],
) -> None:
    """Register ``func`` in the global pool (PaDiff's ``add_special_init``)."""
    global_special_init_pool.add(
        base_framework, base_class, raw_framework, raw_class, func
    )
