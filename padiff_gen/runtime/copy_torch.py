"""Copy kernels that run in torch; paddle tensors take part through zero-copy DLPack views.

Every copy writes straight into the raw tensor's own memory, on its own device and in its
own dtype: no staging copy of the model, and no round trip through numpy (which has no
bfloat16). Copies run where the tensors are, so GPU tensors never visit the host. On the
CPU, what can be a plain memcpy is one (glibc's memcpy streams large copies past the
cache, about 1.4x faster here than torch's copy loop), and transposes use torch's own
blocked transpose, one tensor at a time: numpy strips on two threads, or two tensors at
once, measured slower on a 2-core machine whose other core is busy (docs/performance.md).
"""

import ctypes
import sys

import torch


def as_torch(tensor):
    """A torch tensor sharing memory with `tensor` (paddle tensors cross over by DLPack)."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach()
    return torch.from_dlpack(tensor.detach())


def has_data(tensor):
    """False for tensors built without storage (torch's meta device, paddle's LazyGuard)."""
    if isinstance(tensor, torch.Tensor):
        return not tensor.is_meta
    return tensor._is_initialized()


def copy_tensor(dst, src, transform="copy"):
    """Copy `src` into `dst` in place, keeping dst's dtype and device."""
    target = as_torch(dst)
    source = as_torch(src)
    if target.is_meta:
        raise ValueError("cannot copy into a tensor without storage (meta device)")
    if not isinstance(dst, torch.Tensor) and target.data_ptr() != dst.data_ptr():
        # DLPack may hand out a copy where it cannot share; writing to it would be lost.
        raise ValueError("DLPack gave a copy of the paddle tensor, not a view of it")
    if transform == "transpose":
        source = source.t()
    with torch.no_grad():
        if is_memcpy(target, source):
            size = target.numel() * target.element_size()
            ctypes.memmove(target.data_ptr(), source.data_ptr(), size)
            return
        if source.dtype != target.dtype and not source.is_contiguous():
            if target.device.type == "cpu":
                # torch casts and transposes in one copy 5x slower than in two: cast
                # first (a temporary the size of this tensor), then transpose.
                source = source.to(target.dtype)
        target.copy_(source)


def is_memcpy(target, source):
    """Same dtype and shape, both contiguous, both on the CPU: the bytes are copied as is."""
    return (
        target.device.type == "cpu"
        and source.device.type == "cpu"
        and target.dtype == source.dtype
        and target.shape == source.shape
        and target.is_contiguous()
        and source.is_contiguous()
        and not source.is_conj()
        and not source.is_neg()
    )


def synchronize_devices():
    """Wait for queued GPU work of both frameworks.

    torch and paddle queue work on their own CUDA streams, and a DLPack view does not order
    one framework's stream after the other's: synchronising before and after the copies
    makes every write visible to both.
    """
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    paddle_module = sys.modules.get("paddle")
    if paddle_module is not None and paddle_module.device.is_compiled_with_cuda():
        if paddle_module.device.cuda.device_count() > 0:
            paddle_module.device.cuda.synchronize()


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return as_torch(tensor).clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place."""
    with torch.no_grad():
        as_torch(dst).fill_(value)
