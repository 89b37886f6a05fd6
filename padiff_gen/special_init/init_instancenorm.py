"""InstanceNorm 1D/2D/3D: torch weight/bias <-> paddle scale/bias.

The defaults differ: torch's InstanceNorm has no scale or shift (affine=False), paddle's
learns both (initialised to 1 and 0). A layer without them computes as if it held scale 1
and shift 0, so copying from torch's default into paddle's sets paddle's scale to 1 and
shift to 0; a learnable base scale with nowhere to go is refused when the script is made.

torch with track_running_stats=True normalises with running statistics in eval mode; paddle's
InstanceNorm always uses each instance's own statistics and keeps none, so that
configuration is refused too.
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.copy_torch import copy_or_neutral
from .special_init_pool import global_special_init_pool as init_pool

CLASS_PAIRS = (
    ("InstanceNorm1d", "InstanceNorm1D"),
    ("InstanceNorm2d", "InstanceNorm2D"),
    ("InstanceNorm3d", "InstanceNorm3D"),
)


def init_instancenorm_torch_to_paddle(base_model, raw_model):
    """InstanceNorm: torch weight/bias -> paddle scale/bias.

    torch's default (affine=False) has neither: paddle's then get scale 1 and shift 0.
    """
    copy_or_neutral(raw_model.scale, base_model.weight, 1.0, "scale")
    copy_or_neutral(raw_model.bias, base_model.bias, 0.0, "bias")


def init_instancenorm_paddle_to_torch(base_model, raw_model):
    """InstanceNorm: paddle scale/bias -> torch weight/bias (scale 1 / shift 0 if absent)."""
    copy_or_neutral(raw_model.weight, base_model.scale, 1.0, "scale")
    copy_or_neutral(raw_model.bias, base_model.bias, 0.0, "bias")


def validate_instancenorm(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: can the two layers normalise alike in eval mode?"""
    base_is_torch = hasattr(base_layer, "track_running_stats")
    torch_layer, paddle_layer = (
        (base_layer, raw_layer) if base_is_torch else (raw_layer, base_layer)
    )
    if torch_layer.track_running_stats:
        return (
            "torch has track_running_stats=True, so in eval mode it normalises with "
            "running statistics, which paddle's InstanceNorm does not keep (it always "
            "uses each instance's own); build torch with track_running_stats=False"
        )
    if torch_layer.num_features != paddle_layer._num_features:
        return (
            f"they normalise {torch_layer.num_features} and "
            f"{paddle_layer._num_features} features"
        )
    paddle_affine = paddle_layer.scale is not None
    if base_is_torch and torch_layer.affine and not paddle_affine:
        return (
            "torch learns a scale and shift (affine=True) but paddle was built without "
            "(weight_attr=False, bias_attr=False); build paddle with them (its default), "
            "or torch with affine=False"
        )
    if not base_is_torch and paddle_affine and not torch_layer.affine:
        return (
            "paddle learns a scale and shift (its default) but torch has affine=False (its "
            "default), so the learned values would be lost; build torch with affine=True, "
            "or paddle with weight_attr=False, bias_attr=False"
        )
    return (
        None  # eps is compared by padiff_gen.knowledge.settings (a note, not a refusal)
    )


for _torch_class, _paddle_class in CLASS_PAIRS:
    init_pool.add(
        "torch",
        _torch_class,
        "paddle",
        _paddle_class,
        init_instancenorm_torch_to_paddle,
        validate=validate_instancenorm,
    )
    init_pool.add(
        "paddle",
        _paddle_class,
        "torch",
        _torch_class,
        init_instancenorm_paddle_to_torch,
        validate=validate_instancenorm,
    )
