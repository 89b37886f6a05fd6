"""Checking two models against the script's tables before anything is written."""

from .common import WeightMismatchError, get_tensor
from .rows import row_base_paths, row_raw_path, row_tensors


def framework_of(model):
    """'torch' or 'paddle', by the package the model's classes come from."""
    for cls in type(model).__mro__:
        package = cls.__module__.split(".")[0]
        if package in ("torch", "paddle"):
            return package
    return type(model).__name__


def check_frameworks(base_model, raw_model, frameworks):
    """Refuse models of other frameworks than the script copies between (swapped
    arguments, say) before anything else: their tensors would all look missing."""
    found = (framework_of(base_model), framework_of(raw_model))
    if found == tuple(frameworks):
        return
    swapped = found == tuple(frameworks)[::-1] and found[0] != found[1]
    raise WeightMismatchError(
        f"init_weights(base_model, raw_model) copies a {frameworks[0]} model into a "
        f"{frameworks[1]} model, but was given a {found[0]} and a {found[1]} model"
        + (": the two arguments look swapped" if swapped else "")
        + ". Nothing was copied."
    )


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
    their weights twice) counts as known under any of its names. Integer and boolean
    tensors are constants a model computes when built (an attention's position index),
    not weights: one only this model keeps is in no table.
    """
    known = set()
    for path in known_paths:
        try:
            known.add(id(get_tensor(model, path)))
        except AttributeError:
            pass  # reported as missing already
    # keep_vars: the tensors themselves (torch would return detached copies otherwise).
    state = model.state_dict(keep_vars=True)
    return [
        name
        for name, tensor in state.items()
        if id(tensor) not in known and tensor.is_floating_point()
    ]


def check_tensors(
    base_model, raw_model, tensor_table, special_init_tensors, regenerate
):
    """Raise WeightMismatchError naming every tensor that differs from the tables."""
    models = {"base": base_model, "raw": raw_model}
    expected = [entry for row in tensor_table for entry in row_tensors(row)]
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
    rows = [("base", path) for row in tensor_table for path in row_base_paths(row)]
    rows += [("raw", row_raw_path(row)) for row in tensor_table]
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
