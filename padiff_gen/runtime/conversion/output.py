"""Where converted weights go: the format of -o, writing it atomically, and checking it.

Formats: paddle's `.pdparams` (what paddle.save writes), torch's `.pt/.pth/.bin` (what
torch.save writes), and safetensors: one `.safetensors` file, or a folder of shards
`model-00001-of-00003.safetensors` with `model.safetensors.index.json`, the layout Hugging
Face's and PaddleFormers' from_pretrained read. Every writer takes the list of tensors
first (key, shape, dtype: all known before any is made), then the tensors one at a time.
"""

import glob
import json
import os
import shutil
import struct
import tempfile
from concurrent.futures import ThreadPoolExecutor

from .checkpoint import ELEMENT_SIZES
from ..core.common import UsageProblem, report, same_file
from ..core.copy_torch import tensor_bytes

# format -> (file suffixes, raw frameworks it can hold)
OUTPUT_FORMATS = {
    "pdparams": ((".pdparams",), ("paddle",)),
    "torch": ((".pt", ".pth", ".bin"), ("torch",)),
    "safetensors": ((".safetensors",), ("torch", "paddle")),
}
SHARD_INDEX = "model.safetensors.index.json"
# Hugging Face's default shard size (save_pretrained's max_shard_size, transformers 4).
DEFAULT_SHARD_SIZE = 5 * 10**9
SIZE_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
# dtype names as safetensors writes them.
SAFETENSORS_NAMES = {
    "float64": "F64",
    "float32": "F32",
    "float16": "F16",
    "bfloat16": "BF16",
    "int64": "I64",
    "int32": "I32",
    "int16": "I16",
    "int8": "I8",
    "uint8": "U8",
    "bool": "BOOL",
}


class OutputTensor:
    """One tensor of the output: its key, shape and dtype, the id of the raw model's
    tensor it comes from (keys naming one tensor share it), and its paddle name."""

    def __init__(self, key, shape, dtype, tensor_id, name=""):
        self.key = key
        self.shape = tuple(int(size) for size in shape)
        self.dtype = dtype
        self.tensor_id = tensor_id
        self.name = name

    @property
    def nbytes(self):
        count = 1
        for size in self.shape:
            count *= size
        return count * ELEMENT_SIZES[self.dtype]


class Output:
    """What -o asks for: a path, a format, and for a sharded folder the shard size."""

    def __init__(self, path, format, shard_size=None):
        self.path = path
        self.format = format
        self.shard_size = shard_size

    @property
    def sharded(self):
        return self.shard_size is not None


def parse_size(text):
    """Bytes in a size such as "5GB", "500MB", "2GiB" or "1000000"."""
    cleaned = str(text).strip().upper().replace(" ", "")
    number = cleaned.rstrip("KMGTIB")
    unit = cleaned[len(number) :]
    try:
        value = float(number) * SIZE_UNITS[unit]
    except (ValueError, KeyError):
        raise UsageProblem(
            f"--max-shard-size {text!r} is not a size; write e.g. 5GB, 500MB or 2GiB"
        ) from None
    if value < 1:
        raise UsageProblem(f"--max-shard-size {text!r} must be at least one byte")
    return int(value)


def format_of_suffix(path):
    """The output format a file name's suffix names, or None."""
    lowered = path.lower()
    for name, (suffixes, _) in OUTPUT_FORMATS.items():
        if lowered.endswith(suffixes):
            return name
    return None


def right_names(path, raw_framework):
    """-o with the suffixes that fit the raw framework: "raw.pdparams or raw.safetensors"."""
    stem = os.path.splitext(path.rstrip("/" + os.sep))[0]
    suffixes = [
        suffixes[0]
        for suffixes, frameworks in OUTPUT_FORMATS.values()
        if raw_framework in frameworks
    ]
    return " or ".join(stem + suffix for suffix in suffixes)


