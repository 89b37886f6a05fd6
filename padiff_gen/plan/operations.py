"""Typed operations: what a table row does to its base tensors, as values, not text.

A row's transform is a :class:`Pipeline` of operations applied left to right to the
list of its base tensors, ending with one tensor, the raw one. Each operation is a small
frozen class that knows

- its **text**, the words the script's table shows (``split(axis=1, sizes=(64, 32))``),
  read back by :meth:`Pipeline.parse` with the runtime's own reader
  (:func:`padiff_gen.runtime.core.layouts.parse_pipeline`), so that what padiff-gen writes and
  what the script reads cannot drift apart;
- the **shapes** it gives for the shapes of its inputs;
- its **inverse**, for inputs of given shapes (a concatenation's is the split into the
  same sizes; a transpose's is itself);
- a **numpy reference** of what it computes, which the tests hold the runtime's copy
  kernels to.

A layout is declared once, in the direction that gathers several tensors into one (the
parts into a fused tensor, experts into a stacked one, a conv kernel into a Linear
weight); the other direction is :meth:`Pipeline.part`, the inverse narrowed to one of the
inputs, never a second hand-written pipeline. ``select`` and ``item`` are projections:
they have no inverse of their own and appear only in such narrowed inverses.

Shapes are tuples of ints; axes may be negative (counted from the last).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

import numpy as np

from ..runtime.core.layouts import layout_blocks, parse_pipeline

Shape = tuple[int, ...]


class NotInvertible(ValueError):
    """An operation or pipeline that has no inverse for the given inputs."""


def _tuple_text(values: Sequence[int]) -> str:
    """``(2, 3)``, ``(4,)``: a tuple as the table shows it."""
    inner = ", ".join(str(v) for v in values)
    return f"({inner},)" if len(values) == 1 else f"({inner})"


def _axis(shape: Shape, axis: int) -> int:
    return axis + len(shape) if axis < 0 else axis


def _runs(items: list, every: int) -> list[list]:
    """`items` cut into runs of `every` (0: one run of all)."""
    every = every or len(items)
    if every <= 0 or len(items) % every:
        raise ValueError(f"{len(items)} tensors do not make runs of {every}")
    return [items[i : i + every] for i in range(0, len(items), every)]


def _group_size(size: int, groups: int) -> int:
    if size % groups:
        raise ValueError(f"a size of {size} does not split into {groups} groups")
    return size // groups


class Operation:
    """One step of a pipeline: a list of tensors in, a list of tensors out."""

    name: ClassVar[str]
    # True when the step maps each tensor on its own (so that picking one tensor of the
    # result is picking it before the step).
    elementwise: ClassVar[bool] = False

    def text(self) -> str:
        raise NotImplementedError

    def shapes(
        self, shapes: list[Shape], target: Optional[Shape] = None
    ) -> list[Shape]:
        """The shapes of the outputs for inputs of `shapes` (`target`: the row's raw
        shape, which a bare ``reshape`` takes)."""
        raise NotImplementedError

    def inverse(self, shapes: list[Shape]) -> "Operation":
        """The operation that gives back inputs of `shapes` from the outputs."""
        raise NotInvertible(f"`{self.text()}` keeps only part of its input")

    def numpy(self, arrays: list[np.ndarray], target: Optional[Shape] = None) -> list:
        raise NotImplementedError


@dataclass(frozen=True)
class Transpose(Operation):
    """Swap the last two axes of each tensor (a Linear weight: torch [out, in], paddle
    [in, out])."""

    name: ClassVar[str] = "transpose"
    elementwise: ClassVar[bool] = True

    def text(self) -> str:
        return "transpose"

    def shapes(self, shapes, target=None):
        return [s[:-2] + (s[-1], s[-2]) for s in shapes]

    def inverse(self, shapes):
        return self

    def numpy(self, arrays, target=None):
        return [np.swapaxes(a, -1, -2) for a in arrays]


@dataclass(frozen=True)
class Reshape(Operation):
    """Reshape each tensor to `shape`; bare (`shape` None), to the row's raw shape."""

    shape: Optional[Shape] = None
    name: ClassVar[str] = "reshape"
    elementwise: ClassVar[bool] = True

    def text(self) -> str:
        return (
            "reshape"
            if self.shape is None
            else f"reshape(shape={_tuple_text(self.shape)})"
        )

    def _target(self, target: Optional[Shape]) -> Shape:
        shape = self.shape if self.shape is not None else target
        if shape is None:
            raise ValueError("a bare reshape needs the raw tensor's shape")
        return tuple(shape)

    def shapes(self, shapes, target=None):
        shape = self._target(target)
        for s in shapes:
            if math.prod(s) != math.prod(shape):
                raise ValueError(f"cannot reshape {s} into {shape}")
        return [shape for _ in shapes]

    def inverse(self, shapes):
        if len(set(shapes)) != 1:
            raise NotInvertible(
                f"`{self.text()}` of tensors of several shapes {shapes}"
            )
        return Reshape(tuple(shapes[0]))

    def numpy(self, arrays, target=None):
        return [a.reshape(self._target(target)) for a in arrays]


