"""Bilinear: the weight is [out, in1, in2] in both frameworks; the bias is [out] in torch
but a row, [1, out], in paddle.

A layer built without a bias computes as if it held zeros, so a bias-free base gives the raw
layer a zero bias; a base bias with nowhere to go is refused when the script is made.
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.copy_torch import as_torch, copy_or_neutral, copy_tensor
from .special_init_pool import global_special_init_pool as init_pool


def init_bilinear_torch_to_paddle(base_model, raw_model):
    """Bilinear: the weight as is, the bias [out] -> paddle's row [1, out] (0 if absent)."""
    copy_tensor(raw_model.weight, base_model.weight)
    bias = base_model.bias
    if bias is not None:
        bias = as_torch(bias).reshape(1, -1)  # [out] -> paddle's [1, out]
    copy_or_neutral(raw_model.bias, bias, 0.0, "bias")


def init_bilinear_paddle_to_torch(base_model, raw_model):
    """Bilinear: the weight as is, paddle's bias row [1, out] -> [out] (0 if absent)."""
    copy_tensor(raw_model.weight, base_model.weight)
    bias = base_model.bias
    if bias is not None:
        bias = as_torch(bias).reshape(-1)  # paddle's [1, out] -> [out]
    copy_or_neutral(raw_model.bias, bias, 0.0, "bias")


def validate_bilinear(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: the same weight shape, and no base bias without a raw one."""
    base_shape = tuple(int(d) for d in base_layer.weight.shape)
    raw_shape = tuple(int(d) for d in raw_layer.weight.shape)
    if base_shape != raw_shape:
        return (
            f"their weights are {list(base_shape)} and {list(raw_shape)} "
            "([out, in1, in2]); make the sizes agree"
        )
    if base_layer.bias is not None and raw_layer.bias is None:
        return (
            "the base layer has a bias but the raw layer has none; build the raw layer "
            "with a bias (torch: bias=True, paddle: bias_attr unset)"
        )
    return None


init_pool.add(
    "torch",
    "Bilinear",
    "paddle",
    "Bilinear",
    init_bilinear_torch_to_paddle,
    validate=validate_bilinear,
)
init_pool.add(
    "paddle",
    "Bilinear",
    "torch",
    "Bilinear",
    init_bilinear_paddle_to_torch,
    validate=validate_bilinear,
)
