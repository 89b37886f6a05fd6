"""The protocol every tensor layout follows, and what layouts share.

A *tensor layout* says how a base tensor becomes the raw tensor it is paired with: by a
pipeline of typed operations (:mod:`padiff_gen.plan.operations`). Each layout kind has a
module of its own in this folder and is asked in the order of
:data:`padiff_gen.analysis.layouts.TENSOR_LAYOUTS` (strongest evidence first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from ...knowledge.layer_kinds import LINEAR, WEIGHT_ROLES
from ...plan.operations import COPY, Pipeline
from ...plan.plan import TensorRef, Unit

# (side, unit, tensor) -> the layout of the unit's square matrix as a probe of its layer
# finds it ("" when it cannot tell); side is "base" or "raw".
LayoutProbe = Callable[[str, Unit, TensorRef], str]


@dataclass(frozen=True)
class TensorPair:
    """Two tensors of paired units: base tensor ``b`` of unit ``base``, raw tensor ``r``
    of unit ``raw``. ``cross``: the models are of different frameworks (a Linear's
    weight is then [out, in] on one side and [in, out] on the other). ``probe`` runs a
    layer alone to find how it holds a square matrix."""

    base: Unit
    raw: Unit
    b: TensorRef
    r: TensorRef
    cross: bool
    probe: LayoutProbe


class TensorDecision:
    """The transform of one tensor pair, or why none could be chosen.

    ``transform``: the row's operations. ``candidates``: several transforms that fit,
    for evidence (running the pair of layers, or ``--layout``) to choose between; then
    ``problem`` says what the evidence has to decide ("square"). ``problem`` alone
    ("shape", "square"): nothing fits, or nothing decides. ``condition``: when the copy
    is exact (written beside the row); ``note``: what decided it."""

    def __init__(
        self,
        transform: Pipeline = COPY,
        note: str = "",
        problem: str = "",
        condition: str = "",
        candidates: tuple[Pipeline, ...] = (),
    ) -> None:
        self.transform = transform
        self.note = note
        self.problem = problem
        self.condition = condition
        self.candidates = candidates


class TensorLayout(Protocol):
    """One layout kind. ``decide`` answers None when the pair is not of this kind (the
    next layout is asked), else a TensorDecision: the row as operations, candidates
    for evidence to choose between, or the problem nothing could decide. ``evidence``
    says, for people, what decides it (kinds, shapes, a probe run)."""

    name: str
    evidence: str

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]: ...


def known_layout(unit: Unit, tensor: TensorRef) -> str:
    """The layout the unit's kind gives this 2-D tensor ("" for none)."""
    if unit.kind == LINEAR and tensor.name in WEIGHT_ROLES:
        return unit.layout
    return ""


def squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape without its axes of size 1."""
    return tuple(size for size in shape if size != 1)
