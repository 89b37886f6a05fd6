"""Random tensor values defined element by element, so that any part of a tensor can be
made without the rest.

Deciding a layout on one block of a model at its real size (a 7B model's attention or
MLP, :mod:`padiff_gen.analysis.evidence.block_probe`) must hold neither the model nor both sides of the
block's largest tensor at once. So the base model's random weights are not drawn from a
stream: element ``n`` of a base tensor is ``shift + std * u(seed, n)``, where ``u`` is a
uniform hash of the element's index (lowbias32, after an affine map chosen by the tensor's
seed) scaled to unit variance. Any view of a base tensor (a transposed block of a fused
tensor, expert 5 of a stacked one) is then made straight into the raw tensor that needs
it, and a base tensor is made whole only when the base model runs it.

A tensor may be *alike along an axis* (stride 0): stacked experts [E, ...] hold one
expert's values E times, in one expert's memory; their per-expert counterparts share one
seed (:func:`family_path`). Every expert then computes the same function, which leaves
the layout inside an expert (gate and up, in which order) to be decided, at the cost of
one expert.

Shapes: an :class:`IndexMap` is (offset, shape, strides) in elements of a base tensor's
logical index space; views are the runtime's (:func:`padiff_gen.runtime.core.layouts.
layout_blocks`): ``("transpose",)``, ``("narrow", axis, start, length)``, ``("select",
axis, index)``, ``("unsqueeze", axis)``, ``("reshape", shape)``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

# Elements made at once: bounds the temporaries of a fill (int64 indices, uint32 hashes).
CHUNK = 1 << 20
_MASK = 0xFFFFFFFF
_A, _B = np.uint32(0x7FEB352D), np.uint32(0x846CA68B)
_S16, _S15 = np.uint32(16), np.uint32(15)
_UNIT = math.sqrt(12.0)  # the std of U(-1/2, 1/2) is 1/sqrt(12)


def seed_of(text: str) -> int:
    """A stable 32-bit seed for a tensor path (Python's hash() changes per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def family_path(path: str, prefix: str) -> str:
    """The path shared by the experts of a list at ``prefix``: ``<prefix>.*.<rest>``
    for ``<prefix>.<index>.<rest>``; any other path as it is."""
    if not path.startswith(prefix + "."):
        return path
    index, _, rest = path[len(prefix) + 1 :].partition(".")
    if not index.isdigit():
        return path
    return f"{prefix}.*" + (f".{rest}" if rest else "")


def _hash32(x: np.ndarray) -> np.ndarray:
    x ^= x >> _S16
    x *= _A
    x ^= x >> _S15
    x *= _B
    x ^= x >> _S16
    return x


def _affine(seed: int) -> tuple[int, int]:
    """The odd multiplier and the offset that map a tensor's element indices before
    hashing: tensors of different seeds get unrelated values."""
    mixed = _hash32(np.array([seed & _MASK, (seed ^ 0x5BD1E995) & _MASK], np.uint32))
    return int(mixed[0]) | 1, int(mixed[1])


@dataclass(frozen=True)
class IndexMap:
    """Which elements of a base tensor a view holds: element ``i`` (a multi-index) of
    the view is element ``offset + sum(i[k] * strides[k])`` of the base tensor."""

    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]

    @classmethod
    def whole(cls, shape: Sequence[int], alike_axis: Optional[int] = None) -> IndexMap:
        """The whole tensor, row-major; zero stride along ``alike_axis``."""
        shape = tuple(int(d) for d in shape)
        strides, step = [], 1
        for size in reversed(shape):
            strides.append(step)
            step *= size
        strides.reverse()
        if alike_axis is not None:
            strides[alike_axis] = 0
        return cls(0, shape, tuple(strides))

    def view(self, step: tuple) -> IndexMap:
        """The map after one of the runtime's views (raises ValueError if it cannot)."""
        name, *arguments = step
        shape, strides = list(self.shape), list(self.strides)
        if name == "transpose":
            shape[-2:], strides[-2:] = shape[-1:-3:-1], strides[-1:-3:-1]
            return IndexMap(self.offset, tuple(shape), tuple(strides))
        if name == "narrow":
            axis, start, length = arguments
            shape[axis] = length
            return IndexMap(
                self.offset + start * strides[axis], tuple(shape), tuple(strides)
            )
        if name == "select":
            axis, index = arguments
            offset = self.offset + index * strides[axis]
            del shape[axis], strides[axis]
            return IndexMap(offset, tuple(shape), tuple(strides))
        if name == "unsqueeze":
            (axis,) = arguments
            shape.insert(axis, 1)
            strides.insert(axis, 0)
            return IndexMap(self.offset, tuple(shape), tuple(strides))
        if name == "reshape":
            (new_shape,) = arguments
            whole = IndexMap.whole(self.shape)
            if self.strides != whole.strides:
                raise ValueError("cannot reshape a view that is not contiguous")
            fresh = IndexMap.whole(new_shape)
            return IndexMap(self.offset, fresh.shape, fresh.strides)
        raise ValueError(f"unknown view {name!r}")

    def key(self) -> tuple:
        return (self.offset, self.shape, self.strides)


