"""Fused projections: a run of sibling linear layers (Hugging Face's q_proj, k_proj,
v_proj, or gate_proj, up_proj) holds what one linear layer of the other model holds
along its output axis (PaddleFormers' qkv_proj, up_gate_proj): same input size, output
sizes adding up, biases on all or none.

The fused weight's columns may be the parts one after the other (Phi3, and gate/up) or
grouped per KV head ([q of the group's heads, k, v] per group: PaddleFormers' fused
attention). Shapes cannot tell those apart, nor the parts' order: each possibility is a
:class:`~padiff_gen.analysis.layouts.merged.Layout` candidate, and the evidence that
picks one comes later (``--layout``, or running the block holding them:
:mod:`padiff_gen.analysis.evidence.block_probe`). A layout is declared once, as the
parts joined into the fused tensor; the other direction is its inverse.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from ...plan.operations import Concatenate, Pipeline, Transpose
from ...plan.plan import TensorCopy, Unit

from .merged import Layout, LinearShape, last_name, out_axis, parent_path, linear_shapes

# Attributes of a fused layer's parent that say how many KV heads (groups) it has.
GROUP_ATTRIBUTES = (
    "num_key_value_heads",
    "num_kv_heads",
    "num_key_value_head",
    "n_kv_heads",
    "num_heads_kv",
    "num_key_value_groups",
)
# Candidate group counts tried without such an attribute, at most.
MAX_GROUP_CANDIDATES = 6


@dataclass(frozen=True)
class Fused:
    """A run of split linear layers against one fused layer."""

    parts: tuple[LinearShape, ...]
    fused: LinearShape


def find_fused(run: Sequence[Unit], fused: Unit) -> Optional[Fused]:
    """The split/fused reading of ``run`` against ``fused``, if shapes allow one."""
    if len(run) < 2 or len({parent_path(u.path) for u in run}) != 1:
        return None
    for fused_shape in linear_shapes(fused):
        readings = [linear_shapes(unit) for unit in run]
        for choice in itertools.product(*readings):
            same_input = all(part.inp == fused_shape.inp for part in choice)
            biases = {part.bias is None for part in choice} | {fused_shape.bias is None}
            total = sum(part.out for part in choice)
            if same_input and len(biases) == 1 and total == fused_shape.out:
                return Fused(tuple(choice), fused_shape)
    return None


def _group_candidates(sizes: Sequence[int], attributes: Sequence[int]) -> list[int]:
    """Group counts that split every part evenly: the parent layer's KV-head count when
    it has one, else the divisors (few)."""
    common = math.gcd(*sizes)
    from_attributes = sorted({g for g in attributes if g > 1 and common % g == 0})
    if from_attributes:
        return from_attributes
    divisors = [g for g in range(2, common + 1) if common % g == 0]
    return divisors[:MAX_GROUP_CANDIDATES]


def layer_group_counts(layer: Any) -> list[int]:
    """Integer attributes of ``layer`` (or its ``config``) that count KV heads."""
    found = []
    for holder in (layer, getattr(layer, "config", None)):
        for name in GROUP_ATTRIBUTES:
            value = getattr(holder, name, None) if holder is not None else None
            if isinstance(value, int) and not isinstance(value, bool):
                found.append(value)
    return found


def fused_layouts(fused: Fused, group_counts: Sequence[int]) -> list[Layout]:
    """Every layout the shapes allow: the parts in definition order first, then the
    other orders (two parts: swapped); each one after the other, or grouped."""
    names = [last_name(part.unit.path) for part in fused.parts]
    count = len(fused.parts)
    orders = (
        list(itertools.permutations(range(count)))
        if count <= 3
        else [tuple(range(count))]
    )
    sizes = [part.out for part in fused.parts]
    groups = [1]
    if count == 3:  # q, k, v: grouped per KV head is a known layout
        groups += _group_candidates(sizes, group_counts)
    # Definition order first (each grouping), then the other orders.
    return [
        Layout(order, g, tuple(names[i] for i in order))
        for order in orders
        for g in groups
    ]


def fused_copies(
    fused: Fused, layout: Layout, split_is_base: bool
) -> tuple[TensorCopy, ...]:
    """The rows for one layout: one fused row, or one row per split part.

    The layout is declared once, as the parts joined into the fused tensor; rows that
    make the parts from it are that pipeline's inverse, narrowed to each part."""
    parts = [fused.parts[i] for i in layout.order]
    whole = fused.fused
    axis = out_axis(whole.layout)
    rows = []
    for name in ("weight", "bias"):
        whole_tensor = whole.weight if name == "weight" else whole.bias
        if whole_tensor is None:
            continue
        tensors = [p.weight if name == "weight" else p.bias for p in parts]
        flip = any(name == "weight" and p.layout != whole.layout for p in parts)
        tensor_axis = axis if name == "weight" else 0
        join = Pipeline.of(Concatenate(tensor_axis, layout.groups))
        if flip:
            join = Pipeline.of(Transpose()).then(*join.operations)
        if split_is_base:
            rows.append(TensorCopy(tuple(tensors), whole_tensor, join))
            continue
        narrowed = join.parts([t.shape for t in tensors])
        for tensor, part in zip(tensors, narrowed):
            rows.append(TensorCopy((whole_tensor,), tensor, part))
    return tuple(sorted(rows, key=lambda c: _row_order(c, split_is_base, fused)))


def _row_order(copy: TensorCopy, split_is_base: bool, fused: Fused) -> int:
    """Raw tensors in the raw model's definition order."""
    if split_is_base:
        return 0 if copy.raw.name == "weight" else 1
    paths = [t.path for part in fused.parts for t in part.unit.tensors]
    return paths.index(copy.raw.path)


def fused_path(units: Sequence[Unit]) -> str:
    """``attn.{q_proj,k_proj,v_proj}`` for sibling layers."""
    return f"{parent_path(units[0].path)}.{{{','.join(last_name(u.path) for u in units)}}}".lstrip(
        "."
    )