def plan_output(path, format, max_shard_size, raw_framework, base_checkpoint):
    """The Output that -o, --format and --max-shard-size ask for, checked before any work.

    A folder (an existing one, one written with a trailing /, or any -o with
    --max-shard-size) gets sharded safetensors; a file gets the format of its suffix,
    which must fit the raw framework and agree with --format. Raises UsageProblem.
    """
    folder = (
        max_shard_size is not None
        or path.endswith(("/", os.sep))
        or os.path.isdir(path)
    )
    suffix_format = format_of_suffix(path)
    if folder:
        if format not in (None, "safetensors"):
            raise UsageProblem(
                f"-o {path} names a folder, which gets sharded safetensors, but "
                f"--format {format} was asked; name a file for --format {format}"
            )
        if suffix_format is not None:
            raise UsageProblem(
                f"-o {path} names a file, but --max-shard-size writes a folder of "
                f"shards; give a folder, e.g. -o {os.path.splitext(path)[0]}/"
            )
        check_folder(path.rstrip("/" + os.sep) or path)
        size = (
            DEFAULT_SHARD_SIZE if max_shard_size is None else parse_size(max_shard_size)
        )
        return Output(path.rstrip("/" + os.sep) or path, "safetensors", size)
    if suffix_format is None and format is None:
        raise UsageProblem(
            f"cannot tell which format to write to -o {path}: name it "
            f"{right_names(path, raw_framework)}, or a folder ending in / for sharded "
            "safetensors (or pass --format)"
        )
    if suffix_format is not None and format is not None and suffix_format != format:
        raise UsageProblem(
            f"-o {path} is a {suffix_format} file name, but --format {format} was asked; "
            f"name it {os.path.splitext(path)[0]}{OUTPUT_FORMATS[format][0][0]}"
        )
    chosen = format or suffix_format
    if raw_framework not in OUTPUT_FORMATS[chosen][1]:
        raise UsageProblem(
            f"-o {path} would be a {chosen} checkpoint, but the raw model is a "
            f"{raw_framework} model; name it {right_names(path, raw_framework)}"
        )
    check_file(path, base_checkpoint)
    return Output(path, chosen)


