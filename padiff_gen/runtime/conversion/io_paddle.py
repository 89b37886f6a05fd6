"""Reading and writing paddle checkpoints, and building paddle models without weights.

paddle.save writes a state dict as a pickle of numpy arrays (bfloat16 as uint16), plus a
table of parameter names. paddle.load reads it whole, and paddle.save holds two extra
copies of the model while writing; this module reads and writes the same format one array
at a time instead.
"""

import os
import pickle
import struct

import numpy
import paddle

from .checkpoint import (
    Checkpoint,
    SafetensorsFile,
    checkpoint_format,
    tensors_of,
    unreadable,
)
from ..core.common import (
    CheckpointError,
    UsageProblem,
    build_model,
    cannot_build_lazily,
    report,
)
from ..core.copy_torch import tensor_bytes
from .output import let_go_of_written, reserve

# paddle.save's name table, stored beside the arrays.
NAME_TABLE = "StructuredToParameterName@@"
PICKLE_PROTOCOL = 4
# Byte strings this long are never inside a pickle frame (frames hold items < 64 KiB).
SKIPPED_BYTES = 1 << 20


def build_without_weights(spec):
    """The model under paddle.LazyGuard: its tensors have shapes but no memory.

    Some layers (paddle.nn.LSTM) cannot be built that way: the model is built normally,
    with a note.
    """
    try:
        with paddle.LazyGuard():
            return build_model(spec)
    except UsageProblem:
        raise
    except Exception as error:  # e.g. paddle.nn.LSTM cannot be built lazily
        report(cannot_build_lazily(spec, error))
        return build_model(spec)


class BytesInFile:
    """Where the bytes of an array lie in the file (they are not read yet)."""

    def __init__(self, offset, size):
        self.offset = offset
        self.size = size


class SkippingReader:
    """The file as the unpickler sees it: long byte strings are skipped, not read."""

    def __init__(self, handle):
        self.handle = handle
        self.file_size = os.fstat(handle.fileno()).st_size

    def readline(self):
        return self.handle.readline()

    def read(self, size):
        if size < SKIPPED_BYTES:
            return self.handle.read(size)
        offset = self.handle.tell()
        if offset + size > self.file_size:
            raise EOFError(f"an array needs {size} bytes, but the file ends first")
        self.handle.seek(size, os.SEEK_CUR)
        return BytesInFile(offset, size)


class ArrayInFile:
    """Stands in for a pickled numpy array: its shape and dtype, and where its bytes are."""

    def __init__(self, *reconstruct_args):
        self.data = None

    def __setstate__(self, state):
        _, shape, dtype, fortran_order, data = state
        self.shape = tuple(shape)
        self.dtype = numpy.dtype(dtype)
        self.order = "F" if fortran_order else "C"
        self.data = data
        size = int(numpy.prod(self.shape)) * self.dtype.itemsize
        length = data.size if isinstance(data, BytesInFile) else len(data)
        if length != size:
            raise pickle.UnpicklingError(f"an array of {size} bytes holds {length}")

    def read(self, path):
        """The array as a CPU paddle tensor (bfloat16 for paddle's uint16 arrays): the
        file's bytes mapped into memory where it can be (see release_file_pages), else
        read from the file into the tensor's memory."""
        if not isinstance(self.data, BytesInFile) or self.order != "C":
            flat = self.bytes(path) if isinstance(self.data, BytesInFile) else self.data
            array = numpy.frombuffer(flat, dtype=numpy.uint8).view(self.dtype)
            # paddle stores bfloat16 as uint16, and to_tensor turns it back.
            array = array.reshape(self.shape, order=self.order)
            return paddle.to_tensor(array, place=paddle.CPUPlace())
        mapped = self.mapped(path)
        if mapped is not None:
            return mapped
        dtype = "bfloat16" if self.dtype == numpy.uint16 else self.dtype.name
        tensor = paddle.empty(list(self.shape), dtype=dtype).cpu()
        if self.data.size:
            self.bytes(path, numpy.from_dlpack(tensor.reshape([-1]).view(paddle.uint8)))
        return tensor

    def mapped(self, path):
        """The array as a paddle tensor over a private (copy-on-write) mapping of the
        file, or None where paddle cannot take the mapping's memory as it is."""
        bfloat16 = self.dtype == numpy.uint16  # paddle's bfloat16, bits as uint16
        try:
            array = numpy.memmap(
                path,
                dtype=numpy.int16 if bfloat16 else self.dtype,
                mode="c",
                offset=self.data.offset,
                shape=self.shape,
            )
            tensor = paddle.from_dlpack(array)
            return tensor.view(paddle.bfloat16) if bfloat16 else tensor
        except Exception:  # an empty array, a dtype DLPack does not carry
            return None

    def bytes(self, path, into=None):
        """The array's bytes, read from the file (into the uint8 array `into`)."""
        flat = numpy.empty(self.data.size, dtype=numpy.uint8) if into is None else into
        with open(path, "rb") as handle:
            handle.seek(self.data.offset)
            if handle.readinto(flat) != self.data.size:
                raise EOFError(f"{path} ends inside an array")
        return flat


