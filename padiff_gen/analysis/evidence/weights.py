"""Random weights at a trained model's scale, for running two models to compare them.

verify fills the base model with them before copying; emit's layout probe does too
(:mod:`padiff_gen.analysis.evidence.layout_probe`). A forgotten tensor then shows in the outputs, and so
does a small setting difference, while what a model keeps fixed (an Embedding's
padding row) stays as the model keeps it.
"""

from __future__ import annotations

import importlib
import math
from typing import Any, Mapping, Optional

import numpy as np

from ...knowledge.frameworks import (
    adapter,
    direct_tensors,
    framework_of_layer,
    framework_of_tensor,
)
from ...knowledge.layer_kinds import IN_OUT, kind_row
from ..walk import iter_layers


def to_numpy(value: Any) -> Optional[np.ndarray]:
    """A tensor (either framework) as a float64 array; None for anything else."""
    framework = framework_of_tensor(value)
    if framework is None:
        return None
    # via float32: numpy has no bfloat16
    return np.asarray(adapter(framework).array(value), dtype=np.float64)


def flatten_outputs(outputs: Any) -> list[np.ndarray]:
    """Every tensor in (nested tuples, lists, dicts of) outputs, in order, as arrays."""
    if isinstance(outputs, Mapping):
        return [a for key in outputs for a in flatten_outputs(outputs[key])]
    if isinstance(outputs, (tuple, list)):
        return [a for item in outputs for a in flatten_outputs(item)]
    array = to_numpy(outputs)
    return [] if array is None else [array]


# Running statistics, which are not learned but must be randomized like weights.
RUNNING_MEANS = ("running_mean", "_mean")
RUNNING_VARIANCES = ("running_var", "_variance")
# Layers whose tensors hold a fixed row: (class, attribute naming it). torch keeps an
# Embedding's padding row at zero unless set by hand (and the script checks it is).
PADDING_ROWS = (
    ("torch.nn.Embedding", "padding_idx"),
    ("paddle.nn.Embedding", "_padding_idx"),
)


def _learns(tensor: Any, framework: str) -> bool:
    """False for a parameter the model keeps fixed (paddle stop_gradient, torch
    requires_grad=False): paddle's SyncBatchNorm without scale keeps a scale of 1."""
    return adapter(framework).is_trainable(tensor)


def value_scale(
    layer: Any, name: str, shape: tuple, framework: str
) -> tuple[float, float]:
    """(mean, std) of a tensor's values at the scale a trained model's has: LeCun/Kaiming
    for weights of 2 axes and up, small biases and running means, norm scales near 1,
    running variances in [0.5, 1.5] (std 1/sqrt(12) around 1)."""
    if name in RUNNING_MEANS:
        return 0.0, 0.1
    if name in RUNNING_VARIANCES:
        return 1.0, 1 / math.sqrt(12)
    if "bias" in name.lower():
        return 0.0, 0.1
    if (
        len(shape) >= 2
    ):  # paddle's Linear weight is [in, out], every other [out, in, ...]
        linear = getattr(kind_row(layer, framework), "layout", "") == IN_OUT
        fan_in = shape[0] if linear else math.prod(shape[1:])
        return 0.0, 1 / math.sqrt(max(fan_in, 1))
    return 1.0, 0.1  # norm scales and the like: near 1


def _realistic(
    rng: np.random.Generator, layer: Any, name: str, shape: tuple, framework: str
) -> np.ndarray:
    """Values at the scale a trained model's tensor has (see value_scale)."""
    mean, std = value_scale(layer, name, shape, framework)
    if name in RUNNING_VARIANCES:
        return rng.uniform(0.5, 1.5, shape)
    return mean + std * rng.standard_normal(shape)


def _assign(tensor: Any, values: np.ndarray, framework: str) -> None:
    adapter(framework).assign(tensor, values)


def _keep_padding_rows(layer: Any, framework: str) -> None:
    """Zero the rows a model keeps at zero (an Embedding's padding row)."""
    for dotted, attribute in PADDING_ROWS:
        if not dotted.startswith(framework):
            continue
        cls = _resolve_class(dotted)
        row = getattr(layer, attribute, None)
        if cls is None or not isinstance(layer, cls) or row is None:
            continue
        weight = layer.weight
        values = to_numpy(weight).astype("float64")
        values[row] = 0.0
        _assign(weight, values, framework)


def _resolve_class(dotted: str) -> Optional[type]:
    module_name, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), name, None)


def randomize_weights(model: Any, seed: int) -> None:
    """Give the model random weights at a trained model's scale, seeded.

    Weights (2-D and up) are normal with std 1/sqrt(fan in), so activations keep their
    scale from layer to layer; biases are small (std 0.1); 1-D weights such as norm
    scales are near 1 (1 + 0.1 N); running means are small and running variances lie in
    [0.5, 1.5]. What the model keeps fixed stays as it is: parameters that do not learn
    (other than running statistics) and an Embedding's padding row. So a forgotten tensor
    shows, a 1e-6 vs 1e-5 eps shows, and the copy never trips over the models' own
    invariants.
    """
    rng = np.random.default_rng(seed)
    framework = framework_of_layer(model)
    seen: set[int] = set()
    for _, layer in iter_layers(model):
        for name, tensor in direct_tensors(layer, framework):
            if id(tensor) in seen or not tensor.is_floating_point():
                continue
            seen.add(id(tensor))
            statistic = name in RUNNING_MEANS + RUNNING_VARIANCES
            if not statistic and not _learns(tensor, framework):
                continue
            shape = tuple(int(d) for d in tensor.shape)
            _assign(tensor, _realistic(rng, layer, name, shape, framework), framework)
        _keep_padding_rows(layer, framework)
