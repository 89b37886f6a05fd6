"""Stacks of matrices held as one tensor on both sides, with the matrix axes swapped:
[..., out, in] against [..., in, out]. Mixture-of-experts layers written by hand keep
their experts so (one [experts, 2 * intermediate, hidden] tensor in torch, its
[experts, hidden, 2 * intermediate] counterpart in paddle); transformers' fused experts
are [E, 2I, H] (shared/FACTS.md).

Asked between frameworks, for tensors of 3 axes or more of layers of no known kind on
both sides (a conv's [out, in, k, k] is a conv's, not a stack). Evidence: the shapes when
only one transform fits (equal leading axes, the last two swapped and unequal:
``transpose``, which swaps the last two axes). A square stack ([..., n, n] on both
sides) could be either: the layer's other stacks, where they are not square, show which
way round it holds its matrices (all alike: copy; all swapped: transpose; GPT-OSS's
experts keep a square ``gate_up_proj`` beside a ``down_proj`` held alike). Where they
do not tell, copy and transpose are both candidates, and running the pair of layers on
a probe input decides (block evidence), or ``--layout KEY=copy`` /
``--layout KEY=transpose``.
"""

from __future__ import annotations

from typing import Optional

from ...plan.operations import COPY, TRANSPOSE
from .base import TensorDecision, TensorPair


class BatchedMatrices:
    name = "stacked matrices"
    evidence = "the shapes, else a run of the pair of layers"

    def decide(self, pair: TensorPair) -> Optional[TensorDecision]:
        b, r = pair.b.shape, pair.r.shape
        if not pair.cross or pair.base.kind or pair.raw.kind:
            return None
        if len(b) < 3 or len(r) != len(b) or b[:-2] != r[:-2]:
            return None
        rows, columns = b[-2:]
        if rows == columns and b == r and rows > 1:
            siblings = _siblings(pair)
            if siblings == {"alike"}:
                return TensorDecision(COPY)
            if siblings == {"swapped"}:
                return TensorDecision(TRANSPOSE)
            return TensorDecision(problem="square", candidates=(COPY, TRANSPOSE))
        if rows != columns and r[-2:] == (columns, rows):
            return TensorDecision(TRANSPOSE)
        return None


def _siblings(pair: TensorPair) -> set[str]:
    """How the layer's other non-square stacks lie in the raw layer's tensor of the
    same name: "alike" (same shape), "swapped" (the last two axes swapped); empty when
    it has none."""
    raw_shapes = {t.name: t.shape for t in pair.raw.tensors}
    found = set()
    for tensor in pair.base.tensors:
        shape = tensor.shape
        if tensor.path == pair.b.path or len(shape) < 3 or shape[-1] == shape[-2]:
            continue
        other = raw_shapes.get(tensor.name)
        if other is None or len(other) != len(shape) or other[:-2] != shape[:-2]:
            continue
        if other == shape:
            found.add("alike")
        elif other[-2:] == shape[-2:][::-1]:
            found.add("swapped")
    return found
