"""BatchNorm 1D/2D/3D and SyncBatchNorm, with running statistics.

torch keeps the running statistics as buffers (running_mean, running_var), paddle as
non-trainable parameters (_mean, _variance). torch's num_batches_tracked has no paddle
counterpart: it only drives torch's cumulative average when momentum=None.
"""

from ..runtime.copy_torch import copy_tensor, fill_tensor
from .special_init_pool import global_special_init_pool as init_pool

TORCH_BATCHNORM_TENSORS = ("weight", "bias", "running_mean", "running_var")
PADDLE_BATCHNORM_TENSORS = ("weight", "bias", "_mean", "_variance")
# What a missing tensor stands for: scale 1, shift 0, mean 0, variance 1.
BATCHNORM_NEUTRAL_VALUES = (1.0, 0.0, 0.0, 1.0)

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


def copy_batchnorm(base_model, raw_model, base_names, raw_names):
    names = zip(base_names, raw_names, BATCHNORM_NEUTRAL_VALUES)
    for base_name, raw_name, neutral in names:
        source = getattr(base_model, base_name, None)
        target = getattr(raw_model, raw_name, None)
        if target is None:
            # torch with affine=False or track_running_stats=False: nothing to write
            continue
        if source is None:
            # paddle's fixed scale and shift facing torch's affine=False
            fill_tensor(target, neutral)
        else:
            copy_tensor(target, source)


def init_batchnorm_torch_to_paddle(base_model, raw_model):
    # num_batches_tracked is not copied: paddle has no counterpart (its momentum is fixed).
    copy_batchnorm(
        base_model, raw_model, TORCH_BATCHNORM_TENSORS, PADDLE_BATCHNORM_TENSORS
    )


def init_batchnorm_paddle_to_torch(base_model, raw_model):
    # num_batches_tracked keeps its value: paddle has no counterpart.
    copy_batchnorm(
        base_model, raw_model, PADDLE_BATCHNORM_TENSORS, TORCH_BATCHNORM_TENSORS
    )


def _learns(layer, name):
    tensor = getattr(layer, name, None)
    return tensor is not None and not getattr(tensor, "stop_gradient", False)


def validate_batchnorm(base_layer, raw_layer):
    """Emit-time check: can the two layers hold the same normalisation?"""
    torch_layer, paddle_layer = (
        (base_layer, raw_layer)
        if hasattr(raw_layer, "_mean")
        else (raw_layer, base_layer)
    )
    paddle_features = int(paddle_layer._mean.shape[0])
    if torch_layer.num_features != paddle_features:
        return (
            f"they normalise {torch_layer.num_features} and {paddle_features} features"
        )
    if torch_layer.weight is None and (
        _learns(paddle_layer, "weight") or _learns(paddle_layer, "bias")
    ):
        return (
            "torch has affine=False but paddle learns scale and shift; build the paddle layer "
            "with weight_attr=False, bias_attr=False (or torch with affine=True)"
        )
    return None


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
