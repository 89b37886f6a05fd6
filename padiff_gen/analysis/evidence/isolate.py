"""Replaying paired sub-layers in isolation, for ``verify``.

While the base model runs, forward hooks capture the arguments each paired base sub-layer
receives (its first call). Afterwards both sub-layers of a pair run again on those same
arguments, converted to each framework, in float64 (copies of the layers, so the models
are untouched): a difference upstream cannot smear onto them, and float32 rounding does
not hide a small setting difference such as eps 1e-6 against 1e-5.

A sub-layer whose forward takes arguments the other framework's does not (torch's
``key_padding_mask``) is replayed with the positional arguments alone; one that cannot be
replayed at all is reported as such, never as a failure of padiff-gen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Optional

import numpy as np

from ...knowledge.frameworks import (
    adapter,
    dtype_name,
    framework_of_layer,
    framework_of_tensor,
)
from ..walk import layers_by_path


@dataclass(frozen=True)
class Captured:
    """A tensor argument, as an array, with the dtype the layer received."""

    array: np.ndarray
    dtype: str


def capture(value: Any) -> Any:
    """Tensors (in nested tuples, lists and dicts) as arrays; anything else as it is."""
    framework = framework_of_tensor(value)
    if framework is not None:
        array = adapter(framework).array(value, float64=True)
        return Captured(array, dtype_name(value))
    if isinstance(value, tuple):
        return tuple(capture(v) for v in value)
    if isinstance(value, list):
        return [capture(v) for v in value]
    if isinstance(value, dict):
        return {k: capture(v) for k, v in value.items()}
    return value


def materialize(value: Any, framework: str, float64: bool) -> Any:
    """Captured arguments as tensors of ``framework``: floats in float64, or in the dtype
    the layer received."""
    if isinstance(value, Captured):
        array = value.array
        if np.issubdtype(array.dtype, np.floating) and not float64:
            array = array.astype("float32")  # numpy has no bfloat16: cast below
        if float64:
            return adapter(framework).tensor(array)
        return adapter(framework).tensor_as(array, value.dtype)
    if isinstance(value, tuple):
        return tuple(materialize(v, framework, float64) for v in value)
    if isinstance(value, list):
        return [materialize(v, framework, float64) for v in value]
    if isinstance(value, dict):
        return {k: materialize(v, framework, float64) for k, v in value.items()}
    return value


class Capture:
    """Forward hooks that keep the arguments of each hooked layer's first call, in call
    order."""

    def __init__(self, model: Any, paths: Iterable[str]) -> None:
        self.calls: dict[str, Optional[tuple[Any, dict]]] = {}  # None: not capturable
        self.order: list[str] = []
        self._handles = []
        layers = layers_by_path(model)
        framework = adapter(framework_of_layer(model))
        for path in paths:
            layer = layers.get(path)
            if layer is None or path in self.calls:
                continue
            hook = self._hook(path)
            self._handles.append(framework.post_hook(layer, hook, with_kwargs=True))

    def _hook(self, path: str):
        def record(layer, args, kwargs, output):
            if path in self.calls:  # a shared layer: its first call counts
                return
            try:
                self.calls[path] = (capture(tuple(args)), capture(dict(kwargs or {})))
            except Exception:  # noqa: BLE001 - an argument numpy cannot hold
                self.calls[path] = None
            self.order.append(path)

        return record

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def _in_float64(layer: Any) -> Any:
    """A float64 copy of a layer in eval mode."""
    return adapter(framework_of_layer(layer)).float64_copy(layer)


def _run(layer: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
    return adapter(framework_of_layer(layer)).run(layer, *args, **kwargs)


@dataclass(frozen=True)
class Replay:
    """Both layers' outputs on the same arguments, or why they could not be had."""

    base: Any = None
    raw: Any = None
    float64: bool = True
    problem: str = ""  # the exception that stopped the replay


def _call(layer: Any, call: tuple[Any, dict], float64: bool, own_kwargs: bool) -> Any:
    args, kwargs = call
    framework = framework_of_layer(layer)
    args = materialize(args, framework, float64)
    kwargs = materialize(kwargs, framework, float64) if own_kwargs else {}
    return _run(layer, args, kwargs)


def replay(base_layer: Any, raw_layer: Any, call: Optional[tuple[Any, dict]]) -> Replay:
    """Run both layers on the base layer's captured arguments: in float64 if both can,
    else as they are. The raw layer gets the base's keyword arguments when it takes them,
    else the positional ones alone."""
    if call is None:
        return Replay(problem="its arguments could not be captured")
    problem = ""
    for float64 in (True, False):
        try:
            base = _in_float64(base_layer) if float64 else base_layer
            raw = _in_float64(raw_layer) if float64 else raw_layer
            base_out = _call(base, call, float64, True)
        except Exception as error:  # the layer's own code: try without float64
            problem = f"{type(error).__name__}: {_first_line(error)}"
            continue
        for own_kwargs in (True, False) if call[1] else (True,):
            try:
                return Replay(base_out, _call(raw, call, float64, own_kwargs), float64)
            except Exception as error:
                problem = f"{type(error).__name__}: {_first_line(error)}"
    return Replay(problem=problem)


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""
