"""Stacked experts: one layer holds [experts, ...] tensors (transformers 5's MoE experts:
``gate_up_proj`` [E, 2I, H], ``down_proj`` [E, H, I]) where the other model has a list of
per-expert layers ``experts.0.up_gate_proj``, ... (PaddleFormers). Expert e's tensors are
slice e of the stacked ones, maybe transposed, maybe fused as in
:mod:`padiff_gen.analysis.layouts.fused`. Declared as the per-expert tensors stacked;
the other direction is its inverse.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Optional, Sequence

from ...knowledge.layer_kinds import IN_OUT, OUT_IN
from ...plan.operations import Concatenate, Pipeline, Stack, Transpose
from ...plan.plan import TensorCopy, TensorRef, Unit

from .merged import (
    Candidate,
    Layout,
    LinearShape,
    MergedPair,
    last_name,
    out_axis,
    linear_shapes,
)

EXPERT = re.compile(r"^(?P<prefix>.+)\.(?P<index>\d+)(?:\.(?P<rest>.+))?$")


@dataclass(frozen=True)
class Stacked:
    """A layer with stacked [experts, ...] tensors against per-expert layers."""

    stacked: Unit
    experts: tuple[tuple[Unit, ...], ...]  # per expert, its layers in order


def find_stacked(stacked: Unit, run: Sequence[Unit]) -> Optional[Stacked]:
    """Read ``run`` (the other model's units from here on) as ``stacked``'s experts.

    The stacked unit's tensors must all have the same leading size E; the run's first
    units lie at ``<prefix>.0``, ``<prefix>.1``, ... ``<prefix>.<E-1>``, each expert with
    layers of the same names and shapes, and as many elements as the stacked tensors.
    """
    if stacked.special or not stacked.tensors:
        return None
    leading = {t.shape[0] if len(t.shape) >= 2 else None for t in stacked.tensors}
    if len(leading) != 1 or None in leading:
        return None
    experts_count = leading.pop()
    first = EXPERT.match(run[0].path) if run else None
    if first is None or first["index"] != "0":
        return None
    prefix = first["prefix"]
    experts: list[list[Unit]] = [[] for _ in range(experts_count)]
    for unit in run:
        match = EXPERT.match(unit.path)
        if match is None or match["prefix"] != prefix:
            break
        index = int(match["index"])
        if index >= experts_count or (index and not experts[index - 1]):
            return None
        experts[index].append(unit)
    if not experts[-1]:
        return None
    shape = [(last_name(u.path), u.shapes) for u in experts[0]]
    if any([(last_name(u.path), u.shapes) for u in e] != shape for e in experts):
        return None
    stacked_elements = sum(math.prod(t.shape) for t in stacked.tensors)
    run_elements = sum(
        math.prod(t.shape) for e in experts for u in e for t in u.tensors
    )
    if stacked_elements != run_elements:
        return None
    return Stacked(stacked, tuple(tuple(e) for e in experts))


def _slice_layouts(stacked_tensor: TensorRef, part: LinearShape) -> list[str]:
    """Whether expert e's slice of a stacked tensor is [out, in] or [in, out] against a
    per-expert linear part: decided by shapes unless the matrix is square."""
    rows, cols = stacked_tensor.shape[1:]
    found = []
    if (rows, cols) == (part.out, part.inp):
        found.append(OUT_IN)
    if (rows, cols) == (part.inp, part.out):
        found.append(IN_OUT)
    return found


@dataclass(frozen=True)
class StackedGroup:
    """A stacked tensor (and its stacked bias) against one or more per-expert parts."""

    weight: TensorRef
    bias: Optional[TensorRef]
    parts: tuple[int, ...]  # indices of the per-expert layers it holds


def _stacked_groups(stacked: Stacked) -> Optional[list[StackedGroup]]:
    """Match the stacked tensors (in order, biases after their weights) to consecutive
    per-expert layers whose output sizes add up to the slice's."""
    expert = stacked.experts[0]
    shapes = [linear_shapes(unit) for unit in expert]
    if any(not s for s in shapes):
        return None
    tensors = list(stacked.stacked.tensors)
    weights = [t for t in tensors if len(t.shape) == 3]
    biases = [t for t in tensors if len(t.shape) == 2]
    groups, position = [], 0
    for weight in weights:
        rows, cols = weight.shape[1:]
        for size in range(1, len(expert) - position + 1):
            members = shapes[position : position + size]
            inputs = {m[0].inp for m in members}
            total = sum(m[0].out for m in members)
            if len(inputs) == 1 and {rows, cols} == {total, inputs.pop()}:
                break
        else:
            return None
        bias = next((b for b in biases if b.shape[1] == total), None)
        if bias is not None:
            biases.remove(bias)
        groups.append(
            StackedGroup(weight, bias, tuple(range(position, position + size)))
        )
        position += size
    if position != len(expert) or biases:
        return None
    return groups


def stacked_candidates(stacked: Stacked, stacked_is_base: bool) -> MergedPair:
    """The rows for every reading of a stacked layer against its experts' layers."""
    groups = _stacked_groups(stacked)
    if groups is None:
        return MergedPair(
            problem="its tensors do not split into the experts' layers", what="stacked"
        )
    per_group: list[list[tuple[Layout, str, tuple[int, ...]]]] = []
    for group in groups:
        expert = stacked.experts[0]
        parts = [linear_shapes(expert[i])[0] for i in group.parts]
        names = tuple(last_name(expert[i].path) for i in group.parts)
        options = []
        orders = list(itertools.permutations(range(len(parts))))
        for order in orders:
            whole = LinearShape(
                expert[group.parts[0]],
                group.weight,
                group.bias,
                sum(p.out for p in parts),
                parts[0].inp,
                OUT_IN,
            )
            slice_layouts = _slice_layouts(group.weight, whole)
            for layout in slice_layouts:
                ordered = tuple(names[i] for i in order)
                if len(slice_layouts) > 1:  # a square slice: say which way round
                    ordered = tuple(f"{name}:{layout}" for name in ordered)
                options.append((Layout(order, 1, ordered), layout, order))
        if not options:
            return MergedPair(
                problem=f"`{group.weight.path}` fits none of its experts' layers",
                what="stacked",
            )
        per_group.append(options)
    candidates = []
    for combination in itertools.product(*per_group):
        copies = []
        for group, (layout, slice_layout, order) in zip(groups, combination):
            copies.extend(
                _stacked_rows(stacked, group, order, slice_layout, stacked_is_base)
            )
        names = tuple(n for layout, _, _ in combination for n in layout.names)
        text = "; ".join(
            f"`{group.weight.name}` holds " + ", ".join(layout.names)
            for group, (layout, _, _) in zip(groups, combination)
        )
        described = Layout(tuple(range(len(names))), 1, names, text)
        candidates.append(Candidate(described, tuple(copies)))
    return MergedPair(tuple(candidates), what="stacked")


def _stacked_rows(
    stacked: Stacked,
    group: StackedGroup,
    order: tuple[int, ...],
    slice_layout: str,
    stacked_is_base: bool,
) -> list[TensorCopy]:
    rows = []
    count = len(group.parts)
    for name, whole in (("weight", group.weight), ("bias", group.bias)):
        if whole is None:
            continue
        axis = 0 if name == "bias" else out_axis(slice_layout)
        per_expert = []
        for expert in stacked.experts:
            parts = [expert[group.parts[i]] for i in order]
            tensors = [next(t for t in u.tensors if t.name == name) for u in parts]
            layouts = [linear_shapes(u)[0].layout for u in parts]
            per_expert.append((tensors, layouts))
        # Declared as the experts' parts joined into the stacked tensor; rows that make
        # one expert's part from it are that pipeline's inverse, narrowed to the part.
        flip = any(
            name == "weight" and layout != slice_layout
            for _, layouts in per_expert
            for layout in layouts
        )
        join = Pipeline.of(Transpose()) if flip else Pipeline()
        if count > 1:
            join = join.then(Concatenate(axis, every=count))
        join = join.then(Stack(0))
        sources = [tensor for tensors, _ in per_expert for tensor in tensors]
        if not stacked_is_base:
            rows.append(TensorCopy(tuple(sources), whole, join))
            continue
        narrowed = join.parts([t.shape for t in sources])
        for tensor, part in zip(sources, narrowed):
            rows.append(TensorCopy((whole,), tensor, part))
    return rows


def stacked_path(stacked: Stacked) -> str:
    """``mlp.experts``, the path of the list holding the per-expert layers."""
    return EXPERT.match(stacked.experts[0][0].path)["prefix"]