@dataclass(frozen=True)
class Select(Operation):
    """Index `index` along `axis` of each tensor; the axis goes away (expert e of a
    stacked tensor)."""

    axis: int
    index: int
    name: ClassVar[str] = "select"
    elementwise: ClassVar[bool] = True

    def text(self) -> str:
        return f"select(axis={self.axis}, index={self.index})"

    def shapes(self, shapes, target=None):
        out = []
        for s in shapes:
            axis = _axis(s, self.axis)
            if not 0 <= self.index < s[axis]:
                raise ValueError(f"index {self.index} is out of {s} along axis {axis}")
            out.append(s[:axis] + s[axis + 1 :])
        return out

    def numpy(self, arrays, target=None):
        return [np.take(a, self.index, axis=self.axis) for a in arrays]


@dataclass(frozen=True)
class Item(Operation):
    """Keep only tensor `index` of the list."""

    index: int
    name: ClassVar[str] = "item"

    def text(self) -> str:
        return f"item(index={self.index})"

    def shapes(self, shapes, target=None):
        return [shapes[self.index]]

    def numpy(self, arrays, target=None):
        return [arrays[self.index]]


@dataclass(frozen=True)
class Split(Operation):
    """Cut each tensor along `axis` into parts of these total `sizes`. With `groups`
    g the axis holds g groups one after the other, each with a g-th of every part (per
    KV head: [q0, k0, v0, q1, k1, v1])."""

    axis: int
    sizes: Shape
    groups: int = 1
    name: ClassVar[str] = "split"

    def text(self) -> str:
        grouped = f", groups={self.groups}" if self.groups != 1 else ""
        return f"split(axis={self.axis}, sizes={_tuple_text(self.sizes)}{grouped})"

    def shapes(self, shapes, target=None):
        out = []
        for s in shapes:
            axis = _axis(s, self.axis)
            if sum(self.sizes) != s[axis]:
                raise ValueError(f"the sizes {self.sizes} do not add up to {s[axis]}")
            for size in self.sizes:
                _group_size(size, self.groups)
                out.append(s[:axis] + (size,) + s[axis + 1 :])
        return out

    def inverse(self, shapes):
        every = len(self.sizes) if len(shapes) > 1 else 0
        return Concatenate(self.axis, self.groups, every)

    def numpy(self, arrays, target=None):
        out = []
        per_group = [_group_size(size, self.groups) for size in self.sizes]
        stride = sum(per_group)
        for a in arrays:
            axis = _axis(a.shape, self.axis)
            for part, size in enumerate(per_group):
                offset = sum(per_group[:part])
                pieces = [
                    np.take(
                        a, range(g * stride + offset, g * stride + offset + size), axis
                    )
                    for g in range(self.groups)
                ]
                out.append(np.concatenate(pieces, axis=axis))
        return out