class ArrayLocator(pickle._Unpickler):
    """Unpickles a paddle.save state dict into ArrayInFile placeholders.

    The pure-Python unpickler hands the skipped byte strings through unchanged. Only
    the globals a state dict of arrays needs are allowed; anything else is left to
    paddle.load.
    """

    def __init__(self, handle):
        super().__init__(SkippingReader(handle), encoding="latin1")

    def find_class(self, module, name):
        if module.startswith("numpy") and module.endswith("multiarray"):
            if name == "_reconstruct":
                return ArrayInFile
        if (module, name) in (("numpy", "dtype"), ("numpy", "ndarray")):
            return getattr(numpy, name)
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        raise pickle.UnpicklingError(f"unexpected {module}.{name}")


class PdparamsFile:
    """A paddle.save checkpoint (.pdparams), whose arrays are read when they are used."""

    def __init__(self, path, choose):
        self.path = path
        try:
            with open(path, "rb") as handle:
                saved = ArrayLocator(handle).load()
            kind = ArrayInFile
        except Exception:
            # Laid out otherwise (e.g. saved with protocol 2, which splits big arrays):
            # paddle.load reads it whole.
            try:
                saved = paddle.load(path, return_numpy=True)
            except Exception as error:
                raise CheckpointError(unreadable(path, "paddle", error)) from None
            kind = numpy.ndarray
            report(f"note: {path} cannot be read array by array, so it is read whole")
        self.arrays, self.note = choose(saved, path, lambda v: isinstance(v, kind))
        self.shapes = {key: tuple(array.shape) for key, array in self.arrays.items()}
        self.dtypes = {key: array.dtype.name for key, array in self.arrays.items()}

    def tensor(self, key):
        array = self.arrays[key]
        if isinstance(array, ArrayInFile):
            return array.read(self.path)
        # paddle stores bfloat16 as uint16, and to_tensor turns it back.
        return paddle.to_tensor(array, place=paddle.CPUPlace())


def open_checkpoint_file(path, choose):
    kind = checkpoint_format(path)
    if kind == "safetensors":
        return SafetensorsFile(path, "paddle")
    if kind in ("zip", "torch-legacy"):
        raise CheckpointError(
            f"{path} is a torch checkpoint (written by torch.save), but the base model "
            "is a paddle model"
        )
    return PdparamsFile(path, choose)


def open_checkpoint(path, base_model, key=None, prefix=None, assembled=()):
    """The base checkpoint at `path` (a file or a sharded *.index.json), checked.

    `key` picks the state dict in a wrapping dict, `prefix` is removed from its keys
    (--ckpt-key, --strip-prefix); both are found when the evidence is clear.
    (`assembled`, CHECKPOINT_TABLE, is empty for paddle models: their checkpoints hold
    their tensors under their own names.)
    """
    state = base_model.state_dict()
    return Checkpoint(path, open_checkpoint_file, state, key, prefix)


