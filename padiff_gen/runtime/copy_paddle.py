"""Copy kernels for paddle -> paddle scripts, which need no torch.

paddle.assign writes into the raw tensor's own memory on its own device; a transpose or a
dtype change makes one temporary the size of that tensor first.
"""

import paddle

from .layouts import SIMPLE_TRANSFORMS, layout_blocks


def has_data(tensor):
    """False for tensors built under paddle.LazyGuard, which have no storage yet."""
    return tensor._is_initialized()


def copy_tensor(dst, src, transform="copy"):
    """Copy `src` into `dst` in place, keeping dst's dtype and device."""
    if not dst._is_initialized():
        raise ValueError("cannot copy into a tensor without storage (paddle.LazyGuard)")
    source = src.detach()
    if transform == "transpose":
        source = source.t()
    elif transform == "reshape":
        source = source.reshape(dst.shape)
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


def copy_row(copies, dst, base, transform, base_shape, read_base):
    """Fill `dst` as one row of the tensor table says, reading base tensors by path.

    `base` is one path or, for a composite row, a tuple of paths (with a tuple of
    shapes); the transform is then a pipeline (see layouts), written block by block
    into dst's own memory.
    """
    if transform in SIMPLE_TRANSFORMS:
        copies.copy(dst, read_base(base), transform)
        return
    if not dst._is_initialized():
        raise ValueError("cannot copy into a tensor without storage (paddle.LazyGuard)")
    paths, shapes = (
        (base, base_shape) if isinstance(base, tuple) else ((base,), (base_shape,))
    )
    sources = [read_base(path).detach() for path in paths]
    for region, index, views in layout_blocks(transform, shapes):
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
    """Set every element of `dst` to `value` in place."""
    paddle.assign(paddle.full(dst.shape, value, dtype=dst.dtype), output=dst)
