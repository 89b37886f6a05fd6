"""Reading a base checkpoint one tensor at a time: one file, or shards listed by an index.

The framework modules (io_torch, io_paddle) open the individual files; this module finds
the files, finds the state dict in them (also when it is wrapped, `{"model": ..., "epoch":
3}`, or its keys carry a prefix such as DDP's `module.`), matches its keys, shapes and
dtypes to the base model before anything is written, and hands out one tensor at a time.
Formats are told apart by content, not by file name.
"""

import ctypes
import json
import os
import sys

from ..core.common import CheckpointError, dtype_name, report

# madvise(2) advice: drop the pages; a file-backed page is read again on its next use.
MADV_DONTNEED = 4
# safetensors' dtype names, as torch and paddle spell them.
SAFETENSORS_DTYPES = {
    "F64": "float64",
    "F32": "float32",
    "F16": "float16",
    "BF16": "bfloat16",
    "I64": "int64",
    "I32": "int32",
    "I16": "int16",
    "I8": "int8",
    "U8": "uint8",
    "U16": "uint16",
    "BOOL": "bool",
}
FLOATING = ("float64", "float32", "float16", "bfloat16")
ELEMENT_SIZES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "uint16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
    "complex64": 8,
    "complex128": 16,
}


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


def tensors_of(value, is_tensor):
    """`value` if it is a non-empty dict of tensors (paddle's own `...@@` entries left
    out), else None."""
    if not isinstance(value, dict):
        return None
    tensors = {k: v for k, v in value.items() if not str(k).endswith("@@")}
    if tensors and all(is_tensor(v) for v in tensors.values()):
        return tensors
    return None


class StateDictChoice:
    """Finds the state dict in a loaded checkpoint object (see find_state_dict)."""

    def __init__(self, base_keys, key=None):
        self.base_keys = set(base_keys)
        self.key = key

    def fit(self, state):
        """How many keys of `state` name base tensors, with or without a common prefix."""
        keys = list(state)
        best = sum(key in self.base_keys for key in keys)
        for prefix in common_prefixes(keys):
            stripped = sum(key[len(prefix) :] in self.base_keys for key in keys)
            best = max(best, stripped)
        return best

    def __call__(self, obj, path, is_tensor):
        """(the state dict, a note saying where it was found or None); CheckpointError
        when there is none, or no evidence tells which of several to take."""
        if self.key is not None:
            if not isinstance(obj, dict) or self.key not in obj:
                held = (
                    listing(list(obj)) if isinstance(obj, dict) else type(obj).__name__
                )
                raise CheckpointError(
                    f"{path} has no entry `{self.key}` (--ckpt-key); it holds {held}"
                )
            state = tensors_of(obj[self.key], is_tensor)
            if state is None:
                raise CheckpointError(
                    f"`{self.key}` of {path} holds a {type(obj[self.key]).__name__}, not "
                    "a state dict of tensors; pick another entry with --ckpt-key"
                )
            return state, None
        state = tensors_of(obj, is_tensor)
        if state is not None:
            return state, None
        if not isinstance(obj, dict):
            raise CheckpointError(
                f"{path} holds a {type(obj).__name__}, not a state dict"
            )
        candidates = {}
        for key, value in obj.items():
            found = tensors_of(value, is_tensor)
            if found is not None:
                candidates[key] = found
        if not candidates:
            others = [k for k, v in obj.items() if not is_tensor(v)]
            raise CheckpointError(
                f"{path} is not a plain state dict: `{others[0]}` is a "
                f"{type(obj[others[0]]).__name__}, not a tensor, and none of its entries "
                "is a state dict. Save the model's state_dict() alone."
            )
        fits = {key: self.fit(state) for key, state in candidates.items()}
        best = max(fits.values())
        chosen = [key for key, fit in fits.items() if fit == best]
        if best == 0 or len(chosen) > 1:
            shown = ", ".join(
                f"`{key}` ({len(state)} tensors)" for key, state in candidates.items()
            )
            why = "none fits" if best == 0 else "more than one fits"
            raise CheckpointError(
                f"{path} wraps its state dicts in a dict ({listing(list(obj))}): "
                f"{shown}, and {why} the base model; pick one with --ckpt-key KEY"
            )
        key = chosen[0]
        note = (
            f"note: {path} holds a dict ({listing(list(obj))}); using the state dict "
            f"under `{key}` ({len(candidates[key])} tensors; --ckpt-key picks another)"
        )
        return candidates[key], note


