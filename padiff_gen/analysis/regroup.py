"""Regrouping: runs of units of one model that stand for one unit of the other (the fused
and stacked layouts of :mod:`padiff_gen.analysis.layouts`) are merged into one unit, so
that the two models' units pair one to one again; then each merged unit's candidate rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from ..plan.plan import TensorRef, Unit

from .layouts.fused import Fused, find_fused, fused_copies, fused_layouts, fused_path
from .layouts.merged import Candidate, MergedPair, merged_unit, parent_path
from .layouts.stacked import Stacked, find_stacked, stacked_candidates, stacked_path

# The longest run of sibling layers one fused layer may stand for (q, k, v: 3).
MAX_FUSED_PARTS = 8


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
                children.setdefault(parent_path(unit.path), []).append(unit)
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
                        merging.children[many_side].get(parent_path(one.path), [])
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
