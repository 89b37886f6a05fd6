"""The plan: what the analyzer found and what the renderer lays out. Plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .errors import MappingError
from .load import ModelSpec
from .special_init import Initializer

COPY = "copy"
TRANSPOSE = "transpose"
RESHAPE = "reshape"


@dataclass(frozen=True)
class TensorRef:
    """One parameter or persistent buffer: full dotted path, shape, dtype."""

    path: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def name(self) -> str:
        return self.path.rpartition(".")[2]


@dataclass(frozen=True)
class Unit:
    """A sub-layer that owns tensors, or a layer-map entry handled by an initializer."""

    path: str
    class_name: str
    tensors: tuple[TensorRef, ...]
    special: bool = False
    linear: bool = False

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(t.shape for t in self.tensors)


@dataclass(frozen=True)
class TensorCopy:
    base: TensorRef
    raw: TensorRef
    transform: str = COPY


@dataclass(frozen=True)
class UnitPair:
    """Two units paired up: either tensor copies or one special initializer call."""

    base: Optional[Unit]
    raw: Optional[Unit]
    copies: tuple[TensorCopy, ...] = ()
    initializer: Optional[Initializer] = None
    # "order": same position in definition order; "name": same path, positions differ;
    # "map": a manual layer-map pair whose positions differ (see padiff_gen.match);
    # "unpaired": no pair, only the error about units without a partner.
    matched_by: str = "order"
    error: Optional[MappingError] = None
    # A setting that is not a weight differs (e.g. "torch eps=0.001, paddle
    # epsilon=1e-05"): the copy is exact, but the layers compute apart.
    difference: str = ""


@dataclass(frozen=True)
class ModelInfo:
    framework: str
    class_name: str
    spec: Optional[ModelSpec] = None

    @property
    def description(self) -> str:
        return self.spec.text if self.spec else f"{self.framework} {self.class_name}"


@dataclass(frozen=True)
class MapOptions:
    """How layers are paired: the auto layer map, manual ``--map`` pairs, and the matching
    strategy (see :mod:`padiff_gen.match`)."""

    layer_map: str = "auto"  # "auto" or "none"
    maps: tuple[tuple[str, str], ...] = ()
    match: str = "auto"  # "auto" (order, then names), "order" or "names"


@dataclass(frozen=True)
class Pairing:
    """Everything the analyzer found, mismatches included (``inspect`` shows all of it)."""

    base: ModelInfo
    raw: ModelInfo
    base_units: tuple[Unit, ...]
    raw_units: tuple[Unit, ...]
    pairs: tuple[UnitPair, ...]
    # Settings that are not weights but differ (padiff_gen.compare_settings.SettingNote):
    # on unit pairs (also in their `difference`) and on the layers without weights.
    notes: tuple = ()

    @property
    def first_error(self) -> Optional[MappingError]:
        return next((pair.error for pair in self.pairs if pair.error is not None), None)


@dataclass(frozen=True)
class Plan:
    """A pairing without errors, plus what the script's header records."""

    base: ModelInfo
    raw: ModelInfo
    pairs: tuple[UnitPair, ...]
    command: Optional[str] = None
    notes: tuple = ()  # as Pairing.notes

    @property
    def copies(self) -> tuple[TensorCopy, ...]:
        return tuple(copy for pair in self.pairs for copy in pair.copies)

    @property
    def special_pairs(self) -> tuple[UnitPair, ...]:
        return tuple(pair for pair in self.pairs if pair.initializer is not None)

    @property
    def frameworks(self) -> tuple[str, str]:
        return self.base.framework, self.raw.framework


def plan_from(pairing: Pairing, command: Optional[str] = None) -> Plan:
    """The plan for a pairing; raises its first mapping error."""
    error = pairing.first_error
    if error is not None:
        raise error
    return Plan(pairing.base, pairing.raw, pairing.pairs, command, pairing.notes)