def common_prefixes(keys):
    """The dotted prefixes all `keys` share, shortest first: ["module.", "module.model."]."""
    if not keys:
        return []
    parts = [key.split(".")[:-1] for key in keys]
    prefixes = []
    for depth in range(min(len(p) for p in parts)):
        first = parts[0][depth]
        if any(p[depth] != first for p in parts):
            break
        prefixes.append(".".join(parts[0][: depth + 1]) + ".")
    return prefixes


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
        self.note = None
        try:
            self.handle = safe_open(path, framework=framework)
            slices = {key: self.handle.get_slice(key) for key in self.handle.keys()}
            self.shapes = {key: tuple(s.get_shape()) for key, s in slices.items()}
            self.dtypes = {
                key: SAFETENSORS_DTYPES.get(s.get_dtype(), s.get_dtype().lower())
                for key, s in slices.items()
            }
        except Exception as error:
            raise CheckpointError(unreadable(path, "safetensors", error)) from None

    def tensor(self, key):
        return self.handle.get_tensor(key)


class Checkpoint:
    """The base model's tensors in a checkpoint, matched to the base model's state dict.

    `open_file(path, choose)` opens one file of the base framework's formats: an object
    with `.path`, `.shapes` and `.dtypes` (key -> shape, dtype name), `.note` and
    `.tensor(key)`; `choose` finds the state dict in what the file holds. `base_state`
    maps the base model's state-dict keys to its (weightless) tensors; keys naming one
    tensor (tied weights) need only one of them in the checkpoint. `key` and `prefix` are
    --ckpt-key and --strip-prefix. `assembled` are the rows of the script's
    CHECKPOINT_TABLE: base tensors a checkpoint may hold in another form (a Hugging Face
    checkpoint stores stacked MoE experts per expert), which `assemble(row, read)` builds
    from the checkpoint keys the row names. Every mismatch is reported here, before
    anything is written.
    """

    def __init__(
        self,
        path,
        open_file,
        base_state,
        key=None,
        prefix=None,
        assembled=(),
        assemble=None,
    ):
        if not os.path.exists(path):
            raise CheckpointError(f"the checkpoint {path} does not exist")
        if os.path.isdir(path):
            raise CheckpointError(
                f"{path} is a directory: pass the checkpoint file, or the *.index.json "
                "of a sharded checkpoint"
            )
        self.path = path
        self.last_file = None
        self.files = {}  # checkpoint key -> opened file
        choose = StateDictChoice(base_state, key)
        if path.endswith(".json"):
            index = read_index(path)
            for shard in sorted(set(index.values())):
                self.add_file(open_file, shard, path, choose)
            for name, shard in index.items():
                if name not in self.files or self.files[name].path != shard:
                    raise CheckpointError(
                        f"{path} lists `{name}` in {shard}, which does not hold it"
                    )
        else:
            self.add_file(open_file, path, path, choose)
        self.assemble = assemble
        self.assembled = {}  # base key -> CHECKPOINT_TABLE row, where the keys are so
        self.keys = self.match(base_state, prefix, assembled)

    def add_file(self, open_file, path, index_path, choose):
        if not os.path.isfile(path):
            raise CheckpointError(
                f"{index_path} lists the shard {path}, which is missing"
            )
        opened = open_file(path, choose)
        if opened.note:
            report(opened.note)
        for key in opened.shapes:
            self.files.setdefault(key, opened)

    def renamed(self, base_state, prefix):
        """Base key -> checkpoint key: as they are, or without a prefix (--strip-prefix,
        or found: every key starts with it, and without it the keys fit)."""
        if prefix is not None:
            return {
                key[len(prefix) :] if key.startswith(prefix) else key: key
                for key in self.files
            }
        names = {key: key for key in self.files}
        if all(key in base_state for key in self.files):
            return names
        for found in common_prefixes(list(self.files)):
            stripped = {key[len(found) :]: key for key in self.files}
            if all(key in base_state for key in stripped):
                report(
                    f"note: every key in {self.path} starts with `{found}` (a checkpoint "
                    "saved from a wrapped model, such as DDP's `module.`); reading them "
                    f"without it (--strip-prefix {found} says so explicitly)"
                )
                return stripped
        return names

    def match(self, base_state, prefix, assembled=()):
        """Base key -> checkpoint key, after checking that the two hold the same tensors."""
        names = self.renamed(base_state, prefix)
        self.names = names
        consumed, different = set(), []
        for row in assembled:  # the base tensor is missing, its parts are there
            parts, target, _, part_shapes, _ = row
            if target in names or not all(part in names for part in parts):
                continue
            self.assembled[target] = row
            consumed.update(parts)
            for part, shape in zip(parts, part_shapes):
                found = self.files[names[part]].shapes[names[part]]
                if tuple(found) != tuple(shape):
                    different.append(
                        f"`{names[part]}` is {shape_text(found)} in the checkpoint but "
                        f"{shape_text(shape)} as a part of `{target}`"
                    )
        groups = {}  # tensors named by several keys (tied weights) form one group
        for key, tensor in base_state.items():
            shape = tuple(int(d) for d in tensor.shape)
            groups.setdefault(id(tensor), (shape, dtype_name(tensor), []))
            groups[id(tensor)][2].append(key)
        unexpected = [
            name for name in names if name not in base_state and name not in consumed
        ]
        missing, keys = [], {}
        for shape, dtype, group in groups.values():
            present = [name for name in group if name in names]
            if not present and any(name in self.assembled for name in group):
                keys.update((name, None) for name in group)
                row = next(self.assembled[n] for n in group if n in self.assembled)
                self.assembled.update((name, row) for name in group)
                continue
            if not present:
                missing.append(group[0])
                continue
            found = names[present[0]]
            opened = self.files[found]
            if tuple(opened.shapes[found]) != shape:
                different.append(
                    f"`{found}` is {shape_text(opened.shapes[found])} in the checkpoint "
                    f"but {shape_text(shape)} in the base model"
                )
            elif not same_kind(opened.dtypes[found], dtype):
                different.append(
                    f"`{found}` is {opened.dtypes[found]} in the checkpoint but {dtype} "
                    "in the base model"
                )
            keys.update((name, found) for name in group)
        problems = []
        if missing:
            problems.append(f"it lacks {listing(missing)}")
        if unexpected:
            problems.append(f"the base model has no {listing(unexpected)}")
        problems.extend(different[:3])
        if problems:
            hint = "Is it the checkpoint of another model or size?"
            prefixes = common_prefixes(list(self.files))
            if prefix is None and prefixes:
                hint += f" (every key starts with `{prefixes[-1]}`: see --strip-prefix)"
            raise CheckpointError(
                f"{self.path} does not fit the base model: {'; '.join(problems)}. "
                f"Nothing was written. {hint}"
            )
        return keys

    def nbytes(self, key):
        """The size of the tensor at a base state-dict key, as the checkpoint holds it."""
        if key in self.assembled:
            return sum(
                self.nbytes_of(self.names[part]) for part in self.assembled[key][0]
            )
        return self.nbytes_of(self.keys[key])

    def nbytes_of(self, found):
        """The size of the tensor at a checkpoint key."""
        opened = self.files[found]
        count = 1
        for size in opened.shapes[found]:
            count *= size
        return count * ELEMENT_SIZES.get(opened.dtypes[found], 4)

    def dtype(self, key):
        """The dtype name of the tensor at a base state-dict key, as stored."""
        found = self.keys[key]
        return self.files[found].dtypes[found]

    def tensor(self, key):
        """The tensor at a base state-dict key, in the base model's framework."""
        if key in self.assembled:
            return self.assemble(self.assembled[key], self.tensor_at)
        return self.tensor_at(self.keys[key])

    def tensor_at(self, found):
        """The tensor at a checkpoint key (as the checkpoint names it, --strip-prefix
        aside)."""
        found = self.names.get(found, found)
        opened = self.files[found]
        try:
            return opened.tensor(found)
        except CheckpointError:
            raise
        except Exception as error:
            raise CheckpointError(unreadable(opened.path, "base", error)) from None

    def read(self, key):
        """Like tensor(), while streaming: pages of the tensors read before are let go."""
        self.let_go()
        if key not in self.assembled:
            self.last_file = self.files[self.keys[key]].path
        return self.tensor(key)

    def let_go(self, span=None):
        """Drop the pages mapped from the file last read (see release_file_pages); with
        `span` (first byte, end), only those of that memory."""
        if self.last_file is not None:
            release_file_pages(self.last_file, span)

    def close(self):
        self.let_go()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def same_kind(saved, expected):
    """Whether a checkpoint dtype can stand for a model dtype: floating for floating (a
    cast rounds it; paddle.save stores bfloat16 as uint16), bool for bool, an integer
    type for an integer type."""
    if expected in FLOATING:
        return saved in FLOATING or saved == "uint16"
    if expected == "bool" or saved == "bool":
        return saved == expected
    return saved not in FLOATING


