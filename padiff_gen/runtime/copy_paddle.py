"""Copy kernels for paddle -> paddle scripts, which need no torch.

paddle.assign writes into the raw tensor's own memory on its own device; a transpose or a
dtype change makes one temporary the size of that tensor first.
"""

import paddle


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
    if source.dtype != dst.dtype:
        source = source.astype(dst.dtype)
    paddle.assign(source, output=dst)


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
