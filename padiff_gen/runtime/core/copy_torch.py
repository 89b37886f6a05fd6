"""Copy kernels that run in torch; paddle tensors take part through zero-copy DLPack views.

Every copy writes straight into the raw tensor's own memory, on its own device and in its
own dtype: no staging copy of the model, and no round trip through numpy (which has no
bfloat16). Copies run where the tensors are, so GPU tensors never visit the host. On the
CPU, what can be a plain memcpy is one (glibc's memcpy streams large copies past the
cache, about 1.4x faster here than torch's copy loop), and transposes use torch's own
blocked transpose. That runs on one core, so ParallelCopies copies two large tensors at
once: 1.6x faster with the second core free, 5-15% slower with it busy, and faster than
numpy strips shared by two threads either way (docs/performance.md).
"""

import ctypes
import os
import sys
import weakref
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import torch

from .common import WRITES, WeightMismatchError
from .layouts import layout_blocks

# Large CPU copies running at once (memcpy and torch's copies release the GIL).
COPY_THREADS = min(2, os.cpu_count() or 1)
# Smaller copies are made at once: handing them to a thread costs more than it saves.
BACKGROUND_MIN_BYTES = 1 << 20
# A conversion makes the next tensor in a thread while the last is written.
MAKE_AHEAD = COPY_THREADS > 1


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
    """Copy `src` into `dst` in place, keeping dst's dtype and device.

    `transform` is "copy", "transpose" (the last two axes: a 2-D weight, or a stack of
    them) or "reshape" (same elements, dst's shape). The cast, if the dtypes differ,
    rounds as the framework's own cast does. During a rehearsal (see WriteLog)
    everything is checked and nothing is written.
    """
    copy = prepare_copy(dst, src, transform)
    target, source = as_torch(dst), as_torch(src)
    if transform == "transpose":  # the last two axes: a matrix, or a stack of them
        source = source.transpose(-1, -2)
    fits = source.numel() == target.numel()
    if transform != "reshape":  # checked here, so that a rehearsal finds it too
        fits = tuple(source.shape) == tuple(target.shape)
    if not fits:
        raise ValueError(
            f"cannot copy a tensor of shape {list(source.shape)} into one of shape "
            f"{list(target.shape)}"
        )
    if not WRITES.note(memory_span(dst)):
        copy()


def writable_view(dst):
    """A torch view of `dst` that writes land in (dst is a torch or a paddle tensor)."""
    target = as_torch(dst)
    if target.is_meta:
        raise ValueError("cannot copy into a tensor without storage (meta device)")
    if not isinstance(dst, torch.Tensor) and target.data_ptr() != dst.data_ptr():
        # DLPack may hand out a copy where it cannot share; writing to it would be lost.
        raise ValueError("DLPack gave a copy of the paddle tensor, not a view of it")
    return target


def prepare_copy(dst, src, transform="copy"):
    """View and check both tensors now; return the function that copies."""
    target = writable_view(dst)
    source = as_torch(src)
    if transform == "transpose":  # the last two axes: a matrix, or a stack of them
        source = source.transpose(-1, -2)
    elif transform == "reshape":
        # paddle flattens the weights of a LayerNorm over several dimensions
        source = source.reshape(target.shape)
    if is_memcpy(target, source):
        size = target.numel() * target.element_size()
        return lambda: ctypes.memmove(target.data_ptr(), source.data_ptr(), size)

    def copy():
        with torch.no_grad():
            staged = source
            if staged.dtype != target.dtype and not staged.is_contiguous():
                if target.device.type == "cpu":
                    # torch casts and transposes in one copy 4-5x slower than in two:
                    # cast first (a temporary the size of this tensor), then transpose.
                    staged = staged.to(target.dtype)
            target.copy_(staged)

    copy.in_background = (
        target.device.type == "cpu"
        and source.device.type == "cpu"
        and target.numel() * target.element_size() >= BACKGROUND_MIN_BYTES
    )
    return copy


