"""Matrices a layer multiplies by: a Linear's weight is [out, in] in torch and [in, out]
in paddle (the frameworks' own classes, :mod:`padiff_gen.knowledge.layer_kinds`).

Evidence, strongest first: the layer's kind on both sides; else the shapes when only one
transform fits (equal: copy; reversed: transpose); else, for a square matrix of a layer
of no known kind, that layer run alone on a probe input
(:func:`padiff_gen.analysis.evidence.probe.matrix_layout`). Asked only between
frameworks, for 2-D tensors both layers may multiply by.
"""

from __future__ import annotations

from typing import Optional

from ...plan.operations import COPY, TRANSPOSE
from ...plan.plan import TensorRef, Unit
from .base import TensorDecision, TensorPair, known_layout


def is_matrix(unit: Unit, tensor: TensorRef) -> bool:
    """Could this 2-D tensor be a matrix the layer multiplies by? Known kinds say; a
    layer of no known kind might."""
    if len(tensor.shape) != 2:
        return False
    return known_layout(unit, tensor) != "" or unit.kind == ""


class Matrix:
    name = "matrix"
    evidence = "the layers' kinds, else the shapes, else a probe run of the layer"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        base, raw, b, r = pair.base, pair.raw, pair.b, pair.r
        if not (pair.cross and is_matrix(base, b) and is_matrix(raw, r)):
            return None
        square = b.shape[0] == b.shape[1]
        base_layout = known_layout(base, b)
        raw_layout = known_layout(raw, r)
        if not square or b.shape != r.shape:
            if not (base_layout and raw_layout):
                # Shapes decide when only one transform fits.
                if b.shape == r.shape:
                    return TensorDecision(COPY)
                if b.shape == r.shape[::-1]:
                    return TensorDecision(TRANSPOSE)
                return TensorDecision(problem="shape")
        if not base_layout:
            base_layout = pair.probe("base", base, b)
        if not raw_layout:
            raw_layout = pair.probe("raw", raw, r)
        if not (base_layout and raw_layout):
            return TensorDecision(problem="square")
        transform = COPY if base_layout == raw_layout else TRANSPOSE
        expected = b.shape if transform == COPY else b.shape[::-1]
        if expected != r.shape:
            return TensorDecision(transform, problem="shape")
        return TensorDecision(transform)
