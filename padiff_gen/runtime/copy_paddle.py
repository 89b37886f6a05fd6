"""Copy kernels for paddle -> paddle scripts, which need no torch."""

import paddle


def copy_tensor(dst, src, transform="copy"):
    """Copy `src` into `dst` in place, keeping dst's dtype and device."""
    source = src.detach()
    if transform == "transpose":
        source = source.t()
    if source.dtype != dst.dtype:
        source = source.astype(dst.dtype)
    paddle.assign(source, output=dst)


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return tensor.detach().clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place."""
    paddle.assign(paddle.full(dst.shape, value, dtype=dst.dtype), output=dst)
