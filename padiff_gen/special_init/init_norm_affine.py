"""LayerNorm and GroupNorm pairs where one side lacks a scale or shift the other holds.

A norm built without its scale or shift (torch ``elementwise_affine=False``,
``affine=False`` or ``bias=False``; paddle ``weight_attr=False`` / ``bias_attr=False``)
computes as if it held scale 1 and shift 0 (padiff_gen.knowledge.layer_kinds.NEUTRAL). ppdiffusers'
SD3 ``AdaLayerNormContinuous`` holds a LayerNorm with a shift and no scale where
diffusers' holds neither. So a tensor only the raw layer has is written with the
neutral value, and one only the base layer has is accepted when it holds the neutral
value everywhere, refused at run time otherwise (the raw layer could not compute the
same). The analysis gives this initializer only such pairs (it claims no layer by class:
pairs holding the same tensors are copied by the tensor table).
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.copy_torch import copy_or_neutral, copy_tensor
from .special_init_pool import global_special_init_pool as init_pool


def init_norm_affine(base_model, raw_model):
    """LayerNorm / GroupNorm: scale (weight) and shift (bias), each copied where both
    layers hold it; a missing one stands for scale 1 / shift 0."""
    for name, neutral in (("weight", 1.0), ("bias", 0.0)):
        dst = getattr(raw_model, name, None)
        src = getattr(base_model, name, None)
        if dst is not None and src is not None:
            # paddle keeps a LayerNorm's scale over several axes flattened
            same = tuple(dst.shape) == tuple(src.shape)
            copy_tensor(dst, src, "copy" if same else "reshape")
        else:
            copy_or_neutral(dst, src, neutral, name)


def _normalised(layer: Any) -> tuple:
    """What a layer normalises over: (normalised shape,) or (groups, channels)."""
    if hasattr(layer, "normalized_shape"):  # torch LayerNorm
        return (tuple(layer.normalized_shape),)
    if hasattr(layer, "_normalized_shape"):  # paddle LayerNorm
        return (tuple(layer._normalized_shape),)
    groups = getattr(layer, "num_groups", getattr(layer, "_num_groups", None))
    channels = getattr(layer, "num_channels", getattr(layer, "_num_channels", None))
    return (groups, channels)


def validate_norm_affine(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: do the two layers normalise over the same axes?"""
    base, raw = _normalised(base_layer), _normalised(raw_layer)
    if base != raw:
        return f"they normalise over {base} and {raw}"
    return (
        None  # eps is compared by padiff_gen.knowledge.settings (a note, not a refusal)
    )


for _class in ("LayerNorm", "GroupNorm"):
    for _base in ("torch", "paddle"):
        for _raw in ("torch", "paddle"):
            init_pool.add(
                _base,
                _class,
                _raw,
                _class,
                init_norm_affine,
                validate=validate_norm_affine,
                by_class=False,
            )
