"""The plan: what the analyzer found and what the renderer lays out. Plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import MappingError
from ..load.load import ModelSpec
from .operations import COPY, Pipeline, as_pipeline
from ..special_init import Initializer


@dataclass(frozen=True)
class TensorRef:
    """One parameter or persistent buffer: full dotted path, shape, dtype."""

    path: str
    shape: tuple[int, ...]
    dtype: str
    # The path where this very tensor first appears, when it is shared (an LM head tied
    # to the token embedding); "" for a tensor of its own.
    tied_to: str = ""
    # The name tensors pair by inside a unit when not the attribute's own: torch's
    # parametrized weight_norm keeps weight_g / weight_v as original0 / original1.
    role: str = ""

    @property
    def name(self) -> str:
        return self.role or self.path.rpartition(".")[2]


@dataclass(frozen=True)
class Unit:
    """A sub-layer that owns tensors, or a layer-map entry handled by an initializer.

    A *merged* unit stands for several sub-layers of one model that together hold what
    one sub-layer of the other model holds (q, k and v projections against a fused
    qkv_proj; a list of experts against one stacked tensor): ``members`` are their paths.
    """

    path: str
    class_name: str
    tensors: tuple[TensorRef, ...]
    special: bool = False
    kind: str = (
        ""  # see padiff_gen.knowledge.layer_kinds: "linear", "conv", ... or "" (unknown)
    )
    layout: str = ""  # of a linear or conv weight: "out_in" or "in_out"
    class_names: tuple[str, ...] = ()  # the class and its ancestors, nearest first
    groups: int = 1  # a conv's groups
    members: tuple[str, ...] = ()

    @property
    def linear(self) -> bool:
        return self.kind == "linear"

    @property
    def shapes(self) -> tuple[tuple[int, ...], ...]:
        return tuple(t.shape for t in self.tensors)

    @property
    def ancestry(self) -> tuple[str, ...]:
        return self.class_names or (self.class_name,)


@dataclass(frozen=True)
class TensorCopy:
    """One row of the tensor table: a raw tensor and the base tensor(s) it comes from.

    ``base`` has one tensor, or several for a composite row; ``transform`` is the
    :class:`~padiff_gen.plan.operations.Pipeline` that makes the raw tensor from them (its
    text is accepted too, and parsed).
    """

    base: tuple[TensorRef, ...]
    raw: TensorRef
    transform: Pipeline = COPY
    # How the transform was chosen, when not by the models alone (--layout), for the row.
    note: str = ""
    # When the copy is exact, if not always (a conv computing a Linear), for the row;
    # padiff_gen.analysis.evidence.layout_probe checks it by running both models where it can.
    condition: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "transform", as_pipeline(self.transform))

    @property
    def base_path(self):
        """The base path, or a tuple of paths for a composite row (as the table has it)."""
        paths = tuple(t.path for t in self.base)
        return paths[0] if len(paths) == 1 else paths

    @property
    def base_shape(self):
        shapes = tuple(t.shape for t in self.base)
        return shapes[0] if len(shapes) == 1 else shapes


@dataclass(frozen=True)
class UnitPair:
    """Two units paired up: either tensor copies or one special initializer call."""

    base: Optional[Unit]
    raw: Optional[Unit]
    copies: tuple[TensorCopy, ...] = ()
    initializer: Optional[Initializer] = None
    # "order": same position in definition order; "name": same path, positions differ;
    # "map": a manual layer-map pair whose positions differ (see padiff_gen.analysis.match);
    # "unpaired": no pair, only the error about units without a partner.
    matched_by: str = "order"
    error: Optional[MappingError] = None
    # A setting that is not a weight differs (e.g. "torch eps=0.001, paddle
    # epsilon=1e-05"): the copy is exact, but the layers compute apart.
    difference: str = ""
    # How a merged unit's tensors combine (e.g. "q_proj, k_proj, v_proj in 2 groups").
    layout: str = ""
    # Layouts the shapes allow when they cannot tell which is right (fused q/k/v one
    # after the other or grouped per KV head): padiff_gen.analysis.layouts.merged.Candidate's, each with
    # its rows, and the error to report if nothing decides (--layout, a probe).
    candidates: tuple = ()
    question: Optional[MappingError] = None
    # With a layout chosen by --layout: (the option's text, the candidates it chose
    # among), so that running the block holding it can refute it
    # (padiff_gen.analysis.evidence.block_probe.check_given).
    given: tuple = ()


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
    strategy (see :mod:`padiff_gen.analysis.match`)."""

    layer_map: str = "auto"  # "auto" or "none"
    maps: tuple[tuple[str, str], ...] = ()
    match: str = "auto"  # "auto" (order, then names), "order" or "names"
    # --layout KEY=CHOICE: how a fused or stacked tensor, or a square matrix of an
    # unknown class, is laid out, where the models' shapes cannot tell.
    layouts: tuple[tuple[str, str], ...] = ()
    # ("base" or "raw", path) of layers the auto layer map leaves out: a registered
    # class met by a layer of a class no initializer takes (a torch MultiheadAttention
    # against paddle.compat.nn's, which keeps torch's tensors), paired by their tensors.
    unmapped: tuple[tuple[str, str], ...] = ()
    # The paths of each model's units in the order a forward pass first calls them
    # (base, raw), when pairing in definition order and by path failed: units are then
    # paired in this order (padiff_gen.analysis.evidence.block_probe.call_orders).
    calls: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())


@dataclass(frozen=True)
class Pairing:
    """Everything the analyzer found, mismatches included (``inspect`` shows all of it)."""

    base: ModelInfo
    raw: ModelInfo
    base_units: tuple[Unit, ...]
    raw_units: tuple[Unit, ...]
    pairs: tuple[UnitPair, ...]
    # Settings that are not weights but differ (padiff_gen.analysis.compare_settings.SettingNote):
    # on unit pairs (also in their `difference`) and on the layers without weights.
    notes: tuple = ()
    # Blocks run with the rows the plan copies (deciding a layout) whose outputs agreed:
    # (base block, raw block, how they ran, their relative difference). Evidence for
    # layers without weights inside them (padiff_gen.analysis.evidence.block_probe.check_unpaired).
    agreeing_runs: tuple = ()

    @property
    def first_error(self) -> Optional[MappingError]:
        """The first pair that cannot be copied, or whose layout nothing decided."""
        error = next(
            (pair.error for pair in self.pairs if pair.error is not None), None
        )
        if error is not None:
            return error
        return next((pair.question for pair in self.undecided), None)

    @property
    def undecided(self) -> tuple[UnitPair, ...]:
        return tuple(pair for pair in self.pairs if pair.question is not None)


@dataclass(frozen=True)
class Plan:
    """A pairing without errors, plus what the script's header records."""

    base: ModelInfo
    raw: ModelInfo
    pairs: tuple[UnitPair, ...]
    command: Optional[str] = None
    notes: tuple = ()  # as Pairing.notes
    # padiff_gen.analysis.hf_checkpoints.CheckpointRow's: base tensors that the base model's
    # library saves in another form (stacked experts, per expert on the Hub).
    checkpoint_rows: tuple = ()

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