@dataclass(frozen=True)
class Concatenate(Operation):
    """Join the tensors along `axis`; with `groups` g, g-th by g-th (the inverse of a
    grouped split); with `every` n, each run of n tensors on its own."""

    axis: int
    groups: int = 1
    every: int = 0
    name: ClassVar[str] = "concatenate"

    def text(self) -> str:
        grouped = f", groups={self.groups}" if self.groups != 1 else ""
        runs = f", every={self.every}" if self.every else ""
        return f"concatenate(axis={self.axis}{grouped}{runs})"

    def shapes(self, shapes, target=None):
        out = []
        for run in _runs(list(shapes), self.every):
            axis = _axis(run[0], self.axis)
            rest = {s[:axis] + s[axis + 1 :] for s in run}
            if len(rest) != 1:
                raise ValueError(f"cannot concatenate {run} along axis {axis}")
            for s in run:
                _group_size(s[axis], self.groups)
            out.append(
                run[0][:axis] + (sum(s[axis] for s in run),) + run[0][axis + 1 :]
            )
        return out

    def inverse(self, shapes):
        runs = _runs(list(shapes), self.every)
        sizes = {tuple(s[_axis(s, self.axis)] for s in run) for run in runs}
        if len(sizes) != 1:
            raise NotInvertible(
                f"`{self.text()}` joins runs of different sizes {sizes}"
            )
        return Split(self.axis, sizes.pop(), self.groups)

    def numpy(self, arrays, target=None):
        out = []
        for run in _runs(list(arrays), self.every):
            axis = _axis(run[0].shape, self.axis)
            sizes = [_group_size(a.shape[axis], self.groups) for a in run]
            pieces = [
                np.take(a, range(g * size, (g + 1) * size), axis)
                for g in range(self.groups)
                for a, size in zip(run, sizes)
            ]
            out.append(np.concatenate(pieces, axis=axis))
        return out


@dataclass(frozen=True)
class Stack(Operation):
    """Join the tensors along a new axis; with `every` n, each run of n on its own."""

    axis: int
    every: int = 0
    name: ClassVar[str] = "stack"

    def text(self) -> str:
        runs = f", every={self.every}" if self.every else ""
        return f"stack(axis={self.axis}{runs})"

    def shapes(self, shapes, target=None):
        out = []
        for run in _runs(list(shapes), self.every):
            if len(set(run)) != 1:
                raise ValueError(f"cannot stack tensors of shapes {run}")
            axis = self.axis + len(run[0]) + 1 if self.axis < 0 else self.axis
            out.append(run[0][:axis] + (len(run),) + run[0][axis:])
        return out

    def inverse(self, shapes):
        return Unstack(self.axis)

    def numpy(self, arrays, target=None):
        return [
            np.stack(run, axis=self.axis) for run in _runs(list(arrays), self.every)
        ]


@dataclass(frozen=True)
class Unstack(Operation):
    """Each tensor cut along `axis` into its slices, which lose the axis: the inverse of
    :class:`Stack`. The runtime does not read it: it appears in a row only narrowed to
    one slice, as ``select`` (see :meth:`Pipeline.part`)."""

    axis: int
    name: ClassVar[str] = "unstack"

    def text(self) -> str:
        return f"unstack(axis={self.axis})"

    def shapes(self, shapes, target=None):
        out = []
        for s in shapes:
            axis = _axis(s, self.axis)
            out.extend([s[:axis] + s[axis + 1 :]] * s[axis])
        return out

    def inverse(self, shapes):
        count = shapes[0][_axis(shapes[0], self.axis)]
        return Stack(self.axis, count if len(shapes) > 1 else 0)

    def numpy(self, arrays, target=None):
        return [
            np.take(a, i, axis=self.axis)
            for a in arrays
            for i in range(a.shape[_axis(a.shape, self.axis)])
        ]


OPERATIONS: dict[str, type[Operation]] = {
    op.name: op
    for op in (Transpose, Reshape, Select, Item, Split, Concatenate, Stack, Unstack)
}