def check_file(path, base_checkpoint):
    """Refuse an output file that cannot be written, before any slow work."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        parent = os.path.dirname(path.rstrip("/" + os.sep)) or "."
        raise UsageProblem(
            f"the output directory of {path} ({parent}) does not exist; make it first "
            f"(mkdir -p {parent}) or choose another -o path"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise UsageProblem(f"the output directory of {path} is not writable")
    if base_checkpoint and same_file(path, base_checkpoint):
        raise UsageProblem(
            f"the output {path} is the checkpoint being read; choose another -o path"
        )


def check_folder(path):
    """Refuse an output folder that holds files or cannot be made, before any work."""
    if os.path.isdir(path) and os.listdir(path):
        raise UsageProblem(
            f"the output folder {path} is not empty; give a new folder (the shards and "
            "their index are written there; copy your config files next to them after)"
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise UsageProblem(f"the output {path} is a file, not a folder")
    check_file(path, None)


class AtomicOutput:
    """A temporary file or folder beside the output, renamed into place by commit();
    removed if anything goes wrong first, so that no half-written output is ever left.
    commit() puts the data on disk (fsync) before the rename and the rename after it,
    so that after a crash or power loss the output is either whole or absent, never a
    file of the right name with holes (ext4 and xfs write data late, after the rename).
    """

    def __init__(self, path, folder):
        self.path = path
        self.folder = folder
        directory = os.path.dirname(os.path.abspath(path))
        prefix = f".{os.path.basename(path)}."
        note_stopped_runs(os.path.join(directory, prefix))
        if folder:
            self.temporary = tempfile.mkdtemp(
                prefix=prefix, suffix=".partial", dir=directory
            )
        else:
            handle, self.temporary = tempfile.mkstemp(
                prefix=prefix, suffix=".partial", dir=directory
            )
            os.close(handle)

    def __enter__(self):
        return self

    def commit(self):
        if self.folder:
            for name in sorted(os.listdir(self.temporary)):
                put_on_disk(os.path.join(self.temporary, name))
        put_on_disk(self.temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temporary, (0o777 if self.folder else 0o666) & ~umask)
        if self.folder and os.path.isdir(self.path):
            os.rmdir(self.path)  # empty: check_folder made sure
        os.replace(self.temporary, self.path)
        put_on_disk(os.path.dirname(os.path.abspath(self.path)))

    def __exit__(self, *exc_info):
        if os.path.isdir(self.temporary):
            shutil.rmtree(self.temporary, ignore_errors=True)
        elif os.path.exists(self.temporary):
            os.remove(self.temporary)


def note_stopped_runs(prefix):
    """Name the temporaries (`prefix` + random + `.partial`) that runs killed before
    they finished left beside the output (a SIGKILL or a power loss skips the clean-up;
    they may be as large as the output). They are named, not removed: another run may
    be writing one of them now."""
    for leftover in sorted(glob.glob(glob.escape(prefix) + "*.partial")):
        try:
            size = sum(os.path.getsize(file) for file in files_under(leftover))
        except OSError:  # removed meanwhile
            continue
        report(
            f"note: {leftover} ({size / 1e6:.0f} MB) was left by a run of this script "
            f"that was stopped before it finished; remove it (rm -r {leftover}) unless "
            "a run is writing it now"
        )


def files_under(path):
    """The files of a folder, or the file itself."""
    if not os.path.isdir(path):
        return [path]
    return [os.path.join(path, name) for name in os.listdir(path)]


def put_on_disk(path):
    """fsync(2) a file or a folder (a folder's entries: names made or renamed in it).
    A folder that cannot be opened or synced (Windows, some network file systems) is
    left to the file system's own care; a file that cannot be synced raises OSError.
    """
    folder = os.path.isdir(path)
    try:
        descriptor = os.open(path, os.O_RDONLY if folder else os.O_RDWR)
    except OSError:
        if folder:
            return
        raise
    try:
        os.fsync(descriptor)
    except OSError:
        if not folder:
            raise
    finally:
        os.close(descriptor)


def safetensors_header(entries, metadata):
    """The JSON header of a safetensors file holding `entries` in this order, padded
    with spaces to a multiple of 8 bytes as safetensors pads it."""
    header = {"__metadata__": metadata}
    offset = 0
    for entry in entries:
        header[entry.key] = {
            "dtype": SAFETENSORS_NAMES[entry.dtype],
            "shape": list(entry.shape),
            "data_offsets": [offset, offset + entry.nbytes],
        }
        offset += entry.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    return text + b" " * (-len(text) % 8)


def reserve(handle, size):
    """Allocate `size` bytes of disk for a file about to be written: the file system
    then need not find room as the data comes (measured 1.5-3x faster writes on ext4).
    The writer truncates the file to what it wrote."""
    try:
        os.posix_fallocate(handle.fileno(), 0, size)
    except (AttributeError, OSError):  # not offered by this system or file system
        pass


# Where let_go_of_written's requests run (one thread, started at the first request).
PAGE_DROPPER = ThreadPoolExecutor(1, "padiff-drop-pages")


def let_go_of_written(handle, written):
    """Ask the kernel to write out what was written to the file so far and to drop it
    from the page cache (posix_fadvise DONTNEED), as a streaming writer should: the
    converted model is not read again here, and keeping gigabytes of it cached only
    makes the kernel reclaim memory while the rest is written (measured 1.5x faster
    conversions). The request runs on a thread of its own, on its own duplicate of the
    file descriptor (the file may be closed meanwhile): starting the write-out takes a
    fifth of a conversion's time, and so overlaps writing the next tensor (measured
    5.4 s against 6.2 s, medians of 5, for 3.5 GB). `written`: the bytes written
    since the last call. Asked once DROP_EVERY bytes have been written, not per
    tensor: a checkpoint of 2,048 small tensors spent 2.5-4 ms on each asking (make
    bench, section 6)."""
    pending = PENDING.get(id(handle), 0) + written
    if pending < DROP_EVERY:
        PENDING[id(handle)] = pending
        return
    PENDING[id(handle)] = 0
    handle.flush()
    try:
        descriptor = os.dup(handle.fileno())
    except (AttributeError, OSError):
        return
    PAGE_DROPPER.submit(drop_pages, descriptor)


# Bytes written to each open output file since it was last let go of (by id: files
# take no attributes), and how much is written between two requests.
PENDING = {}
DROP_EVERY = 64 << 20


def drop_pages(descriptor):
    """posix_fadvise DONTNEED on the whole file, then close the descriptor."""
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    except (AttributeError, OSError):  # not offered by this system
        pass
    finally:
        os.close(descriptor)


def write_safetensors_file(path, entries, tensors, metadata):
    """One safetensors file: the header, then each tensor's bytes as it comes."""
    header = safetensors_header(entries, metadata)
    with open(path, "wb") as handle:
        reserve(handle, 8 + len(header) + sum(entry.nbytes for entry in entries))
        handle.write(struct.pack("<Q", len(header)))
        handle.write(header)
        for entry in entries:
            produced, tensor = next(tensors)
            data = tensor_bytes(tensor)
            if produced.key != entry.key or data.nbytes != entry.nbytes:
                raise RuntimeError(f"{entry.key}: not the tensor its header announced")
            handle.write(data)
            let_go_of_written(handle, data.nbytes)
            del tensor, data


