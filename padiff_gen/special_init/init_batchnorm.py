"""BatchNorm 1D/2D/3D and SyncBatchNorm, with running statistics.

torch keeps the running statistics as buffers (running_mean, running_var), paddle as
non-trainable parameters (_mean, _variance). torch's num_batches_tracked has no paddle
counterpart: it only counts training steps (for torch's momentum=None cumulative average),
so no output depends on it.

A layer built without scale/shift (torch affine=False, paddle weight_attr=False) computes as
if it held scale 1 and shift 0, so a missing base tensor becomes 1 / 0 in the raw layer; a
learnable base tensor with nowhere to go is refused when the script is made.
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.copy_torch import copy_or_neutral, copy_tensor, fill_tensor
from .special_init_pool import global_special_init_pool as init_pool

# (torch class, paddle class) pairs; paddle's older BatchNorm class works for any rank.
CLASS_PAIRS = (
    ("BatchNorm1d", "BatchNorm1D"),
    ("BatchNorm2d", "BatchNorm2D"),
    ("BatchNorm3d", "BatchNorm3D"),
    ("SyncBatchNorm", "SyncBatchNorm"),
    ("BatchNorm1d", "BatchNorm"),
    ("BatchNorm2d", "BatchNorm"),
    ("BatchNorm3d", "BatchNorm"),
    ("SyncBatchNorm", "BatchNorm"),
    ("SyncBatchNorm", "BatchNorm1D"),
    ("SyncBatchNorm", "BatchNorm2D"),
    ("SyncBatchNorm", "BatchNorm3D"),
    ("BatchNorm1d", "SyncBatchNorm"),
    ("BatchNorm2d", "SyncBatchNorm"),
    ("BatchNorm3d", "SyncBatchNorm"),
)


def init_batchnorm_torch_to_paddle(base_model, raw_model):
    """BatchNorm: weight, bias and running statistics (running_mean/var -> _mean/_variance).

    A tensor torch lacks (affine=False) stands for scale 1 / shift 0. torch's
    num_batches_tracked is not copied: paddle has no counterpart, and it only counts
    training steps (for momentum=None), so no output depends on it.
    """
    copy_or_neutral(raw_model.weight, base_model.weight, 1.0, "weight")
    copy_or_neutral(raw_model.bias, base_model.bias, 0.0, "bias")
    # torch built with track_running_stats=False keeps no statistics and normalises with
    # batch statistics, as paddle does with use_global_stats=False; paddle's unused
    # statistics are reset to mean 0, variance 1.
    copy_or_neutral(raw_model._mean, base_model.running_mean, 0.0, "running mean")
    copy_or_neutral(raw_model._variance, base_model.running_var, 1.0, "running var")


def init_batchnorm_paddle_to_torch(base_model, raw_model):
    """BatchNorm: weight, bias and running statistics (_mean/_variance -> running_mean/var).

    torch's num_batches_tracked is set to 0, as in a freshly built layer: paddle has no
    counterpart, and it only counts training steps (for momentum=None), so no output
    depends on it.
    """
    copy_or_neutral(raw_model.weight, base_model.weight, 1.0, "weight")
    copy_or_neutral(raw_model.bias, base_model.bias, 0.0, "bias")
    # torch built with track_running_stats=False has no statistics: both layers then
    # normalise with batch statistics, and paddle's are unused.
    if raw_model.running_mean is not None:
        copy_tensor(raw_model.running_mean, base_model._mean)
        copy_tensor(raw_model.running_var, base_model._variance)
        fill_tensor(raw_model.num_batches_tracked, 0)


# ---------------------------------------------------------------- emit-time checks


def _sides(base_layer: Any, raw_layer: Any) -> tuple[Any, Any, str]:
    """(torch layer, paddle layer, framework of the base)."""
    if hasattr(raw_layer, "_mean"):
        return base_layer, raw_layer, "torch"
    return raw_layer, base_layer, "paddle"


def _paddle_learns(layer: Any, name: str) -> bool:
    """Whether a paddle norm layer has a learnable `name` (weight or bias).

    Built with weight_attr=False, BatchNorm*D has no tensor, while SyncBatchNorm keeps a fixed
    one (scale 1, shift 0): neither learns it.
    """
    attr = "_bias_attr" if name == "bias" else "_weight_attr"
    if type(layer).__name__ == "BatchNorm" and name == "weight":
        attr = "_param_attr"  # paddle's older class names it differently
    return (
        getattr(layer, name, None) is not None
        and getattr(layer, attr, None) is not False
    )


def affine_problem(torch_layer: Any, paddle_layer: Any, base: str) -> Optional[str]:
    """Why the base's learnable scale or shift cannot go into the raw layer, if it cannot."""
    torch_learns = bool(getattr(torch_layer, "affine", False))
    for name in ("weight", "bias"):
        paddle_learns = _paddle_learns(paddle_layer, name)
        if base == "torch" and torch_learns and not paddle_learns:
            return (
                f"torch learns a {name} (affine=True) but paddle was built without one "
                f"({name}_attr=False); build paddle with a {name}, or torch with "
                "affine=False"
            )
        if base == "paddle" and paddle_learns and not torch_learns:
            return (
                f"paddle learns a {name} but torch was built with affine=False; build "
                f"torch with affine=True, or paddle with weight_attr=False, "
                "bias_attr=False"
            )
    return None


def _paddle_uses_running_stats(layer: Any) -> bool:
    """In eval mode: paddle's older BatchNorm always does; BatchNorm*D unless told not to."""
    if type(layer).__name__ == "BatchNorm":
        return True
    return getattr(layer, "_use_global_stats", None) is not False


def validate_batchnorm(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: can the two layers normalise alike in eval mode?"""
    torch_layer, paddle_layer, base = _sides(base_layer, raw_layer)
    paddle_features = int(paddle_layer._mean.shape[0])
    if torch_layer.num_features != paddle_features:
        return (
            f"they normalise {torch_layer.num_features} and {paddle_features} features"
        )
    # paddle's older BatchNorm(act=...) has no weights for its activation: a torch model
    # applies it as a layer of its own (paddle.vision's DenseNet against torchvision's),
    # so it is no reason to refuse.
    torch_running = torch_layer.running_mean is not None
    if torch_running != _paddle_uses_running_stats(paddle_layer):
        return (
            "torch normalises with running statistics in eval mode but paddle with batch "
            "statistics (use_global_stats=False); build paddle without use_global_stats=False"
            if torch_running
            else "torch has track_running_stats=False (batch statistics in eval mode) but "
            "paddle normalises with running statistics; build paddle with "
            "use_global_stats=False, or torch with track_running_stats=True"
        )
    # A different eps still copies exactly (torchvision's Inception3 uses eps=0.001,
    # paddle.vision's InceptionV3 1e-5): padiff_gen.knowledge.settings compares it, with a note.
    return affine_problem(torch_layer, paddle_layer, base)


for _torch_class, _paddle_class in CLASS_PAIRS:
    init_pool.add(
        "torch",
        _torch_class,
        "paddle",
        _paddle_class,
        init_batchnorm_torch_to_paddle,
        validate=validate_batchnorm,
    )
    init_pool.add(
        "paddle",
        _paddle_class,
        "torch",
        _torch_class,
        init_batchnorm_paddle_to_torch,
        validate=validate_batchnorm,
    )