def load_layer(layer, path, read):
    """Give a LazyGuard-built layer its tensors from the checkpoint (for an initializer).

    paddle's set_value refuses another dtype, so a checkpoint tensor is cast to the
    layer's dtype first (exact when, as usual, the checkpoint is bfloat16 or float16 and
    the model float32).
    """
    prefix = f"{path}." if path else ""
    state = {}
    for name, tensor in layer.state_dict().items():
        value = read(prefix + name)
        state[name] = (
            value if value.dtype == tensor.dtype else value.astype(tensor.dtype)
        )
    layer.set_state_dict(state)


def materialize_layer(layer):
    """Give a layer built under paddle.LazyGuard uninitialised storage for its tensors."""
    for tensor in layer.state_dict().values():
        if not tensor._is_initialized():
            paddle.empty(tensor.shape, dtype=tensor.dtype)._share_buffer_to(tensor)


class ArrayBytes:
    """The bytes of one array (a numpy uint8 array), pickled straight from its memory."""

    def __init__(self, data):
        self.data = data


class PendingArray:
    """Stands in for the array of one key until the pickler reaches it."""

    def __init__(self, key):
        self.key = key


class StreamingPickler(pickle._Pickler):
    """Pickles a state dict as paddle.save does (numpy arrays, protocol 4), making each
    array only when the pickler reaches it and writing its bytes straight from memory.

    paddle.save keeps every array and a second copy of each array's bytes until the end;
    here one tensor is in memory at a time. The pure-Python pickler is used because it
    lets a byte string be written from a buffer without copying it first.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, handle, tensors):
        super().__init__(handle, protocol=PICKLE_PROTOCOL)
        self.handle = handle
        self.fast = True  # no memo: nothing is kept once written
        self.tensors = tensors

    def reducer_override(self, obj):
        if not isinstance(obj, PendingArray):
            return NotImplemented
        entry, tensor = next(self.tensors)
        if entry.key != obj.key:
            raise RuntimeError(f"expected the tensor {obj.key}, got {entry.key}")
        data = tensor_bytes(tensor)
        # bfloat16 is stored as uint16, as paddle.save stores it.
        dtype = numpy.dtype("uint16" if entry.dtype == "bfloat16" else entry.dtype)
        rebuild, arguments, state = numpy.empty(0, dtype).__reduce_ex__(PICKLE_PROTOCOL)
        version, _, dtype, _, _ = state
        return (
            rebuild,
            arguments,
            (version, entry.shape, dtype, False, ArrayBytes(data)),
        )

    def save_array_bytes(self, obj):
        size = obj.data.nbytes
        if size > 0xFFFFFFFF:
            header = pickle.BINBYTES8 + struct.pack("<Q", size)
        else:
            header = pickle.BINBYTES + struct.pack("<I", size)
        self._write_large_bytes(header, obj.data)
        let_go_of_written(self.handle, size)

    dispatch[ArrayBytes] = save_array_bytes


def write_checkpoint(path, entries, tensors):
    """Write a .pdparams checkpoint as paddle.save would write it, one tensor at a time:
    `entries` (key, shape, dtype, name) name every tensor first, then `tensors` yields
    (entry, tensor) in the same order."""
    state = {entry.key: PendingArray(entry.key) for entry in entries}
    state[NAME_TABLE] = {entry.key: entry.name for entry in entries}
    with open(path, "wb") as handle:
        reserve(handle, sum(entry.nbytes for entry in entries))
        StreamingPickler(handle, iter(tensors)).dump(state)
        handle.truncate()  # what was reserved beyond the pickle


def saved_tensors(path):
    """Key -> (shape, dtype) of a .pdparams checkpoint, read without its arrays."""
    with open(path, "rb") as handle:
        saved = ArrayLocator(handle).load()
    arrays = tensors_of(saved, lambda value: isinstance(value, ArrayInFile))
    return {
        key: (
            array.shape,
            "bfloat16" if array.dtype.name == "uint16" else array.dtype.name,
        )
        for key, array in (arrays or {}).items()
    }
