"""Layouts that keep a tensor's elements in order: the same shape (``copy``), or a
shape that differs only in how its elements are grouped (``reshape``).

Evidence: the shapes, and for a flattened norm the layers' kinds.
"""

from __future__ import annotations

import math
from typing import Optional

from ...knowledge.layer_kinds import LAYER_NORM
from ...plan.operations import COPY, RESHAPE
from .base import TensorDecision, TensorPair, squeezed


class SameShape:
    name = "same shape"
    evidence = "the shapes"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        return TensorDecision(COPY) if pair.b.shape == pair.r.shape else None


class SizeOneAxes:
    """Shapes that differ only by axes of size 1: torch weight_norm's weight_g
    [out, 1, 1, 1] against paddle's [out]."""

    name = "axes of size 1"
    evidence = "the shapes"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        if squeezed(pair.b.shape) == squeezed(pair.r.shape):
            return TensorDecision(RESHAPE)
        return None


class FlattenedNorm:
    """paddle flattens a LayerNorm over several dims: [5, 8] against [40]."""

    name = "flattened LayerNorm"
    evidence = "the layers' kinds (LayerNorm on both sides) and the element counts"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        if pair.base.kind == pair.raw.kind == LAYER_NORM and math.prod(
            pair.b.shape
        ) == math.prod(pair.r.shape):
            return TensorDecision(RESHAPE)
        return None
