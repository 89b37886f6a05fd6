"""Finding tensors, checking them against the recorded table, and building models."""

import argparse
import importlib
import os
import sys


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


def check_tensors(
    base_model, raw_model, tensor_table, special_init_tensors, regenerate
):
    """Raise WeightMismatchError naming every tensor that differs from the tables."""
    models = {"base": base_model, "raw": raw_model}
    expected = []
    for base_path, raw_path, _, base_shape, raw_shape in tensor_table:
        expected.append(("base", base_path, base_shape))
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


def parse_args(argv, description, raw_suffix, base_suffixes):
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base-ckpt",
        metavar="PATH",
        help=f"load the base model's weights from this checkpoint ({base_suffixes})",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=f"save the raw model's state dict here ({raw_suffix})",
    )
    return parser.parse_args(argv)


def atomic_save(save, obj, path):
    """Write through `save(obj, temporary_path)`, then rename: no half-written file."""
    directory = os.path.dirname(os.path.abspath(path))
    temporary = os.path.join(directory, f".{os.path.basename(path)}.partial")
    try:
        save(obj, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def first_line(error):
    """An exception's message cut to its first line, for one-line error reports."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def report(message):
    print(message, file=sys.stderr)