@dataclass(frozen=True)
class Values:
    """The values of one base tensor: ``shift + std * sqrt(12) * (u(seed, n) - 1/2)``,
    alike along ``alike_axis`` when given (stacked experts)."""

    seed: int
    shape: tuple[int, ...]
    std: float
    shift: float = 0.0
    alike_axis: Optional[int] = None

    def index_map(self) -> IndexMap:
        return IndexMap.whole(self.shape, self.alike_axis)

    def key(self) -> tuple:
        return (self.seed, self.std, self.shift)

    def fill(self, out: np.ndarray, where: IndexMap) -> None:
        """Write the elements ``where`` points at into ``out`` (float32, where's shape;
        any strides), a chunk at a time."""
        if tuple(out.shape) != where.shape:
            raise ValueError(f"cannot fill {out.shape} with a view of {where.shape}")
        _fill(out, where.offset, where.shape, where.strides, self)

    def array(self) -> np.ndarray:
        """The whole tensor as float32 (alike slices share one slice's memory)."""
        if self.alike_axis is None:
            out = np.empty(self.shape, np.float32)
            self.fill(out, self.index_map())
            return out
        one = list(self.shape)
        one[self.alike_axis] = 1
        single = np.empty(one, np.float32)
        where = self.index_map()
        self.fill(single, IndexMap(0, tuple(one), where.strides))
        return stretched(single, self.alike_axis, self.shape[self.alike_axis])

    def _values(self, x: np.ndarray) -> np.ndarray:
        """The values of elements whose mapped indices (see _fill) are ``x``, which is
        hashed in place."""
        u = (_hash32(x) >> np.uint32(8)).astype(np.float32)
        scale = self.std * _UNIT
        u *= np.float32(scale * 2.0**-24)
        u += np.float32(self.shift - scale / 2)
        return u


def stretched(single: np.ndarray, axis: int, size: int) -> np.ndarray:
    """``single`` (size 1 along ``axis``) repeated ``size`` times with stride 0: a
    writable view, so that both frameworks take it without a copy."""
    shape = list(single.shape)
    shape[axis] = size
    strides = list(single.strides)
    strides[axis] = 0
    return np.lib.stride_tricks.as_strided(
        single, tuple(shape), tuple(strides), writeable=True
    )


def _fill(out, offset, shape, strides, values: Values) -> None:
    """Fill ``out`` with the elements at ``offset + sum(i * strides)``. The hash's
    input ``index * multiplier + c`` is affine in the index, so it is built mod 2**32
    from per-axis steps, without int64 indices."""
    count = math.prod(shape)
    if count == 0:
        return
    if count <= CHUNK or len(shape) == 0:
        multiplier, c = _affine(values.seed)
        x = np.full((1,) * len(shape), (offset * multiplier + c) & _MASK, np.uint32)
        for axis, (size, stride) in enumerate(zip(shape, strides)):
            step = np.uint32((stride * multiplier) & _MASK)
            ramp = np.arange(size, dtype=np.uint32)
            ramp *= step
            x = x + ramp.reshape((1,) * axis + (size,) + (1,) * (len(shape) - axis - 1))
        if x.shape != tuple(shape):  # a size-1 axis left out of the sums
            x = np.broadcast_to(x, shape).copy()
        out[...] = values._values(x)
        return
    rest = math.prod(shape[1:])
    if rest <= CHUNK:
        step = max(1, CHUNK // max(rest, 1))
        for start in range(0, shape[0], step):
            stop = min(shape[0], start + step)
            _fill(
                out[start:stop],
                offset + start * strides[0],
                (stop - start,) + shape[1:],
                strides,
                values,
            )
        return
    for index in range(shape[0]):
        _fill(out[index], offset + index * strides[0], shape[1:], strides[1:], values)
