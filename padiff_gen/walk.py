"""Walking a model tree depth-first in definition order."""

from __future__ import annotations

from typing import Any, Callable, Iterator, Optional

from .frameworks import (
    class_name,
    direct_tensors,
    dtype_name,
    framework_of_layer,
    is_linear,
    named_children,
    shape_of,
)
from .plan import TensorRef, Unit


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


def _refs(
    layer: Any, path: str, framework: str, seen_tensors: set[int]
) -> tuple[TensorRef, ...]:
    refs = []
    for name, tensor in direct_tensors(layer, framework):
        if id(tensor) in seen_tensors:  # a tied tensor is copied where it first appears
            continue
        seen_tensors.add(id(tensor))
        refs.append(TensorRef(join(path, name), shape_of(tensor), dtype_name(tensor)))
    return tuple(refs)


def collect_units(
    model: Any, special_paths: frozenset[str] = frozenset()
) -> list[Unit]:
    """The model's units in definition order.

    A layer with direct tensors is a unit; a layer in ``special_paths`` is one opaque unit
    holding every tensor of its subtree; parameterless wrappers contribute nothing.
    """
    framework = framework_of_layer(model)
    seen_tensors: set[int] = set()
    units = []
    for path, layer in iter_layers(model, prune=lambda path, _: path in special_paths):
        if path in special_paths:
            tensors = tuple(
                ref
                for sub_path, sub_layer in iter_layers(layer)
                for ref in _refs(
                    sub_layer, join(path, sub_path), framework, seen_tensors
                )
            )
            units.append(Unit(path, class_name(layer), tensors, special=True))
            continue
        tensors = _refs(layer, path, framework, seen_tensors)
        if tensors:
            units.append(
                Unit(
                    path, class_name(layer), tensors, linear=is_linear(layer, framework)
                )
            )
    return units