# The mappings of each file as /proc/self/maps last listed them: reading that file costs
# ~10 ms with both frameworks loaded, too much to pay per tensor of a checkpoint of many.
MAPPINGS = {}
# The real path of each path asked about.
REAL_PATHS = {}


def file_mappings(path, again=False):
    """(start, end) addresses of this process's mappings of the file at `path` (Linux's
    /proc/self/maps; none elsewhere). The list is read again when asked, or when a
    mapping listed before no longer holds that file (/proc/self/map_files tells, one
    link per mapping): an address is never taken for the file's once the file has let
    it go."""
    if path is None or not sys.platform.startswith("linux"):
        return []
    target = real_path(path)
    known = MAPPINGS.get(target)
    if known and not again:
        if all(still_mapped(target, start, end) for start, end in known):
            return known
    try:
        with open("/proc/self/maps") as handle:
            mappings = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in mappings:
        if not line.endswith(target):
            continue
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5] == target:
            found.append(tuple(int(address, 16) for address in fields[0].split("-")))
    MAPPINGS[target] = found
    return found


def real_path(path):
    """os.path.realpath, once per path (a lstat per component each time otherwise)."""
    if path not in REAL_PATHS:
        REAL_PATHS[path] = os.path.realpath(path)
    return REAL_PATHS[path]


