"""Layouts of several layers of one model against one layer of the other: what the
fused and stacked layouts share (their candidates, the linear layers they read, the
merged unit standing for the several).

Both make one *merged* unit on the side with more layers, so that the units of the two
models pair one to one again, and each raw tensor gets one table row naming all its
sources (:mod:`padiff_gen.runtime.core.layouts` says how rows read). The regrouping that
finds them is :mod:`padiff_gen.analysis.regroup`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from ...knowledge.layer_kinds import IN_OUT, LINEAR, OUT_IN
from ...plan.plan import TensorCopy, TensorRef, Unit


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


def last_name(path: str) -> str:
    return path.rpartition(".")[2]


def parent_path(path: str) -> str:
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


def out_axis(layout: str) -> int:
    return 0 if layout == OUT_IN else 1


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
