"""Copy kernels that run in torch; paddle tensors take part through zero-copy DLPack views."""

import torch


def as_torch(tensor):
    """A torch tensor sharing memory with `tensor` (paddle tensors cross over by DLPack)."""
    if isinstance(tensor, torch.Tensor):
        return tensor.detach()
    return torch.from_dlpack(tensor.detach())


def copy_tensor(dst, src, transform="copy"):
    """Copy `src` into `dst` in place, keeping dst's dtype and device."""
    target = as_torch(dst)
    source = as_torch(src)
    if transform == "transpose":
        source = source.t()
    with torch.no_grad():
        target.copy_(source)


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return as_torch(tensor).clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place."""
    with torch.no_grad():
        as_torch(dst).fill_(value)