def still_mapped(target, start, end):
    """Whether the mapping at start-end is still one of the file `target`."""
    try:
        return os.readlink(f"/proc/self/map_files/{start:x}-{end:x}") == target
    except OSError:  # gone, or map_files not readable here: read the list again
        return False


def file_mapped(path, span):
    """Whether the memory `span` (first byte, end) lies in a mapping of the file at
    `path`: in one listed before and still the file's, or else in the list read again
    (the file may have been mapped since)."""

    def inside(mappings):
        return any(start <= span[0] and span[1] <= end for start, end in mappings)

    return path is not None and (
        inside(file_mappings(path)) or inside(file_mappings(path, again=True))
    )


def release_file_pages(path, span=None):
    """Let go of the pages this process has mapped from a checkpoint file (Linux only);
    with `span` (first byte, end), only of those within it (a tensor's memory, rounded
    out to whole pages).

    torch.load(mmap=True), safetensors and the .pdparams reader map the file into
    memory. Pages once read stay mapped and count towards the process's memory until
    the file is closed, which would add a second copy of the model by the end. The file
    is only ever read, so dropping the pages loses nothing: a page used again is read
    again from the file. Only the file's own mappings are touched, so memory that is not
    the file's (a tensor copied out of it) is never dropped.
    """
    mappings = file_mappings(path)
    if span is not None and not any(
        start < span[1] and span[0] < end for start, end in mappings
    ):
        mappings = file_mappings(path, again=True)  # mapped since it was listed
    if not mappings:
        return
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = os.sysconf("SC_PAGE_SIZE")
    for start, end in mappings:
        if span is not None:
            start = max(start, span[0] // page * page)
            end = min(end, -(-span[1] // page) * page)
        if start < end:
            madvise(start, end - start, MADV_DONTNEED)
