"""Copy kernels that run in torch; paddle tensors take part through zero-copy DLPack views.

Every copy writes straight into the raw tensor's own memory, on its own device and in its
own dtype: no staging copy of the model, and no round trip through numpy (which has no
bfloat16). Same-device copies run where the tensors are, so GPU tensors never visit the
host. On the CPU, transposes of large matrices are split into narrow strips shared by a
few threads: a strip's rows fit in cache, so each source line is read once.
"""

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy
import torch

# Below this many elements a transposed copy is fast enough as a single torch copy.
STRIPED_TRANSPOSE_MIN_ELEMENTS = 1 << 18
# Source rows per strip: 8 float32 rows are 32 contiguous bytes of each destination row.
TRANSPOSE_STRIP_ROWS = 8
# Threads that share a large transpose (1 turns threading off).
COPY_THREADS = min(4, os.cpu_count() or 1)
# numpy has no bfloat16: strips move raw bytes, viewed as integers of the same width.
SAME_WIDTH_INTEGER = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}
_thread_pool = []


def as_torch(tensor):
    """A torch tensor sharing memory with `tensor` (paddle tensors cross over by DLPack)."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach()
    if isinstance(tensor, numpy.ndarray):
        return torch.from_numpy(tensor)
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
    with torch.no_grad():
        if transform != "transpose":
            target.copy_(source)
        elif striped_transpose_applies(target, source):
            if source.dtype != target.dtype:
                # Cast first (one fast pass), so that the transpose moves fewer bytes.
                source = source.to(target.dtype)
            transpose_in_strips(target, source)
        else:
            target.copy_(source.t())


def striped_transpose_applies(target, source):
    return (
        target.device.type == "cpu"
        and source.device.type == "cpu"
        and source.dim() == 2
        and target.numel() >= STRIPED_TRANSPOSE_MIN_ELEMENTS
        and target.element_size() in SAME_WIDTH_INTEGER
        and not source.is_conj()
        and not source.is_neg()
    )


def transpose_in_strips(target, source):
    """target[:, i] = source[i, :] for CPU matrices of one dtype, in row strips."""
    integer = SAME_WIDTH_INTEGER[target.element_size()]
    destination = target.view(integer).numpy()
    origin = source.view(integer).numpy()
    rows = origin.shape[0]
    step = TRANSPOSE_STRIP_ROWS

    def copy_rows(first, last):
        for row in range(first, last, step):
            end = min(row + step, last)
            destination[:, row:end] = origin[row:end].T

    threads = max(1, min(COPY_THREADS, rows // (step * 16)))
    if threads == 1:
        copy_rows(0, rows)
        return
    # numpy releases the GIL while it copies, so the strips run in parallel.
    bounds = [rows * part // threads // step * step for part in range(threads)] + [rows]
    pool = copy_thread_pool()
    jobs = [pool.submit(copy_rows, a, b) for a, b in zip(bounds, bounds[1:])]
    for job in jobs:
        job.result()


def copy_thread_pool():
    if not _thread_pool:
        _thread_pool.append(ThreadPoolExecutor(COPY_THREADS, "padiff-copy"))
    return _thread_pool[0]


def synchronize_devices():
    """Wait for queued GPU work of both frameworks.

    torch and paddle queue work on their own CUDA streams, and a DLPack view does not order
    one framework's stream after the other's: synchronising before and after the copies
    makes every write visible to both.
    """
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    paddle = sys.modules.get("paddle")
    if paddle is not None and paddle.device.is_compiled_with_cuda():
        if paddle.device.cuda.device_count() > 0:
            paddle.device.cuda.synchronize()


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return as_torch(tensor).clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place."""
    with torch.no_grad():
        as_torch(dst).fill_(value)
