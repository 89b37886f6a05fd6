"""Running the special initializers: all or nothing, and every raw tensor written.

A SPECIAL_INITS row is (base layer path, raw layer path, initializer name). An
initializer must write every tensor of its raw layer. Two kinds are run differently:

- Built-in initializers write only through the copy helpers (copy_tensor, fill_tensor).
  They are rehearsed first: run once with the helpers checking and noting what they
  would write, writing nothing (see WriteLog). A refusal, or a tensor that would stay
  unwritten, is found before anything is written; then they run for real, and cannot
  fail. No copy of their tensors is kept.
- Any other initializer is run on a layer saved first (a copy of its raw tensors: the
  only thing such an initializer could leave half-written) and filled with a sentinel
  value; a tensor still holding the sentinel afterwards was not written. On any failure
  every saved layer is put back. These run before the built-in ones, so that the saved
  copies are all there is to undo.
"""

from .common import WRITES, WeightMismatchError, get_layer, get_tensor
from .copy_torch import (
    clone_tensor,
    copy_tensor,
    is_unwritten,
    mark_unwritten,
    memory_span,
)


def unit_raw_paths(raw_path, special_init_tensors):
    """The raw tensors of the layer at `raw_path`, from SPECIAL_INIT_TENSORS."""
    prefix = f"{raw_path}." if raw_path else ""
    return [
        path
        for side, path, _ in special_init_tensors
        if side == "raw" and path.startswith(prefix)
    ]


def call_initializer(row, initializer, base_layer, raw_layer):
    """Run one initializer; a refusal (WeightMismatchError) names the two layers."""
    base_path, raw_path, _ = row
    try:
        initializer(base_layer, raw_layer)
    except WeightMismatchError as error:
        raise WeightMismatchError(
            f"base `{base_path}` -> raw `{raw_path}`: {error}. Nothing was copied."
        ) from None


def unwritten_error(row, paths):
    """The error for an initializer that left raw tensors unwritten."""
    base_path, raw_path, name = row
    shown = ", ".join(f"`{path}`" for path in paths[:5])
    return WeightMismatchError(
        f"{name} (base `{base_path}` -> raw `{raw_path}`) did not write raw {shown}: a "
        "special initializer must write every tensor of its raw layer (copy it, or fill "
        "it with the value the layer needs). Nothing was copied."
    )


def rehearse(row, initializers, base_model, raw_model, special_init_tensors):
    """Run a built-in initializer writing nothing; raise what the real run would."""
    base_path, raw_path, name = row
    WRITES.clear()
    WRITES.rehearsing = True
    try:
        call_initializer(
            row,
            initializers[name],
            get_layer(base_model, base_path),
            get_layer(raw_model, raw_path),
        )
    finally:
        WRITES.rehearsing = False
    unwritten = [
        path
        for path in unit_raw_paths(raw_path, special_init_tensors)
        if not WRITES.covers(memory_span(get_tensor(raw_model, path)))
    ]
    WRITES.clear()
    if unwritten:
        raise unwritten_error(row, unwritten)


def run_special_inits(
    special_inits, initializers, rehearsed, special_init_tensors, base_model, raw_model
):
    """Run every initializer of SPECIAL_INITS on the two models, all or nothing.

    `rehearsed` names the initializers that write only through the copy helpers (the
    built-in ones). Raises the first refusal or failure with raw_model as it was.
    """
    checked = [row for row in special_inits if row[2] in rehearsed]
    for row in checked:
        rehearse(row, initializers, base_model, raw_model, special_init_tensors)
    saved = []
    try:
        for row in special_inits:
            if row[2] in rehearsed:
                continue
            base_path, raw_path, name = row
            paths = unit_raw_paths(raw_path, special_init_tensors)
            for path in paths:
                tensor = get_tensor(raw_model, path)
                saved.append((tensor, clone_tensor(tensor)))
                mark_unwritten(tensor)
            call_initializer(
                row,
                initializers[name],
                get_layer(base_model, base_path),
                get_layer(raw_model, raw_path),
            )
            unwritten = [p for p in paths if is_unwritten(get_tensor(raw_model, p))]
            if unwritten:
                raise unwritten_error(row, unwritten)
    except BaseException:
        for tensor, copy in saved:  # undo, so that raw_model stays as it was
            copy_tensor(tensor, copy)
        raise
    del saved
    for base_path, raw_path, name in checked:
        initializers[name](
            get_layer(base_model, base_path), get_layer(raw_model, raw_path)
        )


def init_layer_alone(row, initializer, base_layer, raw_layer, prefix, required=None):
    """Run an initializer on a raw layer given fresh, unwritten storage for it alone.

    Every tensor is filled with the sentinel first; one of `required` (state-dict names;
    all by default) that still holds it afterwards was not written: a tensor the layer
    shares with another layer (an output layer tied to the embedding) is written by the
    table, as in memory. Returns the raw layer's tensors by state-dict name.
    """
    tensors = raw_layer.state_dict(keep_vars=True)
    for tensor in tensors.values():
        mark_unwritten(tensor)
    call_initializer(row, initializer, base_layer, raw_layer)
    unwritten = [
        prefix + name
        for name, t in tensors.items()
        if is_unwritten(t) and (required is None or name in required)
    ]
    if unwritten:
        raise unwritten_error(row, unwritten)
    return raw_layer.state_dict(keep_vars=True)