@dataclass(frozen=True)
class Pipeline:
    """A row's transform: operations applied left to right to its base tensors. The
    empty pipeline is ``copy``; ``transpose`` and a bare ``reshape`` are the simple
    transforms every other row uses."""

    operations: tuple[Operation, ...] = ()

    # ------------------------------------------------------------ text
    def text(self) -> str:
        """What the table shows: ``copy``, or the operations joined by `` | ``."""
        if not self.operations:
            return "copy"
        return " | ".join(op.text() for op in self.operations)

    def __str__(self) -> str:
        return self.text()

    @classmethod
    def parse(cls, text: str) -> "Pipeline":
        """The pipeline a table's transform text stands for (ValueError if none)."""
        if text.strip() == "copy":
            return cls()
        steps = []
        for name, arguments in parse_pipeline(text):
            operation = OPERATIONS.get(name)
            if operation is None:
                raise ValueError(f"unknown operation {name!r} in {text!r}")
            steps.append(operation(**arguments))
        return cls(tuple(steps))

    @classmethod
    def of(cls, *operations: Operation) -> "Pipeline":
        return cls(tuple(operations))

    def then(self, *operations: Operation) -> "Pipeline":
        return Pipeline(self.operations + tuple(operations))

    # ------------------------------------------------------------ facts
    @property
    def simple(self) -> bool:
        """copy, transpose or a bare reshape: one base tensor, no blocks."""
        return self in (COPY, TRANSPOSE, RESHAPE)

    @property
    def transposes(self) -> bool:
        return any(isinstance(op, Transpose) for op in self.operations)

    def shapes(self, shapes: Sequence[Shape], target: Optional[Shape] = None) -> list:
        """The shapes after every step, inputs first (ValueError if they do not fit)."""
        steps = [list(map(tuple, shapes))]
        for op in self.operations:
            steps.append(op.shapes(steps[-1], target))
        return steps

    def result_shape(self, shapes: Sequence[Shape], target=None) -> Shape:
        last = self.shapes(shapes, target)[-1]
        if len(last) != 1:
            raise ValueError(f"`{self.text()}` leaves {len(last)} tensors, not one")
        return last[0]

    def blocks(self, shapes: Sequence[Shape], target: Optional[Shape] = None) -> list:
        """[(raw region, base index, base views)] the runtime fills the raw tensor with
        (see :func:`padiff_gen.runtime.core.layouts.layout_blocks`)."""
        if self == COPY:
            return [((), 0, ())]
        if self == TRANSPOSE:
            return [((), 0, (("transpose",),))]
        if self == RESHAPE:
            return [((), 0, (("reshape", tuple(target)),))]
        return layout_blocks(self.text(), [tuple(s) for s in shapes])

    # ------------------------------------------------------------ inverse
    def inverse(self, shapes: Sequence[Shape]) -> "Pipeline":
        """The pipeline that gives back the inputs (of `shapes`) from the output:
        the inverse of each step, last step first."""
        steps = self.shapes(shapes)
        return Pipeline(
            tuple(
                op.inverse(steps[i])
                for i, op in reversed(list(enumerate(self.operations)))
            )
        )

    def part(self, index: int, shapes: Sequence[Shape]) -> "Pipeline":
        """The inverse narrowed to input `index`: the pipeline that makes that one input
        from the output, with the pick moved as early as it goes (``unstack`` then
        ``item(e)`` is ``select(e)``; a pick of the only tensor is dropped)."""
        return self.parts(shapes)[index]

    def parts(self, shapes: Sequence[Shape]) -> list["Pipeline"]:
        """:meth:`part` of every input, in order (the shapes worked out once)."""
        inverse = list(self.inverse(shapes).operations)
        steps = [[self.result_shape(shapes)]]
        for op in inverse:
            steps.append(op.shapes(steps[-1]))
        return [_narrowed(inverse, index, steps) for index in range(len(shapes))]

    # ------------------------------------------------------------ reference
    def numpy(self, arrays: Sequence[np.ndarray], target=None) -> np.ndarray:
        """What the pipeline computes, with numpy (the reference the runtime's copies
        are held to)."""
        values = list(arrays)
        for op in self.operations:
            values = op.numpy(values, target)
        if len(values) != 1:
            raise ValueError(f"`{self.text()}` leaves {len(values)} tensors, not one")
        return values[0]


def _narrowed(operations: list[Operation], index: int, steps: list) -> Pipeline:
    """``operations | item(index)``, the pick moved early; `steps` are the shapes
    before each operation (and after the last)."""
    shapes = steps[0]
    picks: list[Operation] = []
    for position in range(len(operations) - 1, -1, -1):
        op, before = operations[position], steps[position]
        if op.elementwise:
            picks.insert(0, op)
        elif isinstance(op, Split):
            count = len(op.sizes)
            picks.insert(0, Item(index % count))
            picks.insert(0, op)
            index //= count
        elif isinstance(op, Unstack):
            count = before[0][_axis(before[0], op.axis)]
            picks.insert(0, Select(op.axis, index % count))
            index //= count
        else:  # a join: the pick stays after it
            return Pipeline(
                tuple(operations[: position + 1]) + (Item(index),) + tuple(picks)
            )
    if len(shapes) == 1 and index == 0:
        return Pipeline(tuple(picks))
    return Pipeline((Item(index),) + tuple(picks))


COPY = Pipeline()
TRANSPOSE = Pipeline((Transpose(),))
RESHAPE = Pipeline((Reshape(),))


def as_pipeline(transform) -> Pipeline:
    """A Pipeline from a Pipeline or its text."""
    return transform if isinstance(transform, Pipeline) else Pipeline.parse(transform)
