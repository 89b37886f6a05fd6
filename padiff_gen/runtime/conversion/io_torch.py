"""Reading and writing torch checkpoints, and building torch models without weights."""

import io
import pickle
import sys
from collections import OrderedDict

import torch
from torch.overrides import TorchFunctionMode

from .checkpoint import Checkpoint, SafetensorsFile, checkpoint_format, unreadable
from ..core.common import (
    CheckpointError,
    UsageProblem,
    cannot_build_lazily,
    build_model,
    dtype_name,
    report,
)
from ..core.copy_torch import tensor_bytes
from .output import let_go_of_written
from ..core.rows import fill_raw_tensor

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
    """The model on torch's meta device: its tensors have shapes but no memory.

    A constructor that computes with tensor values cannot run there: it is built
    normally, with a note.
    """
    try:
        with torch.device("meta"), SkipMetaInit():
            return build_model(spec)
    except UsageProblem:
        raise
    except Exception as error:  # constructors that compute with tensor values fail
        report(cannot_build_lazily(spec, error))
        return build_model(spec)


class TorchFile:
    """A torch.save checkpoint, memory-mapped so that tensors are read when used."""

    def __init__(self, path, kind, choose):
        self.path = path
        try:
            # The zip format (torch >= 1.6) can be mapped; the legacy one is read whole.
            saved = torch.load(
                path, map_location="cpu", weights_only=True, mmap=kind == "zip"
            )
        except Exception as error:
            raise CheckpointError(unreadable(path, "torch", error)) from None
        if kind != "zip":
            report(f"note: {path} is in torch's legacy format, so it is read whole")
        self.state, self.note = choose(saved, path, torch.is_tensor)
        self.shapes = {key: tuple(value.shape) for key, value in self.state.items()}
        self.dtypes = {key: dtype_name(value) for key, value in self.state.items()}

    def tensor(self, key):
        return self.state[key]


def open_checkpoint_file(path, choose):
    kind = checkpoint_format(path)
    if kind == "safetensors":
        return SafetensorsFile(path, "pt")
    if kind == "pickle":
        raise CheckpointError(
            f"{path} is a pickle but not a torch checkpoint (a paddle .pdparams?), and "
            "the base model is a torch model"
        )
    return TorchFile(path, kind, choose)


def open_checkpoint(path, base_model, key=None, prefix=None, assembled=()):
    """The base checkpoint at `path` (a file or a sharded *.index.json), checked.

    `key` picks the state dict in a wrapping dict, `prefix` is removed from its keys
    (--ckpt-key, --strip-prefix); both are found when the evidence is clear.
    `assembled` are CHECKPOINT_TABLE rows: base tensors the checkpoint may hold in parts.
    """
    state = base_model.state_dict(keep_vars=True)
    return Checkpoint(
        path, open_checkpoint_file, state, key, prefix, assembled, assemble_tensor
    )


def assemble_tensor(row, read):
    """The base tensor of a CHECKPOINT_TABLE row, built from the checkpoint tensors it
    names (read with `read(key)`): a stacked tensor from its experts' parts, say."""
    first = read(row[0][0])
    target = torch.empty(tuple(row[4]), dtype=first.dtype)
    fill_raw_tensor(target, row, read)
    return target


def load_layer(layer, path, read):
    """Give a meta-device layer its tensors from the checkpoint (for an initializer)."""
    prefix = f"{path}." if path else ""
    names = layer.state_dict(keep_vars=True)
    layer.load_state_dict({name: read(prefix + name) for name in names}, assign=True)


def materialize_layer(layer):
    """Give a layer built on the meta device uninitialised storage for its tensors."""
    layer.to_empty(device="cpu")


# The pickled storage class of each dtype in torch.save's format.
STORAGE_TYPES = {
    "float64": "DoubleStorage",
    "float32": "FloatStorage",
    "float16": "HalfStorage",
    "bfloat16": "BFloat16Storage",
    "int64": "LongStorage",
    "int32": "IntStorage",
    "int16": "ShortStorage",
    "int8": "CharStorage",
    "uint8": "ByteStorage",
    "bool": "BoolStorage",
    "complex64": "ComplexFloatStorage",
    "complex128": "ComplexDoubleStorage",
}


class StoredTensor:
    """A tensor of torch.save's format whose bytes are written later (see write_checkpoint)."""

    def __init__(self, storage, shape):
        self.storage = storage
        self.shape = tuple(shape)

    def __reduce__(self):
        strides, step = [], 1
        for size in reversed(self.shape):
            strides.insert(0, step)
            step *= size
        return (
            torch._utils._rebuild_tensor_v2,
            (self.storage, 0, self.shape, tuple(strides), False, OrderedDict()),
        )


class StorageRef:
    """A storage of torch.save's format: its record name, dtype and element count."""

    def __init__(self, key, dtype, numel):
        self.key = key
        self.dtype = dtype
        self.numel = numel


class IndexPickler(pickle.Pickler):
    """Pickles the state dict's structure as torch.save does, storages by reference."""

    def persistent_id(self, obj):
        if isinstance(obj, StorageRef):
            storage_type = getattr(torch, STORAGE_TYPES[obj.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.numel)
        return None


def write_checkpoint(path, entries, tensors):
    """Write a torch.save checkpoint (a zip of a pickle and one record per storage) one
    tensor at a time: `entries` (key, shape, dtype, tensor id) name every tensor first,
    then `tensors` yields (entry, tensor) in the same order. Tensors with one id (tied
    weights) share one storage, as torch.save stores them."""
    storages, state = {}, OrderedDict()
    for entry in entries:
        if entry.tensor_id not in storages:
            numel = 1
            for size in entry.shape:
                numel *= size
            storages[entry.tensor_id] = StorageRef(
                str(len(storages)), entry.dtype, numel
            )
        state[entry.key] = StoredTensor(storages[entry.tensor_id], entry.shape)
    index = io.BytesIO()
    IndexPickler(index, protocol=2).dump(state)
    writer = torch._C.PyTorchFileWriter(path)
    written_file = open(path, "rb")  # only to let the kernel drop what was written
    for name, data in (
        ("data.pkl", index.getvalue()),
        (".format_version", b"1"),
        (".storage_alignment", b"64"),
        ("byteorder", sys.byteorder.encode()),
    ):
        writer.write_record(name, data, len(data))
    written = set()
    for entry, tensor in tensors:
        if entry.tensor_id in written:
            continue
        written.add(entry.tensor_id)
        data = tensor_bytes(tensor)
        record = f"data/{storages[entry.tensor_id].key}"
        # As a storage (shared, not copied): torch 2.13 deprecates a raw data pointer.
        storage = torch.from_numpy(data).untyped_storage()
        writer.write_record(record, storage, data.nbytes)
        let_go_of_written(written_file, data.nbytes)
        del tensor, data, storage  # before the next tensor is made
    writer.write_end_of_file()
    written_file.close()


def saved_tensors(path):
    """Key -> (shape, dtype) of a torch.save checkpoint, read without its tensor data."""
    state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return {key: (tuple(t.shape), dtype_name(t)) for key, t in state.items()}
