"""A conv's weight against a Linear's (either way round): a conv whose weight
[out, in, k...] holds as many elements as a Linear's computes that Linear when it sees
an input of its kernel's size, read flattened in (channel, position) order.

Evidence: the layers' kinds (a conv on one side, a Linear on the other) and the shapes.
Declared conv -> Linear (``reshape`` to [out, in * k...], then ``transpose`` for a Linear
kept [in, out]); the other direction is its inverse.
"""

from __future__ import annotations

import math
from typing import Optional

from ...knowledge.layer_kinds import CONV, IN_OUT, LINEAR, OUT_IN
from ...plan.operations import Pipeline, Reshape, Transpose
from .base import TensorDecision, TensorPair

# The condition under which a conv computes the same as a Linear (the row's comment).
CONV_AS_LINEAR = (
    "exact when the conv sees inputs of its kernel's size (a 1 x 1 output) and the "
    "Linear reads them flattened in (channel, position) order"
)


class ConvAsLinear:
    name = "conv as Linear"
    evidence = "the layers' kinds and the shapes"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        if not pair.cross:
            return None
        base, raw, b, r = pair.base, pair.raw, pair.b, pair.r
        conv, other, conv_tensor, other_tensor = (
            (base, raw, b, r) if base.kind == CONV else (raw, base, r, b)
        )
        if conv.kind != CONV or other.kind != LINEAR or conv_tensor.name != "weight":
            return None
        if (
            len(conv_tensor.shape) < 3
            or len(other_tensor.shape) != 2
            or conv.groups != 1
        ):
            return None
        out = conv_tensor.shape[0]
        flat = (out, math.prod(conv_tensor.shape[1:]))  # [out, in * k...]: out_in
        expected = flat if other.layout == OUT_IN else flat[::-1]
        if other_tensor.shape != expected:
            return None
        to_linear = Pipeline.of(Reshape(flat))
        if other.layout == IN_OUT:
            to_linear = to_linear.then(Transpose())
        transform = (
            to_linear if conv is base else to_linear.part(0, [conv_tensor.shape])
        )
        return TensorDecision(transform, condition=f"conv as Linear: {CONV_AS_LINEAR}")
