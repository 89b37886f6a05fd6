"""Walking a model tree depth-first in definition order."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from ..knowledge.frameworks import (
    adapter,
    class_name,
    direct_tensors,
    dtype_name,
    framework_of_layer,
    named_children,
    shape_of,
)
from ..knowledge.layer_kinds import (
    affine_norm_family,
    class_names,
    conv_groups,
    kind_row,
)
from ..plan.plan import TensorRef, Unit

# torch's parametrizations (torch.nn.utils.parametrize) keep a parametrized tensor's
# parts as `<layer>.parametrizations.<name>.original0, original1...`: they belong to the
# layer, under the names the other framework gives them. One row per parametrization:
# its class name, then the names of original0, original1, ... ("{}" is the tensor name).
PARAMETRIZATION_ROLES = {
    # torch.nn.utils.parametrizations.weight_norm: original0 = g, original1 = v, as
    # torch.nn.utils.weight_norm and paddle.nn.utils.weight_norm name them.
    "_WeightNorm": ("{}_g", "{}_v"),
}


def join(path: str, name: str) -> str:
    if path and name:
        return f"{path}.{name}"
    return path or name


def iter_layers(
    model: Any, prune: Optional[Callable[[str, Any], bool]] = None
) -> Iterator[tuple[str, Any]]:
    """(path, layer) for the model and every sub-layer, depth-first, each layer once.

    ``prune(path, layer)`` true means: yield this layer but not its children.
    """
    seen: set[int] = set()
    stack = [("", model)]
    while stack:
        path, layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield path, layer
        if prune is not None and prune(path, layer):
            continue
        children = named_children(layer)
        stack.extend((join(path, name), child) for name, child in reversed(children))


def layer_paths(model: Any) -> dict[int, str]:
    """id(layer) -> path, for every layer in the model."""
    return {id(layer): path for path, layer in iter_layers(model)}


def layers_by_path(model: Any) -> dict[str, Any]:
    return {path: layer for path, layer in iter_layers(model)}


def _parametrized_tensors(layer: Any) -> list[tuple[str, Any, str]]:
    """(path below the layer, tensor, role) of torch parametrizations' stored parts."""
    found = []
    for name, plist in getattr(layer, "parametrizations", {}).items():
        first = next(iter(plist), None)
        roles = PARAMETRIZATION_ROLES.get(type(first).__name__, ())
        for index, (attribute, tensor) in enumerate(plist.named_parameters()):
            if "." in attribute:
                continue
            role = roles[index].format(name) if index < len(roles) else ""
            if attribute == "original":
                role = name
            found.append((f"parametrizations.{name}.{attribute}", tensor, role))
    return found


def _is_parametrizations(path: str, layer: Any) -> bool:
    return path.rpartition(".")[2] == "parametrizations" and hasattr(layer, "items")


def _refs(
    layer: Any, path: str, framework: str, first_paths: dict[int, str], alias: bool
) -> tuple[TensorRef, ...]:
    """The layer's own tensors. A tensor met before is shared (tied): with ``alias`` it
    is listed with the path it first appeared at, else left out."""
    refs = []
    tensors = [(n, t, "") for n, t in direct_tensors(layer, framework)]
    if adapter(framework).parametrizations:
        tensors += _parametrized_tensors(layer)
    for name, tensor, role in tensors:
        full = join(path, name)
        first = first_paths.setdefault(id(tensor), full)
        owner = first.rpartition(".")[0]
        if first != full and (not alias or _inside(path, owner)):
            # A layer listing a sub-layer's tensor again (PaddleFormers' LMHead keeps
            # its Linear's weight as its own `weight`) holds it once, not tied.
            continue
        refs.append(
            TensorRef(
                full,
                shape_of(tensor),
                dtype_name(tensor),
                tied_to=first if first != full else "",
                role=role,
            )
        )
    return tuple(refs)


def _inside(path: str, ancestor: str) -> bool:
    return ancestor == "" or path == ancestor or path.startswith(ancestor + ".")


def _unit(
    path: str, layer: Any, framework: str, tensors: tuple, special: bool = False
) -> Unit:
    row = kind_row(layer, framework)
    return Unit(
        path,
        class_name(layer),
        tensors,
        special=special,
        kind=row.kind if row else "",
        layout=row.layout if row else "",
        class_names=class_names(layer, framework),
        groups=conv_groups(layer) if row and row.kind == "conv" else 1,
    )


def collect_units(
    model: Any, special_paths: frozenset[str] = frozenset(), bare: bool = False
) -> list[Unit]:
    """The model's units in definition order.

    A layer with direct tensors is a unit; a layer in ``special_paths`` is one opaque unit
    holding every tensor of its subtree; parameterless wrappers contribute nothing. With
    ``bare``, a norm built without scale and shift (layer_kinds.AFFINE_NORMS) is a unit
    holding no tensor: it pairs with a norm of the other model that holds one of them.
    """
    framework = framework_of_layer(model)
    first_paths: dict[int, str] = {}
    units = []

    def prune(path: str, layer: Any) -> bool:
        return path in special_paths or _is_parametrizations(path, layer)

    for path, layer in iter_layers(model, prune=prune):
        if path in special_paths:
            # A special initializer copies its layer whole: tensors shared inside it
            # (paddle's RNN cells list their weights twice) are listed once.
            tensors = tuple(
                ref
                for sub_path, sub_layer in iter_layers(layer)
                for ref in _refs(
                    sub_layer, join(path, sub_path), framework, first_paths, False
                )
            )
            units.append(_unit(path, layer, framework, tensors, special=True))
            continue
        if _is_parametrizations(path, layer):
            continue  # their tensors belong to the layer above (see _refs)
        tensors = _refs(layer, path, framework, first_paths, True)
        if any(not is_constant(t) for t in tensors):  # constants alone make no unit
            units.append(_unit(path, layer, framework, tensors))
        elif bare and not tensors and affine_norm_family(layer, framework):
            units.append(_unit(path, layer, framework, ()))
    return units


def is_constant(ref: TensorRef) -> bool:
    """A tensor that is no weight: integers or booleans a layer computes in its
    constructor (Swin's relative_position_index), often kept in the state by one
    framework and not by the other. A layer holding only constants is no unit; inside
    a pair, constants of the same name and shape on both sides are copied as they are
    and the others left to each model (padiff_gen.analysis.transforms); where both models hold
    one, emit compares their values (padiff_gen.analysis.evidence.constants)."""
    return not ref.dtype.startswith(("float", "bfloat", "complex"))


def constants(model: Any) -> list[tuple[str, Any]]:
    """(path, tensor) of the model's state tensors that are constants (is_constant)."""
    framework = framework_of_layer(model)
    found = []
    for path, layer in iter_layers(model):
        for name, tensor in direct_tensors(layer, framework):
            if not dtype_name(tensor).startswith(("float", "bfloat", "complex")):
                found.append((join(path, name), tensor))
    return found
