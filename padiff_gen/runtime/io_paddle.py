"""Reading and writing paddle checkpoints, and building a paddle base model without weights.

paddle.save writes a state dict as a pickle of numpy arrays (bfloat16 as uint16), plus a
table of parameter names. paddle.load reads it whole, and paddle.save holds two extra
copies of the model while writing; this module reads and writes the same format one array
at a time instead.
"""

import os
import pickle

import numpy
import paddle

from .checkpoint import Checkpoint, SafetensorsFile, checkpoint_format, unreadable
from .common import CheckpointError, atomic_save, build_model, report

# paddle.save's name table, stored beside the arrays.
NAME_TABLE = "StructuredToParameterName@@"
PICKLE_PROTOCOL = 4
# Byte strings this long are never inside a pickle frame (frames hold items < 64 KiB).
SKIPPED_BYTES = 1 << 20


def build_without_weights(spec):
    """The base model under paddle.LazyGuard: its tensors have shapes but no memory."""
    try:
        with paddle.LazyGuard():
            return build_model(spec)
    except Exception as error:  # e.g. paddle.nn.LSTM cannot be built lazily
        report(
            f"note: the base model cannot be built without weights ({type(error).__name__}:"
            f" {str(error).strip().splitlines()[0] if str(error).strip() else ''}); "
            "building it normally, which needs memory for its weights"
        )
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
        if isinstance(self.data, BytesInFile):
            flat = numpy.empty(self.data.size, dtype=numpy.uint8)
            with open(path, "rb") as handle:
                handle.seek(self.data.offset)
                if handle.readinto(flat) != self.data.size:
                    raise EOFError(f"{path} ends inside an array")
        else:
            flat = numpy.frombuffer(self.data, dtype=numpy.uint8)
        return flat.view(self.dtype).reshape(self.shape, order=self.order)


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
    """A paddle.save state dict (.pdparams), whose arrays are read when they are used."""

    def __init__(self, path):
        self.path = path
        try:
            with open(path, "rb") as handle:
                state = ArrayLocator(handle).load()
            arrays = self.arrays_of(state, ArrayInFile)
        except Exception:
            # Laid out otherwise (e.g. saved with protocol 2, which splits big arrays):
            # paddle.load reads it whole.
            arrays = None
        if arrays is None:
            try:
                state = paddle.load(path, return_numpy=True)
            except Exception as error:
                raise CheckpointError(unreadable(path, "paddle", error)) from None
            arrays = self.arrays_of(state, numpy.ndarray)
            if arrays is None:
                raise CheckpointError(
                    f"{path} holds a {type(state).__name__} that is not a state dict of "
                    "tensors; save the model's state_dict() alone"
                )
            report(f"note: {path} cannot be read array by array, so it is read whole")
        self.arrays = arrays
        self.shapes = {key: tuple(array.shape) for key, array in arrays.items()}

    @staticmethod
    def arrays_of(state, kind):
        """The state dict's arrays (paddle's own entries, named ...@@, left out)."""
        if not isinstance(state, dict):
            return None
        arrays = {k: v for k, v in state.items() if not str(k).endswith("@@")}
        if not all(isinstance(array, kind) for array in arrays.values()):
            return None
        return arrays

    def tensor(self, key):
        array = self.arrays[key]
        if isinstance(array, ArrayInFile):
            array = array.read(self.path)
        # paddle stores bfloat16 as uint16, and to_tensor turns it back.
        return paddle.to_tensor(array, place=paddle.CPUPlace())


def open_checkpoint_file(path):
    kind = checkpoint_format(path)
    if kind == "safetensors":
        return SafetensorsFile(path, "paddle")
    if kind in ("zip", "torch-legacy"):
        raise CheckpointError(
            f"{path} is a torch checkpoint (written by torch.save), but the base model "
            "is a paddle model"
        )
    return PdparamsFile(path)


def open_checkpoint(path, base_model, progress):
    """The base checkpoint at `path` (a file or a sharded *.index.json), checked."""
    return Checkpoint(path, open_checkpoint_file, base_model.state_dict(), progress)


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


class ArrayPickler(pickle.Pickler):
    """Pickles paddle tensors as numpy arrays, the way paddle.save does, one at a time."""

    def reducer_override(self, obj):
        if isinstance(obj, paddle.Tensor):
            return as_numpy(obj).__reduce_ex__(PICKLE_PROTOCOL)
        return NotImplemented


def as_numpy(tensor):
    if tensor.place.is_cpu_place() and tensor.dtype != paddle.bfloat16:
        return numpy.from_dlpack(tensor.detach())  # shares the tensor's memory
    return numpy.array(tensor.cpu())  # bfloat16 becomes uint16, as in paddle.save


def write_state(state, path):
    with open(path, "wb") as handle:
        pickler = ArrayPickler(handle, protocol=PICKLE_PROTOCOL)
        # Without a memo each array's bytes are freed once written; paddle.save keeps
        # them all until the end.
        pickler.fast = True
        pickler.dump(state)


def save_state(model, path):
    """Save like paddle.save(model.state_dict(), path), one tensor in memory at a time."""
    state = dict(model.state_dict())
    state[NAME_TABLE] = {key: tensor.name for key, tensor in state.items()}
    atomic_save(write_state, state, path)
