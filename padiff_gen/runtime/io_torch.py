"""Reading and writing torch checkpoints, and building a torch base model without weights."""

import torch
from torch.overrides import TorchFunctionMode

from .checkpoint import Checkpoint, SafetensorsFile, checkpoint_format, unreadable
from .common import CheckpointError, atomic_save, build_model, report

# In-place random fills, which have nothing to fill on the meta device.
RANDOM_FILLS = (
    torch.Tensor.normal_,
    torch.Tensor.uniform_,
    torch.Tensor.bernoulli_,
    torch.Tensor.cauchy_,
    torch.Tensor.exponential_,
    torch.Tensor.geometric_,
    torch.Tensor.log_normal_,
    torch.Tensor.random_,
)


class SkipMetaInit(TorchFunctionMode):
    """Skip the random initialisation of meta tensors, which have no data to fill.

    This saves time only: torch runs normal_ on meta through a Python decomposition whose
    first use imports torch._dynamo (1.3 s or more).
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        # torch.nn.init passes the tensor by keyword; Tensor methods get it as `self`
        target = args[0] if args else kwargs.get("tensor")
        if isinstance(target, torch.Tensor) and target.is_meta:
            module = getattr(func, "__module__", None)
            name = getattr(func, "__name__", "")
            in_place_init = module == "torch.nn.init" and name.endswith("_")
            if in_place_init or func in RANDOM_FILLS:
                return target
        return func(*args, **kwargs)


def build_without_weights(spec):
    """The base model on torch's meta device: its tensors have shapes but no memory."""
    try:
        with torch.device("meta"), SkipMetaInit():
            return build_model(spec)
    except Exception as error:  # constructors that compute with tensor values fail
        report(
            f"note: the base model cannot be built without weights ({type(error).__name__}:"
            f" {str(error).strip().splitlines()[0] if str(error).strip() else ''}); "
            "building it normally, which needs memory for its weights"
        )
        return build_model(spec)


class TorchFile:
    """A torch.save state dict, memory-mapped so that tensors are read when used."""

    def __init__(self, path, kind):
        self.path = path
        try:
            # The zip format (torch >= 1.6) can be mapped; the legacy one is read whole.
            state = torch.load(
                path, map_location="cpu", weights_only=True, mmap=kind == "zip"
            )
        except Exception as error:
            raise CheckpointError(unreadable(path, "torch", error)) from None
        if kind != "zip":
            report(f"note: {path} is in torch's legacy format, so it is read whole")
        if not isinstance(state, dict):
            raise CheckpointError(
                f"{path} holds a {type(state).__name__}, not a state dict"
            )
        others = [key for key, value in state.items() if not torch.is_tensor(value)]
        if others:
            raise CheckpointError(
                f"{path} is not a plain state dict: `{others[0]}` is a "
                f"{type(state[others[0]]).__name__}, not a tensor. Save the model's "
                "state_dict() alone."
            )
        self.state = state
        self.shapes = {key: tuple(value.shape) for key, value in state.items()}

    def tensor(self, key):
        return self.state[key]


def open_checkpoint_file(path):
    kind = checkpoint_format(path)
    if kind == "safetensors":
        return SafetensorsFile(path, "pt")
    if kind == "pickle":
        raise CheckpointError(
            f"{path} is a pickle but not a torch checkpoint (a paddle .pdparams?), and "
            "the base model is a torch model"
        )
    return TorchFile(path, kind)


def open_checkpoint(path, base_model, progress):
    """The base checkpoint at `path` (a file or a sharded *.index.json), checked."""
    return Checkpoint(
        path, open_checkpoint_file, base_model.state_dict(keep_vars=True), progress
    )


def load_layer(layer, path, read):
    """Give a meta-device layer its tensors from the checkpoint (for an initializer)."""
    prefix = f"{path}." if path else ""
    names = layer.state_dict(keep_vars=True)
    layer.load_state_dict({name: read(prefix + name) for name in names}, assign=True)


def save_state(model, path):
    atomic_save(torch.save, model.state_dict(), path)
