"""Finding tensors, checking them against the recorded table, and building models."""

import argparse
import importlib
import os
import sys
import tempfile
import time


class WeightMismatchError(ValueError):
    """The models given to init_weights no longer match the ones this script was made for."""


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable or does not fit the model."""


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


def find_tensor_problem(model, path, expected_shape):
    """Why the tensor at `path` does not fit the table, or None when it does."""
    try:
        tensor = get_tensor(model, path)
    except AttributeError:
        return f"`{path}` does not exist"
    if not hasattr(tensor, "shape"):
        return f"`{path}` is {type(tensor).__name__}, not a tensor"
    shape = tuple(int(d) for d in tensor.shape)
    if shape != tuple(expected_shape):
        return f"`{path}` has shape {list(shape)}, expected {list(expected_shape)}"
    return None


def find_unknown_tensors(model, known_paths):
    """Names of the model's saved tensors (parameters, persistent buffers) not in `known_paths`.

    Tensors are compared by identity, so a tied tensor or an alias (paddle's RNN cells list
    their weights twice) counts as known under any of its names.
    """
    known = set()
    for path in known_paths:
        try:
            known.add(id(get_tensor(model, path)))
        except AttributeError:
            pass  # reported as missing already
    # keep_vars: the tensors themselves (torch would return detached copies otherwise).
    state = model.state_dict(keep_vars=True)
    return [name for name, tensor in state.items() if id(tensor) not in known]


def row_sources(base_path, base_shape):
    """[(path, shape)] of a table row's base tensors: one, or several for a composite row."""
    if isinstance(base_path, tuple):
        return list(zip(base_path, base_shape))
    return [(base_path, base_shape)]


def check_tensors(
    base_model, raw_model, tensor_table, special_init_tensors, regenerate
):
    """Raise WeightMismatchError naming every tensor that differs from the tables."""
    models = {"base": base_model, "raw": raw_model}
    expected = []
    for base_path, raw_path, _, base_shape, raw_shape in tensor_table:
        for path, shape in row_sources(base_path, base_shape):
            expected.append(("base", path, shape))
        expected.append(("raw", raw_path, raw_shape))
    expected.extend(special_init_tensors)
    problems = []
    for side, path, shape in expected:
        problem = find_tensor_problem(models[side], path, shape)
        if problem is not None:
            problems.append(f"{side} {problem}")
    for side, model in models.items():
        # A tensor the tables do not know would be silently skipped (raw: left random).
        known = [path for s, path, _ in expected if s == side]
        for name in find_unknown_tensors(model, known):
            problems.append(f"{side} `{name}` is not in this script's tables")
    if problems:
        shown = "; ".join(problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise WeightMismatchError(
            f"The models do not match this script: {shown}{more}. Nothing was copied. "
            f"If the models changed on purpose, regenerate the script: {regenerate}"
        )


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


def build_model(spec):
    """Build a model from a recorded spec: a class, a factory, or an instance."""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    target = resolve_target(spec["target"])
    if isinstance(target, type) or not hasattr(target, "state_dict"):
        return target(**spec["kwargs"])
    return target


def parse_args(argv, description, raw_suffix, base_formats):
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base-ckpt",
        metavar="PATH",
        help=f"copy the base weights from this checkpoint ({base_formats}), one tensor "
        "at a time, instead of building the base model with random weights",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=f"save the raw model's state dict here ({raw_suffix})",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors"
    )
    args = parser.parse_args(argv)
    args.progress = not args.quiet and sys.stderr.isatty()
    return args


def check_data(
    base_model,
    raw_model,
    tensor_table,
    special_init_tensors,
    has_data,
    sides=("base", "raw"),
):
    """Raise WeightMismatchError if a tensor has no storage (a model built without weights).

    Copying into such a tensor would do nothing at all, without an error.
    """
    models = {"base": base_model, "raw": raw_model}
    rows = [
        ("base", path)
        for row in tensor_table
        for path, _ in row_sources(row[0], row[3])
    ]
    rows += [("raw", row[1]) for row in tensor_table]
    rows += [(side, path) for side, path, _ in special_init_tensors]
    empty = [
        f"{side} `{path}`"
        for side, path in rows
        if side in sides and not has_data(get_tensor(models[side], path))
    ]
    if empty:
        more = f" (and {len(empty) - 3} more)" if len(empty) > 3 else ""
        raise WeightMismatchError(
            f"{', '.join(empty[:3])}{more} have no data: the model was built without "
            "weights (on torch's meta device or under paddle.LazyGuard). Nothing was "
            "copied. Build the models normally, or convert a checkpoint with --base-ckpt."
        )


def check_output(path, base_checkpoint):
    """Refuse an output path that cannot be written, before any slow work."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise CheckpointError(f"the output path {path} is a directory")
    if not os.path.isdir(directory):
        raise CheckpointError(f"the output directory of {path} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise CheckpointError(f"the output directory of {path} is not writable")
    if base_checkpoint and same_file(path, base_checkpoint):
        raise CheckpointError(
            f"the output {path} is the checkpoint being read; choose another -o path"
        )


def same_file(first, second):
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def atomic_save(save, obj, path):
    """Write through `save(obj, temporary_path)`, then rename: no half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=directory
    )
    os.close(handle)
    try:
        save(obj, temporary)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


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

    def close(self):
        if self.enabled and self.shown_at is not None:
            sys.stderr.write("\n")
            sys.stderr.flush()


def report(message):
    print(message, file=sys.stderr)
