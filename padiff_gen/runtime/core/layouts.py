"""Composite rows: a raw tensor made from several base tensors, or from part of one.

A row of the tensor table names its base tensor (or a tuple of them) and a transform. The
simple transforms are ``copy``, ``transpose`` (a Linear weight: torch [out, in], paddle
[in, out]) and ``reshape`` (to the raw shape). Anything else is a pipeline of operations
separated by `` | ``, applied left to right to the list of base tensors, that ends with
one tensor, the raw one:

=================================================  =========================================
``transpose``                                      swap the last two axes of each tensor
``reshape(shape=(8, 288))``                        reshape each tensor
``select(axis=0, index=3)``                        index each tensor along an axis, which
                                                   goes away (expert 3 of a stacked tensor)
``split(axis=1, sizes=(64, 32, 32), groups=1)``    cut each tensor along an axis into parts
                                                   of these total sizes; with ``groups=g``
                                                   the axis holds g groups one after the
                                                   other, each with a g-th of every part
``item(index=0)``                                  keep only this tensor of the list
``concatenate(axis=1, groups=1, every=0)``         join the tensors along an axis; with
                                                   ``groups=g``, g-th by g-th (per KV head:
                                                   [q0, k0, v0, q1, k1, v1]); ``every=n``
                                                   joins each run of n tensors separately
``stack(axis=0, every=0)``                         join the tensors along a new axis;
                                                   ``every=n`` stacks each run of n apart
=================================================  =========================================

so that, for example, ``transpose | concatenate(axis=1, groups=2)`` builds a paddle
``qkv_proj.weight`` [in, q + k + v] from torch's q, k and v [out, in] weights grouped per
KV head (2 KV heads), the layout PaddleFormers' fused attention reads.

Nothing is computed here: a pipeline is compiled, from shapes alone, into *blocks*, each
one region of the raw tensor and the view of one base tensor that fills it. The copy
kernels then copy each block in place, so a fused or stacked tensor costs no more memory
than a plain one.
"""

import ast

SIMPLE_TRANSFORMS = ("copy", "transpose", "reshape")


def parse_pipeline(transform):
    """[(name, {argument: value}), ...] of a transform string."""
    steps = []
    for text in transform.split("|"):
        call = ast.parse(text.strip(), mode="eval").body
        if isinstance(call, ast.Name):
            steps.append((call.id, {}))
            continue
        if not isinstance(call, ast.Call) or call.args:
            raise ValueError(f"cannot read the operation {text.strip()!r}")
        arguments = {k.arg: ast.literal_eval(k.value) for k in call.keywords}
        steps.append((call.func.id, arguments))
    return steps


class Piece:
    """One base tensor seen through views: (operation, arguments...) applied in order."""

    def __init__(self, source, shape, views=()):
        self.source = source
        self.shape = tuple(shape)
        self.views = tuple(views)

    def view(self, step, shape):
        return Piece(self.source, shape, self.views + (step,))


class Joined:
    """Values side by side along an axis, in order."""

    def __init__(self, axis, parts, shape):
        self.axis = axis
        self.parts = tuple(parts)
        self.shape = tuple(shape)


def joined(axis, parts):
    """Values side by side along `axis` (one value stays itself)."""
    if len(parts) == 1:
        return parts[0]
    shape = list(parts[0].shape)
    shape[axis] = sum(part.shape[axis] for part in parts)
    return Joined(axis, parts, shape)


def transposed(value):
    """Swap the last two axes."""
    shape = value.shape[:-2] + (value.shape[-1], value.shape[-2])
    if isinstance(value, Piece):
        return value.view(("transpose",), shape)
    last = len(value.shape) - 1
    axis = {last: last - 1, last - 1: last}.get(value.axis, value.axis)
    return Joined(axis, [transposed(part) for part in value.parts], shape)


def narrowed(value, axis, start, length):
    """Elements start .. start + length along `axis`."""
    shape = list(value.shape)
    shape[axis] = length
    if isinstance(value, Piece):
        return value.view(("narrow", axis, start, length), shape)
    if value.axis != axis:
        parts = [narrowed(part, axis, start, length) for part in value.parts]
        return Joined(value.axis, parts, shape)
    parts, offset = [], 0
    for part in value.parts:
        size = part.shape[axis]
        begin, end = max(start, offset), min(start + length, offset + size)
        if begin < end:
            parts.append(narrowed(part, axis, begin - offset, end - begin))
        offset += size
    return joined(axis, parts)