def plan_shards(entries, shard_size):
    """The entries split into shards of at most `shard_size` bytes, in order (a tensor
    larger than that gets a shard of its own, as Hugging Face does)."""
    shards, current, size = [], [], 0
    for entry in entries:
        if current and size + entry.nbytes > shard_size:
            shards.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.nbytes
    if current or not shards:
        shards.append(current)
    return shards


def shard_name(number, count):
    return f"model-{number:05d}-of-{count:05d}.safetensors"


def write_safetensors(path, entries, tensors, raw_framework, shard_size=None):
    """A safetensors file at `path`, or with a shard size a folder of shards and
    model.safetensors.index.json. The metadata's "format" is what the libraries that
    read such files expect: "pt" (Hugging Face) for torch, "np" (PaddleFormers) for
    paddle."""
    metadata = {"format": "pt" if raw_framework == "torch" else "np"}
    tensors = iter(tensors)
    if shard_size is None:
        write_safetensors_file(path, entries, tensors, metadata)
        return
    shards = plan_shards(entries, shard_size)
    weight_map = {}
    for number, shard in enumerate(shards, 1):
        name = shard_name(number, len(shards))
        write_safetensors_file(os.path.join(path, name), shard, tensors, metadata)
        weight_map.update((entry.key, name) for entry in shard)
    index = {
        "metadata": {"total_size": sum(entry.nbytes for entry in entries)},
        "weight_map": weight_map,
    }
    with open(os.path.join(path, SHARD_INDEX), "w", encoding="utf-8") as handle:
        json.dump(index, handle, indent=2)
        handle.write("\n")


def read_safetensors_index(path):
    """Key -> (shape, dtype) of a safetensors file or sharded folder, from the headers."""
    if os.path.isdir(path):
        with open(os.path.join(path, SHARD_INDEX), encoding="utf-8") as handle:
            files = sorted(set(json.load(handle)["weight_map"].values()))
        found = {}
        for name in files:
            found.update(read_safetensors_index(os.path.join(path, name)))
        return found
    names = {value: key for key, value in SAFETENSORS_NAMES.items()}
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    header.pop("__metadata__", None)
    return {
        key: (tuple(value["shape"]), names[value["dtype"]])
        for key, value in header.items()
    }


def check_written(found, entries, path):
    """Raise if the written index does not list exactly the raw model's tensors."""
    expected = {entry.key: (entry.shape, entry.dtype) for entry in entries}
    found = {key: (tuple(shape), dtype) for key, (shape, dtype) in found.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or [
            key for key in expected if found[key] != expected[key]
        ]
        raise RuntimeError(
            f"{path} was written but does not list the raw model's tensors as expected "
            f"(first difference: `{wrong[0]}`); nothing was saved. This is a bug in "
            "padiff-gen's script: please report it"
        )


def write_output(output, entries, tensors, raw_framework, write_native, read_native):
    """Write `tensors` ((entry, tensor) in the order of `entries`) to the Output, through
    a temporary file or folder renamed into place once its index has been read back and
    found to list exactly `entries`. `write_native(path, entries, tensors)` and
    `read_native(path)` write and index the raw framework's own format. With no output,
    every tensor is still made (and so checked), and nothing is written."""
    tensors = iter(tensors)
    if output is None:
        for item in tensors:
            del item  # before the next tensor is made
        return
    with AtomicOutput(output.path, output.sharded) as target:
        if output.format == "safetensors":
            write_safetensors(
                target.temporary, entries, tensors, raw_framework, output.shard_size
            )
            found = read_safetensors_index(target.temporary)
        else:
            write_native(target.temporary, entries, tensors)
            found = read_native(target.temporary)
        if next(tensors, None) is not None:  # (this also lets the stream finish)
            raise RuntimeError(f"{output.path}: a tensor was made but not written")
        check_written(found, entries, output.path)
        target.commit()
