"""Copy kernels that run in torch; paddle tensors take part through zero-copy DLPack views."""

import torch

from .common import WeightMismatchError


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
    elif transform == "reshape":
        # paddle flattens the weights of a LayerNorm over several dimensions
        source = source.reshape(target.shape)
    with torch.no_grad():
        target.copy_(source)


def clone_tensor(tensor):
    """A private copy of `tensor`, used to undo a failed special initializer."""
    return as_torch(tensor).clone()


def fill_tensor(dst, value):
    """Set every element of `dst` to `value` in place."""
    with torch.no_grad():
        as_torch(dst).fill_(value)


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
