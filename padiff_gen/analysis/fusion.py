"""Fused and stacked layouts: several sub-layers of one model against one of the other.

Two layouts are found from shapes alone:

- **fused**: a run of sibling linear layers (Hugging Face's q_proj, k_proj, v_proj, or
  gate_proj, up_proj) holds what one linear layer of the other model holds along its
  output axis (PaddleFormers' qkv_proj, up_gate_proj): same input size, output sizes
  adding up, biases on all or none. The fused weight's columns may be the parts one
  after the other (Phi3, and gate/up) or grouped per KV head ([q of the group's heads,
  k, v] per group: PaddleFormers' fused attention). Shapes cannot tell those apart, nor
  the parts' order: each possibility is a :class:`Layout` candidate, and the evidence
  that picks one comes later (``--layout``, or a probe of the models: see
  :mod:`padiff_gen.analysis.evidence.layout_probe`).
- **stacked**: one layer holds 3-D tensors [experts, ...] (transformers 5's MoE experts:
  ``gate_up_proj`` [E, 2I, H], ``down_proj`` [E, H, I]) where the other model has a list
  of per-expert layers ``experts.0.up_gate_proj``, ... (PaddleFormers). Expert e's
  tensors are slice e of the stacked ones, maybe transposed, maybe fused in the same way.

Both become one *merged* unit on the side with more sub-layers, so that the units of the
two models pair one to one again, and each raw tensor gets one table row naming all its
sources (:mod:`padiff_gen.runtime.core.layouts` says how rows read).
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

from ..knowledge.layer_kinds import IN_OUT, LINEAR, OUT_IN
from ..plan.operations import Concatenate, Pipeline, Stack, Transpose
from ..plan.plan import TensorCopy, TensorRef, Unit

# The longest run of sibling layers one fused layer may stand for (q, k, v: 3).
MAX_FUSED_PARTS = 8
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
class Layout:
    """One way the parts may lie in a fused tensor: their order, and in how many groups
    the output axis holds them (1: one part after the other)."""

    order: tuple[int, ...]  # indices into the split side's parts, in fused order
    groups: int = 1
    names: tuple[str, ...] = ()  # the parts' names, in fused order
    text: str = ""  # how to say it, when not "a, b one after the other"

    @property
    def choice(self) -> str:
        """The name of this layout for ``--layout``: ``q_proj,k_proj,v_proj`` or
        ``q_proj,k_proj,v_proj/2`` (grouped in 2: per KV head)."""
        parts = ",".join(self.names)
        return parts if self.groups == 1 else f"{parts}/{self.groups}"

    def describe(self) -> str:
        if self.text:
            return self.text
        parts = ", ".join(self.names)
        if self.groups == 1:
            return f"{parts} one after the other"
        return f"{parts} in {self.groups} groups (per KV head)"


@dataclass(frozen=True)
class Candidate:
    """A layout and the table rows it gives."""

    layout: Layout
    copies: tuple[TensorCopy, ...]


@dataclass(frozen=True)
class MergedPair:
    """What pairing a merged unit found: the rows for each candidate layout (one when
    shapes decide), or the reason it cannot pair."""

    candidates: tuple[Candidate, ...] = ()
    problem: str = ""
    what: str = ""  # "fused" or "stacked", for messages


def _last(path: str) -> str:
    return path.rpartition(".")[2]


def _parent(path: str) -> str:
    return path.rpartition(".")[0]


# ---------------------------------------------------------------- linear-like units


@dataclass(frozen=True)
class LinearShape:
    """A unit holding one matrix (and maybe a bias), read as [out, in]."""

    unit: Unit
    weight: TensorRef
    bias: Optional[TensorRef]
    out: int
    inp: int
    layout: str  # out_in / in_out of its matrix


def linear_shapes(unit: Unit) -> list[LinearShape]:
    """The ways ``unit`` can be read as a linear layer: one for a known kind, both
    orientations for a layer of unknown kind, none for anything else."""
    if unit.special or unit.kind not in (LINEAR, ""):
        return []
    tensors = {t.name: t for t in unit.tensors}
    if set(tensors) not in ({"weight"}, {"weight", "bias"}):
        return []
    weight, bias = tensors["weight"], tensors.get("bias")
    if len(weight.shape) != 2 or weight.tied_to or (bias and len(bias.shape) != 1):
        return []
    layouts = [unit.layout] if unit.kind == LINEAR else [OUT_IN, IN_OUT]
    found = []
    for layout in layouts:
        out, inp = weight.shape if layout == OUT_IN else weight.shape[::-1]
        if bias is None or bias.shape == (out,):
            found.append(LinearShape(unit, weight, bias, out, inp, layout))
    return found


def _out_axis(layout: str) -> int:
    return 0 if layout == OUT_IN else 1


# ---------------------------------------------------------------- fused


@dataclass(frozen=True)
class Fused:
    """A run of split linear layers against one fused layer."""

    parts: tuple[LinearShape, ...]
    fused: LinearShape


def find_fused(run: Sequence[Unit], fused: Unit) -> Optional[Fused]:
    """The split/fused reading of ``run`` against ``fused``, if shapes allow one."""
    if len(run) < 2 or len({_parent(u.path) for u in run}) != 1:
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
    names = [_last(part.unit.path) for part in fused.parts]
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
    axis = _out_axis(whole.layout)
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


# ---------------------------------------------------------------- stacked


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
    shape = [(_last(u.path), u.shapes) for u in experts[0]]
    if any([(_last(u.path), u.shapes) for u in e] != shape for e in experts):
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
        names = tuple(_last(expert[i].path) for i in group.parts)
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
        axis = 0 if name == "bias" else _out_axis(slice_layout)
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


def merged_unit(units: Sequence[Unit], path: str) -> Unit:
    """One unit standing for several (see the module docstring)."""
    first = units[0]
    same_class = len({u.class_name for u in units}) == 1
    return Unit(
        path,
        first.class_name if same_class else "+".join(u.class_name for u in units),
        tuple(t for u in units for t in u.tensors),
        kind=first.kind if same_class else "",
        layout=first.layout if same_class else "",
        class_names=first.class_names if same_class else (),
        members=tuple(u.path for u in units),
    )


def fused_path(units: Sequence[Unit]) -> str:
    """``attn.{q_proj,k_proj,v_proj}`` for sibling layers."""
    return (
        f"{_parent(units[0].path)}.{{{','.join(_last(u.path) for u in units)}}}".lstrip(
            "."
        )
    )


def stacked_path(stacked: Stacked) -> str:
    """``mlp.experts``, the path of the list holding the per-expert layers."""
    return EXPERT.match(stacked.experts[0][0].path)["prefix"]


# ---------------------------------------------------------------- regrouping


@dataclass(frozen=True)
class Merge:
    """Units of one model (``side``) merged into one, and how they were read."""

    side: str  # "base" or "raw"
    fused: Optional[Fused] = None
    stacked: Optional[Stacked] = None

    @property
    def what(self) -> str:
        return "fused" if self.fused is not None else "stacked"


@dataclass(frozen=True)
class Regrouped:
    base_units: tuple[Unit, ...]
    raw_units: tuple[Unit, ...]
    merges: dict = field(default_factory=dict)  # merged unit path -> Merge

    @property
    def partners(self) -> dict[str, str]:
        """Base path -> raw path of every merged unit and the unit it stands for."""
        found = {}
        for path, merge in self.merges.items():
            other = merge_partner(merge)
            found.update({path: other} if merge.side == "base" else {other: path})
        return found


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(size for size in shape if size != 1)


def units_alike(base: Unit, raw: Unit) -> bool:
    """Could the two units pair one to one? Both special, or tensors of equal shapes
    (2-D ones possibly transposed, axes of size 1 aside)."""
    if base.special or raw.special:
        return base.special and raw.special
    if len(base.tensors) != len(raw.tensors):
        return False

    def fits(b: TensorRef, r: TensorRef) -> bool:
        return (
            b.shape == r.shape
            or (len(b.shape) == 2 and b.shape[::-1] == r.shape)
            or _squeezed(b.shape) == _squeezed(r.shape)
        )

    by_name = sorted(base.tensors, key=lambda t: t.name), sorted(
        raw.tensors, key=lambda t: t.name
    )
    return all(fits(b, r) for b, r in zip(*by_name)) or all(
        fits(b, r) for b, r in zip(base.tensors, raw.tensors)
    )


def _merge_at(
    many: Sequence[Unit], one: Unit, side: str
) -> Optional[tuple[list[Unit], Unit, Merge]]:
    """(the units of ``many``, from its start, that merge, the merged unit, how) to
    stand for ``one``; None when no run there does."""
    for count in range(2, min(MAX_FUSED_PARTS, len(many)) + 1):
        fused = find_fused(many[:count], one)
        if fused is not None:
            run = list(many[:count])
            return run, merged_unit(run, fused_path(run)), Merge(side, fused=fused)
    stacked = find_stacked(one, many)
    if stacked is not None:
        run = [u for expert in stacked.experts for u in expert]
        return (
            run,
            merged_unit(run, stacked_path(stacked)),
            Merge(side, stacked=stacked),
        )
    return None


# How far ahead of a unit the walk in definition order looks for a run that merges (a
# long list of experts).
MERGE_WINDOW = 4096


class _Merging:
    """The unit lists of both models as merges replace runs of units, with indexes
    that keep finding runs fast in models of thousands of units (MoE experts)."""

    def __init__(self, base_units: Sequence[Unit], raw_units: Sequence[Unit]) -> None:
        self.units = {"base": list(base_units), "raw": list(raw_units)}
        self.merges: dict[str, Merge] = {}
        self.paths = {
            side: {u.path for u in units} for side, units in self.units.items()
        }
        self.children: dict[str, dict[str, list[Unit]]] = {}  # side -> parent -> units
        self.listed: dict[str, dict[str, list[Unit]]] = {}  # side -> list path -> units
        for side, units in self.units.items():
            children, listed = {}, {}
            for unit in units:
                children.setdefault(_parent(unit.path), []).append(unit)
                parts = unit.path.split(".")
                for k, part in enumerate(parts[1:], start=1):
                    if part.isdigit():
                        listed.setdefault(".".join(parts[:k]), []).append(unit)
            self.children[side], self.listed[side] = children, listed
        self.merged: set[int] = set()  # ids of units already merged into another

    def free(self, units: Sequence[Unit]) -> list[Unit]:
        return [u for u in units if id(u) not in self.merged and not u.special]

    def apply(self, side: str, run: Sequence[Unit], unit: Unit, merge: Merge) -> None:
        units = self.units[side]
        at = next(i for i, u in enumerate(units) if u is run[0])
        gone = {id(u) for u in run}
        units[:] = [u for u in units if id(u) not in gone]
        units.insert(at, unit)
        self.merged.update(gone)
        self.paths[side] = (self.paths[side] - {u.path for u in run}) | {unit.path}
        self.merges[unit.path] = merge


def _merge_by_path(merging: _Merging) -> None:
    """Merges where paths point the way, whatever the definition order: a stacked layer
    and the other model's layers under the same path (``mlp.experts`` against
    ``mlp.experts.0...``), a fused layer and sibling layers under the same parent that
    the other model lacks (``self_attn.qkv_proj`` against ``self_attn.q_proj``...)."""
    for one_side, many_side in (("base", "raw"), ("raw", "base")):
        for one in list(merging.units[one_side]):
            if one.special or one.members or one.path in merging.paths[many_side]:
                continue
            below = merging.free(merging.listed[many_side].get(one.path, []))
            found = _merge_at(below, one, many_side) if below else None
            if found is None:
                others = merging.paths[one_side]
                siblings = [
                    u
                    for u in merging.free(
                        merging.children[many_side].get(_parent(one.path), [])
                    )
                    if u.path not in others
                ]
                for start in range(len(siblings) - 1):
                    found = _merge_at(siblings[start:], one, many_side)
                    if found is not None and found[2].fused is not None:
                        break
                    found = None
            if found is not None:
                merging.apply(many_side, *found)


def _merge_in_order(merging: _Merging) -> None:
    """Merges where definition order points the way: walking both models, a unit that
    does not pair one to one with the other model's unit there, but a run of units
    from there stands for it."""
    i = j = 0
    while i < len(merging.units["base"]) and j < len(merging.units["raw"]):
        base, raw = merging.units["base"][i], merging.units["raw"][j]
        if not (units_alike(base, raw) or base.special or raw.special):
            for side, start, one in (("base", i, raw), ("raw", j, base)):
                other = "raw" if side == "base" else "base"
                many = merging.units[side][start : start + MERGE_WINDOW]
                if many[0].members or one.members or one.path in merging.paths[side]:
                    continue  # (a unit with a same-path partner pairs with that one)
                # A run ends at a unit the other model has at the same path: that
                # one pairs by its path, not into a fused layer.
                run = list(
                    itertools.takewhile(
                        lambda u: u.path not in merging.paths[other], many
                    )
                )
                found = _merge_at(merging.free(run), one, side) if run else None
                if found is not None and found[0][0] is many[0]:
                    merging.apply(side, *found)
                    break
        i, j = i + 1, j + 1


def regroup(base_units: Sequence[Unit], raw_units: Sequence[Unit]) -> Regrouped:
    """Merge runs of units that stand for one unit of the other model (fused or stacked
    layouts): first where paths point the way, then walking both models in definition
    order. Units that pair one to one, or that nothing explains, stay as they are."""
    merging = _Merging(base_units, raw_units)
    _merge_by_path(merging)
    _merge_in_order(merging)
    return Regrouped(
        tuple(merging.units["base"]), tuple(merging.units["raw"]), merging.merges
    )


# ---------------------------------------------------------------- pairing merged units


def merged_candidates(
    merge: Merge, group_counts: Callable[[Unit], list[int]]
) -> MergedPair:
    """The table rows of a merged unit, for each layout the shapes allow."""
    if merge.stacked is not None:
        return stacked_candidates(merge.stacked, stacked_is_base=merge.side == "raw")
    fused = merge.fused
    layouts = fused_layouts(
        fused, group_counts(fused.fused.unit) + group_counts(fused.parts[0].unit)
    )
    split_is_base = merge.side == "base"
    return MergedPair(
        tuple(
            Candidate(layout, fused_copies(fused, layout, split_is_base))
            for layout in layouts
        ),
        what="fused",
    )


def merge_partner(merge: Merge) -> str:
    """The path of the unit of the other model that a merged unit stands for."""
    if merge.fused is not None:
        return merge.fused.fused.unit.path
    return merge.stacked.stacked.path