def view_of(tensor, views):
    """`tensor` seen through views as layouts.layout_blocks gives them (no copy, but for
    reshaping a transposed tensor)."""
    for name, *arguments in views:
        if name == "transpose":
            tensor = tensor.transpose(-1, -2)
        elif name == "reshape":
            tensor = tensor.reshape(arguments[0])
        else:  # narrow, select, unsqueeze: torch's methods of those names
            tensor = getattr(tensor, name)(*arguments)
    return tensor


def copy_blocks(dst, base, transform, base_shape, read_base, copy):
    """Fill `dst` as a composite table row says: from the base tensors at the paths
    `base` (shapes `base_shape`), read with `read_base(path)`, through the pipeline
    `transform` (see layouts), block by block with `copy(dst_block, src_view)`, in place.
    """
    sources = [as_torch(read_base(path)) for path in base]
    target = writable_view(dst)
    for region, index, views in layout_blocks(transform, base_shape):
        block = view_of(target, [("narrow", *narrowing) for narrowing in region])
        copy(block, view_of(sources[index], views))


class ParallelCopies:
    """copy_tensor, with up to COPY_THREADS large CPU copies running at once.

    Tensors are viewed and checked in the calling thread; only the copying itself runs
    in a thread. Leaving the `with` block waits for every copy and raises the first
    error. With `parallel` false, every copy is made at once.
    """

    def __init__(self, parallel=True):
        self.threads = COPY_THREADS if parallel else 1
        self.pool = None
        self.running = deque()

    def __enter__(self):
        return self

    def copy(self, dst, src, transform="copy"):
        copy = prepare_copy(dst, src, transform)
        if self.threads < 2 or not getattr(copy, "in_background", False):
            copy()
            return
        if self.pool is None:
            self.pool = ThreadPoolExecutor(self.threads, "padiff-copy")
        while len(self.running) >= self.threads:
            self.running.popleft().result()
        self.running.append(self.pool.submit(copy))

    def __exit__(self, *exc_info):
        try:
            while self.running:
                self.running.popleft().result()
        finally:
            if self.pool is not None:
                self.pool.shutdown()


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
    """Set every element of `dst` to `value` in place (nothing during a rehearsal)."""
    target = as_torch(dst)
    if not WRITES.note(memory_span(target)):
        with torch.no_grad():
            target.fill_(value)


def memory_span(tensor):
    """(first byte, end) of the memory a tensor's elements lie in."""
    view = as_torch(tensor)
    if view.numel() == 0:
        return (view.data_ptr(), view.data_ptr())
    last = sum((size - 1) * stride for size, stride in zip(view.shape, view.stride()))
    return (view.data_ptr(), view.data_ptr() + (last + 1) * view.element_size())


def empty_tensor(shape, dtype):
    """An uninitialised CPU tensor, e.g. empty_tensor((2, 3), "bfloat16")."""
    return torch.empty(tuple(shape), dtype=getattr(torch, dtype))


class TensorBuffers:
    """Memory for a conversion's tensors, made one after the other: a tensor let go
    gives its memory to the next one. Fresh memory for every tensor would cost a page
    fault per 4 KiB (and the kernel zeroing it) each time; this costs them once. A
    tensor still in use when the next is asked for is never overwritten: the next one
    then gets fresh memory."""

    def __init__(self):
        self.spare = None  # a uint8 tensor no made tensor uses

    def empty(self, shape, dtype):
        """Like empty_tensor(shape, dtype)."""
        kind = getattr(torch, dtype)
        count = 1
        for size in shape:
            count *= size
        nbytes = count * torch.empty((), dtype=kind).element_size()
        buffer = self.spare
        if buffer is None or buffer.numel() < nbytes:
            buffer = torch.empty(nbytes, dtype=torch.uint8)
        self.spare = None
        made = buffer[:nbytes].view(kind).view(tuple(shape))
        weakref.finalize(made, self.give_back, buffer)
        return made

    def give_back(self, buffer):
        if self.spare is None or self.spare.numel() < buffer.numel():
            self.spare = buffer

    def spare_nbytes(self):
        return 0 if self.spare is None else self.spare.numel()

    def drop(self):
        """Free the spare memory (before something else needs memory of its own)."""
        self.spare = None