def selected(value, axis, index):
    """Index `index` along `axis`, which goes away."""
    shape = value.shape[:axis] + value.shape[axis + 1 :]
    if isinstance(value, Piece):
        return value.view(("select", axis, index), shape)
    if value.axis == axis:
        for part in value.parts:
            if index < part.shape[axis]:
                return selected(part, axis, index)
            index -= part.shape[axis]
        raise IndexError(f"index out of range along axis {axis}")
    inner = value.axis - 1 if value.axis > axis else value.axis
    return Joined(inner, [selected(part, axis, index) for part in value.parts], shape)


def unsqueezed(value, axis):
    """A new axis of size 1 at `axis`."""
    shape = value.shape[:axis] + (1,) + value.shape[axis:]
    if isinstance(value, Piece):
        return value.view(("unsqueeze", axis), shape)
    outer = value.axis + 1 if value.axis >= axis else value.axis
    return Joined(outer, [unsqueezed(part, axis) for part in value.parts], shape)


def reshaped(value, shape):
    if not isinstance(value, Piece):
        raise ValueError("reshape applies to a single base tensor")
    return value.view(("reshape", tuple(shape)), shape)


def _axis(value, axis):
    return axis + len(value.shape) if axis < 0 else axis


def _group_size(size, groups, what):
    if size % groups:
        raise ValueError(f"{what} of size {size} does not split into {groups} groups")
    return size // groups


def _split(value, axis, sizes, groups=1):
    axis = _axis(value, axis)
    if sum(sizes) != value.shape[axis]:
        raise ValueError(f"the sizes {sizes} do not add up to {value.shape[axis]}")
    per_group = [_group_size(size, groups, "a part") for size in sizes]
    stride = sum(per_group)
    parts = []
    for part, size in enumerate(per_group):
        offset = sum(per_group[:part])
        pieces = [
            narrowed(value, axis, g * stride + offset, size) for g in range(groups)
        ]
        parts.append(joined(axis, pieces))
    return parts


def _concatenate(values, axis, groups=1):
    axis = _axis(values[0], axis)
    sizes = [_group_size(v.shape[axis], groups, "a tensor") for v in values]
    pieces = [
        narrowed(value, axis, g * size, size)
        for g in range(groups)
        for value, size in zip(values, sizes)
    ]
    return joined(axis, pieces)


def apply_step(values, name, arguments):
    """The list of values after one operation of a pipeline."""
    if name == "transpose":
        return [transposed(value) for value in values]
    if name == "reshape":
        return [reshaped(value, arguments["shape"]) for value in values]
    if name == "select":
        return [
            selected(value, _axis(value, arguments["axis"]), arguments["index"])
            for value in values
        ]
    if name == "split":
        return [part for value in values for part in _split(value, **arguments)]
    if name == "item":
        return [values[arguments["index"]]]
    if name == "concatenate":
        every = arguments.get("every") or len(values)
        runs = [values[i : i + every] for i in range(0, len(values), every)]
        axis, groups = arguments["axis"], arguments.get("groups", 1)
        return [_concatenate(run, axis, groups) for run in runs]
    if name == "stack":
        axis = arguments["axis"]
        every = arguments.get("every") or len(values)
        runs = [values[i : i + every] for i in range(0, len(values), every)]
        return [
            joined(axis, [unsqueezed(value, axis) for value in run]) for run in runs
        ]
    raise ValueError(f"unknown operation {name!r}")


def evaluate(transform, shapes):
    """The value a pipeline gives for base tensors of these shapes (no data involved)."""
    values = [Piece(index, shape) for index, shape in enumerate(shapes)]
    for name, arguments in parse_pipeline(transform):
        values = apply_step(values, name, arguments)
    if len(values) != 1:
        raise ValueError(f"{transform!r} leaves {len(values)} tensors, not one")
    return values[0]


def layout_blocks(transform, shapes):
    """[(raw region, base index, base views)] that together fill the raw tensor.

    A raw region is a tuple of (axis, start, length) narrowings; base views are the
    operations that give the base tensor's part, as in :class:`Piece`.
    """
    blocks = []

    def walk(value, region):
        if isinstance(value, Piece):
            blocks.append((region, value.source, value.views))
            return
        offset = 0
        for part in value.parts:
            size = part.shape[value.axis]
            walk(part, region + ((value.axis, offset, size),))
            offset += size

    walk(evaluate(transform, shapes), ())
    return blocks


def result_shape(transform, shapes):
    """The shape a pipeline gives for base tensors of these shapes."""
    return evaluate(transform, shapes).shape
