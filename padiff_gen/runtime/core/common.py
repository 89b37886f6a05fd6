"""Finding tensors and layers, building models, and small helpers every script uses."""

import importlib
import os
import sys
import time


class WeightMismatchError(ValueError):
    """The models given to init_weights no longer match the ones this script was made for."""


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the model."""


class UsageProblem(ValueError):
    """A command line that cannot be carried out (a wrong output path, a missing option)."""


def get_layer(model, path):
    """The sub-layer at a dotted path ("" is the model itself)."""
    layer = model
    for name in path.split(".") if path else ():
        layer = getattr(layer, name)
    return layer


def get_tensor(model, path):
    """The parameter or buffer at a dotted path, e.g. "layer1.0.bn1.weight"."""
    layer_path, _, name = path.rpartition(".")
    return getattr(get_layer(model, layer_path), name)


def resolve_target(target):
    """Import `a.b.c.Name` by trying the longest importable module prefix."""
    parts = target.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and not module_name.startswith(error.name):
                raise
            continue
        for attribute in parts[split:]:
            obj = getattr(obj, attribute)
        return obj
    raise ModuleNotFoundError(f"cannot import {target!r}")


def model_folders(spec):
    """Where to import a spec's module from: the folder padiff-gen imported it from
    (recorded relative to this script), then the working directory."""
    folders = [os.getcwd()]
    script = globals().get("__file__")
    if spec.get("folder") is not None and script:
        here = os.path.dirname(os.path.abspath(script))
        folders.insert(0, os.path.normpath(os.path.join(here, spec["folder"])))
    return folders


def build_model(spec):
    """Build a model from a recorded spec: a class, a factory, or an instance.

    Raises UsageProblem, one line naming the module and the fix, when the model's module
    cannot be imported from here.
    """
    for folder in reversed(model_folders(spec)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        target = resolve_target(spec["target"])
    except ModuleNotFoundError as error:
        missing = error.name or spec["target"].split(".")[0]
        model = f"the {spec['framework']} model {spec['target']}"
        if not spec["target"].startswith(missing):
            raise UsageProblem(
                f"cannot build {model}: its module imports `{missing}`, which is not "
                f"installed here ({error}). Install it, or run this script in the "
                "environment padiff-gen emit ran in"
            ) from None
        raise UsageProblem(
            f"cannot import the module `{missing}` of {model}. Run this script from "
            f"the folder that holds `{missing}`, or add that folder to PYTHONPATH"
        ) from None
    if isinstance(target, type) or not hasattr(target, "state_dict"):
        return target(**spec["kwargs"])
    return target


def cannot_build_lazily(spec, error):
    """The note for a model that cannot be built without weights."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return (
        f"note: the {spec['framework']} model {spec['target']} cannot be built without "
        f"weights ({type(error).__name__}: {detail}); building it normally, which needs "
        "memory for its weights"
    )


def dtype_name(tensor):
    """A tensor's dtype as both frameworks spell it: "float32", "bfloat16", "int64"..."""
    return str(tensor.dtype).rpartition(".")[2]


def release_layer(layer):
    """Let go of the storage of a layer's tensors: it is weightless again.

    torch modules go back to the meta device; paddle tensors are cleared, as under
    paddle.LazyGuard. Used for the layers a conversion fills one at a time.
    """
    if hasattr(layer, "to_empty"):  # torch
        layer.to(device="meta")
        return
    for tensor in layer.state_dict().values():
        if tensor._is_initialized():
            tensor._clear_data()


class WriteLog:
    """The memory the copy helpers (copy_tensor, fill_tensor) wrote since clear().

    In a rehearsal the helpers check their arguments and note what they would write, but
    write nothing: a built-in special initializer, which writes only through them, can be
    run once this way to find every refusal and every tensor it would leave unwritten
    before anything is written (see run_special_inits).
    """

    def __init__(self):
        self.rehearsing = False
        self.spans = []

    def clear(self):
        self.spans = []

    def note(self, span):
        """Note a write of the bytes [start, end); True if it must be skipped."""
        self.spans.append(span)
        return self.rehearsing

    def covers(self, span):
        """True if the noted writes cover every byte of [start, end)."""
        start, end = span
        for first, last in sorted(self.spans):
            if first > start:
                break
            start = max(start, last)
        return start >= end


WRITES = WriteLog()


def same_file(first, second):
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


class Progress:
    """A progress line on stderr, rewritten in place; silent unless `enabled`."""

    def __init__(self, total, label, enabled):
        self.total = max(total, 1)
        self.label = label
        self.enabled = enabled
        self.done = 0
        self.shown_at = None

    def advance(self):
        self.done += 1
        now = time.monotonic()
        recently = self.shown_at is not None and now - self.shown_at < 0.2
        if not self.enabled or (recently and self.done < self.total):
            return
        self.shown_at = now
        percent = 100 * self.done // self.total
        sys.stderr.write(f"\r{self.label}: {percent:3d}% ({self.done}/{self.total})")
        sys.stderr.flush()

    def counting(self, items):
        """Yield the items, each counted as done when the next one is asked for."""
        for item in items:
            yield item
            del item  # before the next one is made
            self.advance()
        self.close()

    def close(self):
        if self.enabled and self.shown_at is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()


def report(message):
    print(message, file=sys.stderr)
