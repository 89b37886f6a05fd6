"""Reading a base checkpoint one tensor at a time: one file, or shards listed by an index.

The framework modules (io_torch, io_paddle) open the individual files; this module finds
the files, matches their keys and shapes to the base model before anything is copied, and
hands out one tensor at a time. Formats are told apart by content, not by file name.
"""

import ctypes
import json
import os
import sys

from .common import CheckpointError

# madvise(2) advice: drop the pages; a file-backed page is read again on its next use.
MADV_DONTNEED = 4


def checkpoint_format(path):
    """'zip' (torch.save), 'safetensors', 'torch-legacy', 'pickle' (paddle.save), or None."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if head[8:9] == b"{":  # an 8-byte header length, then the JSON header
        return "safetensors"
    if head.startswith(b"\x80\x02\x8a\x0a"):  # torch's magic number, pickled first
        return "torch-legacy"
    if head.startswith(b"\x80"):
        return "pickle"
    return None


def unreadable(path, kind, error):
    """The message for a checkpoint file that its reader rejected."""
    detail = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
    return (
        f"cannot read {path} as a {kind} checkpoint ({type(error).__name__}: {detail}); "
        "is it truncated, or in another format?"
    )


def read_index(path):
    """Key -> shard file, from the *.index.json of a sharded checkpoint."""
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (OSError, ValueError) as error:
        raise CheckpointError(
            unreadable(path, "sharded (*.index.json)", error)
        ) from None
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(file, str) for file in weight_map.values()
    ):
        raise CheckpointError(
            f"{path} has no weight_map of tensor names to shard files, so it is not the "
            "index of a sharded checkpoint"
        )
    directory = os.path.dirname(path)
    return {key: os.path.join(directory, file) for key, file in weight_map.items()}


def shape_text(shape):
    return "[" + ", ".join(str(size) for size in shape) + "]"


def listing(names, limit=5):
    shown = ", ".join(f"`{name}`" for name in names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


class SafetensorsFile:
    """A .safetensors file, read with safetensors' safe_open as torch or paddle tensors."""

    def __init__(self, path, framework):
        # Imported here, so that scripts need safetensors only for safetensors files.
        try:
            from safetensors import safe_open
        except ImportError:
            raise CheckpointError(
                f"reading {path} needs the safetensors package: pip install safetensors"
            ) from None
        self.path = path
        try:
            self.handle = safe_open(path, framework=framework)
            self.shapes = {
                key: tuple(self.handle.get_slice(key).get_shape())
                for key in self.handle.keys()
            }
        except Exception as error:
            raise CheckpointError(unreadable(path, "safetensors", error)) from None

    def tensor(self, key):
        return self.handle.get_tensor(key)


class Checkpoint:
    """The base model's tensors in a checkpoint, matched to the base model's state dict.

    `open_file(path)` opens one file of the base framework's formats: an object with
    `.path`, `.shapes` (key -> shape) and `.tensor(key)`. `base_state` maps the base
    model's state-dict keys to its (weightless) tensors; keys naming one tensor (tied
    weights) need only one of them in the checkpoint. Every mismatch is reported here,
    before anything is copied.
    """

    def __init__(self, path, open_file, base_state, progress):
        if not os.path.exists(path):
            raise CheckpointError(f"the checkpoint {path} does not exist")
        if os.path.isdir(path):
            raise CheckpointError(
                f"{path} is a directory: pass the checkpoint file, or the *.index.json "
                "of a sharded checkpoint"
            )
        self.path = path
        self.progress = progress
        self.last_file = None
        self.files = {}  # key -> opened file
        if path.endswith(".json"):
            index = read_index(path)
            for shard in sorted(set(index.values())):
                self.add_file(open_file, shard, path)
            for key, shard in index.items():
                if key not in self.files or self.files[key].path != shard:
                    raise CheckpointError(
                        f"{path} lists `{key}` in {shard}, which does not hold it"
                    )
        else:
            self.add_file(open_file, path, path)
        self.keys = self.match(base_state)

    def add_file(self, open_file, path, index_path):
        if not os.path.isfile(path):
            raise CheckpointError(
                f"{index_path} lists the shard {path}, which is missing"
            )
        opened = open_file(path)
        for key in opened.shapes:
            self.files.setdefault(key, opened)

    def match(self, base_state):
        """Base key -> checkpoint key, after checking that the two hold the same tensors."""
        groups = {}  # tensors named by several keys (tied weights) form one group
        for key, tensor in base_state.items():
            groups.setdefault(id(tensor), (tuple(int(d) for d in tensor.shape), []))
            groups[id(tensor)][1].append(key)
        unexpected = [key for key in self.files if key not in base_state]
        missing, resized, keys = [], [], {}
        for shape, names in groups.values():
            present = [name for name in names if name in self.files]
            if not present:
                missing.append(names[0])
                continue
            found = self.files[present[0]].shapes[present[0]]
            if tuple(found) != shape:
                resized.append(
                    f"`{present[0]}` is {shape_text(found)} in the checkpoint but "
                    f"{shape_text(shape)} in the base model"
                )
            keys.update((name, present[0]) for name in names)
        problems = []
        if missing:
            problems.append(f"it lacks {listing(missing)}")
        if unexpected:
            problems.append(f"the base model has no {listing(unexpected)}")
        problems.extend(resized[:3])
        if problems:
            raise CheckpointError(
                f"{self.path} does not fit the base model: {'; '.join(problems)}. "
                "Nothing was written. Is it the checkpoint of another model or size?"
            )
        return keys

    def tensor(self, key):
        """The tensor at a base state-dict key, in the base model's framework."""
        opened = self.files[self.keys[key]]
        try:
            return opened.tensor(self.keys[key])
        except CheckpointError:
            raise
        except Exception as error:
            raise CheckpointError(unreadable(opened.path, "base", error)) from None

    def read(self, key):
        """Like tensor(), while streaming: pages of the tensors read before are let go."""
        if self.last_file is not None:
            release_file_pages(self.last_file)
        self.last_file = self.files[self.keys[key]].path
        tensor = self.tensor(key)
        self.progress.advance()
        return tensor

    def close(self):
        if self.last_file is not None:
            release_file_pages(self.last_file)
        self.progress.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def release_file_pages(path):
    """Let go of the pages this process has mapped from a checkpoint file (Linux only).

    torch.load(mmap=True) and safetensors map the whole file into memory. Pages once read
    stay mapped and count towards the process's memory until the file is closed, which
    would add a second copy of the model by the end. The file is only ever read, so
    dropping the pages loses nothing: a page used again is read again from the file.
    """
    if not sys.platform.startswith("linux"):
        return
    target = os.path.realpath(path)
    try:
        with open("/proc/self/maps") as handle:
            mappings = handle.read().splitlines()
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    for line in mappings:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5] == target:
            start, end = (int(address, 16) for address in fields[0].split("-"))
            madvise(start, end - start, MADV_DONTNEED)
