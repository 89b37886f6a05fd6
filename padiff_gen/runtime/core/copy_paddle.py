"""Copy kernels for paddle -> paddle scripts, which need no torch.

paddle.assign writes into the raw tensor's own memory on its own device; a transpose or a
dtype change makes one temporary the size of that tensor first. Every function here has
the same name and meaning as its counterpart in copy_torch.
"""

import numpy
import paddle

from .common import WRITES
from .layouts import layout_blocks

# paddle's copies run in the calling thread (see copy_torch.MAKE_AHEAD).
MAKE_AHEAD = False


def has_data(tensor):
    """False for tensors built under paddle.LazyGuard, which have no storage yet."""
    return tensor._is_initialized()


def copy_tensor(dst, src, transform="copy"):
    """Copy `src` into `dst` in place, keeping dst's dtype and device.

    `transform` is "copy", "transpose" (the last two axes: a 2-D weight, or a stack of
    them) or "reshape" (same elements, dst's shape). During a rehearsal (see WriteLog)
    everything is checked and nothing is written.
    """
    if not dst._is_initialized():
        raise ValueError("cannot copy into a tensor without storage (paddle.LazyGuard)")
    source = src.detach()
    if transform == "transpose":  # the last two axes: a matrix, or a stack of them
        order = list(range(source.ndim))
        order[-2], order[-1] = order[-1], order[-2]
        source = source.transpose(order)
    elif transform == "reshape":
        source = source.reshape(dst.shape)
    if tuple(source.shape) != tuple(dst.shape):
        raise ValueError(
            f"cannot copy a tensor of shape {list(source.shape)} into one of shape "
            f"{list(dst.shape)}"
        )
    if WRITES.note(memory_span(dst)):
        return
    if source.dtype != dst.dtype:
        source = source.astype(dst.dtype)
    paddle.assign(source, output=dst)


def view_of(tensor, views):
    """`tensor` seen through views as layouts.layout_blocks gives them (paddle slices
    are copies: each holds one block)."""
    for name, *arguments in views:
        if name == "transpose":
            order = list(range(tensor.ndim))
            order[-2], order[-1] = order[-1], order[-2]
            tensor = tensor.transpose(order)
        elif name == "reshape":
            tensor = tensor.reshape(list(arguments[0]))
        elif name == "narrow":
            axis, start, length = arguments
            tensor = paddle.slice(tensor, [axis], [start], [start + length])
        elif name == "select":
            axis, index = arguments
            tensor = paddle.slice(tensor, [axis], [index], [index + 1]).squeeze(axis)
        elif name == "unsqueeze":
            tensor = tensor.unsqueeze(arguments[0])
    return tensor


def copy_blocks(dst, base, transform, base_shape, read_base, copy=None):
    """Fill `dst` as a composite table row says: from the base tensors at the paths
    `base` (shapes `base_shape`), read with `read_base(path)`, through the pipeline
    `transform` (see layouts), block by block, written into dst's own memory (paddle
    slices are copies, so each block is assigned in place; `copy` is not needed)."""
    if not dst._is_initialized():
        raise ValueError("cannot copy into a tensor without storage (paddle.LazyGuard)")
    sources = [read_base(path).detach() for path in base]
    for region, index, views in layout_blocks(transform, base_shape):
        where = [slice(None)] * dst.ndim
        for axis, start, length in region:  # nested narrowings add up
            offset = where[axis].start or 0
            where[axis] = slice(offset + start, offset + start + length)
        block = view_of(sources[index], views).astype(dst.dtype)
        with paddle.no_grad():
            dst[tuple(where)] = block


class ParallelCopies:
    """The interface of copy_torch.ParallelCopies; paddle's copies run one at a time."""

    def __init__(self, parallel=True):
        pass

    def __enter__(self):
        return self

    def copy(self, dst, src, transform="copy"):
        copy_tensor(dst, src, transform)

    def __exit__(self, *exc_info):
        return None


def synchronize_devices():
    """Wait for queued GPU work, so that every copy is complete when this returns."""
    if paddle.device.is_compiled_with_cuda() and paddle.device.cuda.device_count() > 0:
        paddle.device.cuda.synchronize()


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return tensor.detach().clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place (nothing during a rehearsal)."""
    if not WRITES.note(memory_span(dst)):
        paddle.assign(paddle.full(dst.shape, value, dtype=dst.dtype), output=dst)


def memory_span(tensor):
    """(first byte, end) of the memory a tensor's elements lie in."""
    start = tensor.data_ptr()
    if tensor.size == 0:
        return (start, start)
    strides = tensor.strides if tensor.strides else [1] * len(tensor.shape)
    last = sum((size - 1) * stride for size, stride in zip(tensor.shape, strides))
    return (start, start + (last + 1) * tensor.element_size())


def empty_tensor(shape, dtype):
    """An uninitialised CPU tensor, e.g. empty_tensor((2, 3), "bfloat16")."""
    return paddle.empty(list(shape), dtype=dtype).cpu()


class TensorBuffers:
    """The interface of copy_torch.TensorBuffers; paddle tensors are made afresh."""

    def empty(self, shape, dtype):
        return empty_tensor(shape, dtype)

    def spare_nbytes(self):
        return 0

    def drop(self):
        pass


def is_contiguous(tensor):
    """Whether the tensor's elements lie in C order without gaps."""
    return tensor.is_contiguous()


def transpose_by_blocks(dst, src, rows_per_block, copied):
    """The interface of copy_torch.transpose_by_blocks: here in one block (paddle ->
    paddle scripts transpose only a user's custom layouts), copied(src) after it."""
    copy_tensor(dst, src, "transpose")
    copied(src)


def cast_tensor(tensor, dtype):
    """`tensor` in another dtype (by name), rounded as paddle rounds; itself if equal."""
    return tensor if str(tensor.dtype).endswith("." + dtype) else tensor.astype(dtype)


def tensor_bytes(tensor):
    """The bytes of a CPU tensor in C order, as a numpy uint8 array."""
    flat = tensor.detach().contiguous().reshape([-1]).view(paddle.uint8)
    return numpy.from_dlpack(flat)


# See copy_torch.SENTINELS.
SENTINELS = {1: 0x5A, 2: 0x7FA5, 4: 0x7FA5A5A5, 8: 0x7FF5A5A5A5A5A5A5}
INTEGER_VIEWS = {1: "uint8", 2: "int16", 4: "int32", 8: "int64"}


def mark_unwritten(tensor):
    """Fill `tensor` with the sentinel, so that is_unwritten() finds what stays unwritten."""
    size = tensor.element_size()
    if size in SENTINELS and tensor.size > 0:
        view = tensor.view(INTEGER_VIEWS[size])
        paddle.assign(
            paddle.full(view.shape, SENTINELS[size], dtype=INTEGER_VIEWS[size]),
            output=view,
        )


def is_unwritten(tensor):
    """True if some element of `tensor` still holds mark_unwritten's sentinel."""
    size = tensor.element_size()
    if size not in SENTINELS or tensor.size == 0:
        return False
    left = tensor.view(INTEGER_VIEWS[size]) == SENTINELS[size]
    if size == 1 and tensor.dtype != paddle.bool:
        return bool(left.all())
    return bool(left.any())