def is_contiguous(tensor):
    """Whether the tensor's elements lie in C order without gaps."""
    return as_torch(tensor).is_contiguous()


def transpose_by_blocks(dst, src, rows_per_block, copied):
    """Copy the 2-D `src` transposed into `dst`, `rows_per_block` rows of src at a
    time, calling copied(block) with each block of src once it is copied (to let go of
    its memory). Each block is transposed into a buffer of its size first, then copied
    into its column slab of dst: torch transposes into contiguous memory 2-3x faster
    than into a slab (measured here on 32000 x 4096 float32)."""
    source, target = as_torch(src), writable_view(dst)
    rows, columns = source.shape
    buffer = torch.empty(columns * min(rows_per_block, rows), dtype=source.dtype)
    for start in range(0, rows, rows_per_block):
        block = source[start : start + rows_per_block]
        staged = buffer[: block.numel()].view(columns, -1)
        with torch.no_grad():
            staged.copy_(block.t())
        copy_tensor(target[:, start : start + rows_per_block], staged)
        copied(block)


def cast_tensor(tensor, dtype):
    """`tensor` in another dtype (by name), rounded as torch rounds; itself if equal."""
    view = as_torch(tensor)
    return (
        view if view.dtype == getattr(torch, dtype) else view.to(getattr(torch, dtype))
    )


def tensor_bytes(tensor):
    """The bytes of a CPU tensor in C order, as a numpy uint8 array (shared if it can)."""
    view = as_torch(tensor).contiguous()
    return view.reshape(-1).view(torch.uint8).numpy()


# The bit pattern mark_unwritten() leaves in every element: a NaN with a payload that no
# cast produces, or an unlikely integer. One byte per element (bool, int8, uint8) only
# tells an element never written when all of them still hold it.
SENTINELS = {1: 0x5A, 2: 0x7FA5, 4: 0x7FA5A5A5, 8: 0x7FF5A5A5A5A5A5A5}
INTEGER_VIEWS = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def mark_unwritten(tensor):
    """Fill `tensor` with the sentinel, so that is_unwritten() finds what stays unwritten."""
    view = as_torch(tensor)
    if view.element_size() in SENTINELS:
        with torch.no_grad():
            view.view(INTEGER_VIEWS[view.element_size()]).fill_(
                SENTINELS[view.element_size()]
            )


def is_unwritten(tensor):
    """True if some element of `tensor` still holds mark_unwritten's sentinel."""
    view = as_torch(tensor)
    size = view.element_size()
    if size not in SENTINELS or view.numel() == 0:
        return False
    every = size == 1 and view.dtype != torch.bool
    # In blocks, so that the comparison's temporary stays small however large the tensor.
    for block in view.reshape(-1).view(INTEGER_VIEWS[size]).split(1 << 24):
        left = block == SENTINELS[size]
        if every and not bool(left.all()):
            return False
        if not every and bool(left.any()):
            return True
    return every


def copy_or_neutral(dst, src, neutral, name):
    """Copy `src` into `dst`, where a missing tensor (None) stands for `neutral`.

    A layer built without a tensor (torch's affine=False or bias=False, paddle's
    weight_attr=False) computes as if it held the neutral value everywhere: scale 1,
    shift 0, mean 0, variance 1. So a missing source fills `dst` with that value, and a
    source with no destination must hold it, or the raw layer would compute otherwise.
    """
    if dst is not None and src is not None:
        copy_tensor(dst, src)
    elif dst is not None:
        fill_tensor(dst, neutral)
    elif src is not None and not bool((as_torch(src) == neutral).all()):
        raise WeightMismatchError(
            f"the base layer's {name} is not all {neutral}, but the raw layer has no "
            f"{name} to hold it, so their outputs would differ; build the raw layer with "
            f"a {name} (or, if the base {name} was loaded by mistake, reset it)"
        )
