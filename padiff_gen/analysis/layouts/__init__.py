"""A home for each tensor layout: how a base tensor becomes the raw tensor it pairs with.

Each module here is one layout kind behind one protocol
(:class:`~padiff_gen.analysis.layouts.base.TensorLayout`): given two paired tensors it
says nothing (not its kind), gives the row as typed operations, gives candidates for
evidence to choose between, or says what the evidence cannot decide.
:data:`TENSOR_LAYOUTS` asks them in order, strongest evidence first; the first that
answers decides, and a pair none answers is a shape mismatch.

Adding a layout kind: one module here, its place in TENSOR_LAYOUTS, and its cases in the
layout tests (a pair of models each way, a negative control). Layouts of several layers
against one have their homes here too (``fused``, ``stacked``, sharing ``merged``); they
are found by regrouping units (:mod:`padiff_gen.analysis.regroup`) before tensors pair,
and their candidates go to the same evidence.
"""

from __future__ import annotations

from .base import TensorDecision, TensorLayout, TensorPair
from .batched import BatchedMatrices
from .conv_linear import ConvAsLinear
from .matrix import Matrix
from .same_shape import FlattenedNorm, SameShape, SizeOneAxes

TENSOR_LAYOUTS: tuple[TensorLayout, ...] = (
    Matrix(),
    ConvAsLinear(),
    BatchedMatrices(),  # before SameShape: a square stack is a question, not a copy
    SameShape(),
    SizeOneAxes(),
    FlattenedNorm(),
)


def decide(pair: TensorPair) -> TensorDecision:
    """How base tensor ``pair.b`` becomes raw tensor ``pair.r``: the answer of the
    first layout in TENSOR_LAYOUTS that has one; a shape mismatch when none has."""
    for layout in TENSOR_LAYOUTS:
        decision = layout.decide(pair)
        if decision is not None:
            return decision
    return TensorDecision(problem="shape")
