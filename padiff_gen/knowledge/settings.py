"""Settings that are not weights but change what a layer computes: one table for both
frameworks.

Each row of :data:`SETTINGS` is one fact: for a kind of layer, which torch constructor
argument corresponds to which paddle one and how their values translate (paddle pooling's
``exclusive`` is torch's ``not count_include_pad``; torch RNNs read ``batch_first``, paddle's
``time_major``, with opposite defaults). Kinds (:data:`KINDS`) are found by class hierarchy
(``isinstance``), never by class name, so a library's subclass of ``BatchNorm2d`` is a
BatchNorm. The facts come from the frameworks' documentation; tests/test_settings.py runs
both layers of each to check it, and docs/settings.md lists them.

Two layers of the same framework compare with that framework's reads on both sides (torch
vs torch: different eps). Values are compared in the row's common terms; messages show
each side as its users write it (``exclusive=True``) and the fix as a constructor
argument.
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable, Optional, Sequence

from .frameworks import adapter

MISSING = object()  # an attribute a layer does not have
CANNOT = object()  # a value a framework's constructor cannot express


class Unreadable(Exception):
    """A layer lacks the attribute a row reads (a subclass that dropped it): skip the row."""


# ---------------------------------------------------------------- value operations


def same(value: Any) -> Any:
    return value


def negate(value: Any) -> Any:
    return not value


def as_tuple(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(as_tuple(v) for v in value)
    return value


def spatial(value: Any) -> Any:
    """Sizes per spatial dimension, compared alike however given: ``2``, ``(2, 2)`` and
    ``[2, 2]`` are all 2; strings compare without case."""
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, (list, tuple)):
        items = tuple(spatial(v) for v in value)
        if items and all(item == items[0] for item in items):
            return items[0]
        return items
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def scale_factor(value: Any) -> Any:
    """torch stores 2 as 2.0, paddle as given: compare as floats per dimension."""
    if isinstance(value, (list, tuple)):
        return spatial(tuple(float(v) for v in value))
    return None if value is None else float(value)


def values_equal(a: Any, b: Any) -> bool:
    """Equal values; floats within a relative 1e-6 (paddle stores 0.1666667 for 1/6)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(values_equal(x, y) for x, y in zip(a, b))
    numbers = (int, float)
    if (
        isinstance(a, numbers)
        and isinstance(b, numbers)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-12)
    return a == b


# ---------------------------------------------------------------- reading a setting


@dataclass(frozen=True)
class Read:
    """How one framework states a setting.

    ``keyword``: the constructor argument as users write it (None: the framework has no
    such argument, its behaviour is fixed). ``get(layer)``: the value in the row's common
    terms. ``put(value)``: the keyword value meaning a common value (CANNOT when the
    keyword cannot say it), for the fix. ``attrs``: where the layer keeps the keyword's
    value, shown in messages as the user wrote it. ``fixed``: what a framework without
    the argument does, in words.
    """

    keyword: Optional[str]
    get: Callable[[Any], Any]
    put: Callable[[Any], Any] = same
    attrs: tuple[str, ...] = ()
    fixed: str = ""

    def shown(self, layer: Any) -> str:
        """The setting as the layer's users write it: ``epsilon=1e-05``."""
        if self.keyword is None:
            return self.fixed
        for name in self.attrs:
            value = getattr(layer, name, MISSING)
            if value is not MISSING:
                return f"{self.keyword}={_literal(value)}"
        return f"{self.keyword}={_literal(self.put(self.get(layer)))}"

    def argument(self, value: Any) -> Optional[str]:
        """``keyword=value`` meaning the common ``value``, or None if it cannot."""
        if self.keyword is None:
            return None
        written = self.put(value)
        return None if written is CANNOT else f"{self.keyword}={_literal(written)}"


def _literal(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return repr(value)


def _attribute(layer: Any, attrs: Sequence[str], default: Any) -> Any:
    for name in attrs:
        value = getattr(layer, name, MISSING)
        if value is not MISSING:
            return value
    if default is MISSING:
        raise Unreadable(attrs[0])
    return default


def kw(
    keyword: str,
    *attrs: str,
    convert: Callable[[Any], Any] = same,
    put: Callable[[Any], Any] = same,
    default: Any = MISSING,
) -> Read:
    """A constructor argument kept in an attribute: the keyword's own name unless
    ``attrs`` (tried in order) say otherwise; ``convert`` turns it into common terms."""
    names = attrs or (keyword,)
    return Read(
        keyword,
        lambda layer: convert(_attribute(layer, names, default)),
        put,
        names,
    )


def derived(
    keyword: Optional[str],
    get: Callable[[Any], Any],
    put: Callable[[Any], Any] = same,
    fixed: str = "",
) -> Read:
    """A setting computed from the layer (several attributes, or its class)."""
    return Read(keyword, get, put, (), fixed)


def fixed(value: Any, words: str) -> Read:
    """A framework without the argument: it always behaves as ``value``."""
    return Read(None, lambda layer: value, lambda v: CANNOT, (), words)


# ---------------------------------------------------------------- kinds of layers


@dataclass(frozen=True)
class Kind:
    """A family of layers: classes of either framework (instances of subclasses count).

    ``evidence(layer)``, where given, admits layers of any class that show the attributes
    the rows read (custom RMSNorm classes). ``identity(layer)``: true when the layer
    passes its input through unchanged in eval mode (Dropout), so that one side lacking it
    changes nothing.
    """

    name: str
    torch: tuple[str, ...] = ()
    paddle: tuple[str, ...] = ()
    evidence: Optional[Callable[[Any], bool]] = None
    identity: Callable[[Any], bool] = lambda layer: False


EPS_ATTRIBUTES = ("eps", "epsilon", "variance_epsilon", "_epsilon", "variance_eps")


def _exposes_eps(layer: Any) -> bool:
    for name in EPS_ATTRIBUTES:
        value = getattr(layer, name, MISSING)
        if value is not MISSING:
            return value is None or (
                isinstance(value, (int, float)) and not isinstance(value, bool)
            )
    return False


def _dropout_scale(layer: Any) -> float:
    """What paddle's Dropout multiplies by in eval mode: 1 - p for downscale_in_infer."""
    if getattr(layer, "mode", "upscale_in_train") == "downscale_in_infer":
        return 1.0 - float(layer.p)
    return 1.0


KINDS: tuple[Kind, ...] = (
    # Layers with weights
    Kind("Conv", ("torch.nn.modules.conv._ConvNd",), ("paddle.nn.layer.conv._ConvNd",)),
    Kind(
        "BatchNorm",
        ("torch.nn.modules.batchnorm._BatchNorm",),
        ("paddle.nn.layer.norm._BatchNormBase", "paddle.nn.BatchNorm"),
    ),
    Kind(
        "InstanceNorm",
        ("torch.nn.modules.instancenorm._InstanceNorm",),
        ("paddle.nn.layer.norm._InstanceNormBase",),
    ),
    Kind("LayerNorm", ("torch.nn.LayerNorm",), ("paddle.nn.LayerNorm",)),
    Kind("GroupNorm", ("torch.nn.GroupNorm",), ("paddle.nn.GroupNorm",)),
    Kind("Embedding", ("torch.nn.Embedding",), ("paddle.nn.Embedding",)),
    Kind("RNN", ("torch.nn.modules.rnn.RNNBase",), ("paddle.nn.layer.rnn.RNNBase",)),
    Kind(
        "MultiheadAttention",
        ("torch.nn.MultiheadAttention",),
        ("paddle.nn.MultiHeadAttention",),
    ),
    Kind(
        "TransformerEncoderLayer",
        ("torch.nn.TransformerEncoderLayer",),
        ("paddle.nn.TransformerEncoderLayer",),
    ),
    Kind(
        "TransformerDecoderLayer",
        ("torch.nn.TransformerDecoderLayer",),
        ("paddle.nn.TransformerDecoderLayer",),
    ),
    # Pooling
    Kind(
        "MaxPool",
        ("torch.nn.modules.pooling._MaxPoolNd",),
        ("paddle.nn.MaxPool1D", "paddle.nn.MaxPool2D", "paddle.nn.MaxPool3D"),
    ),
    Kind(
        "AvgPool",
        ("torch.nn.modules.pooling._AvgPoolNd",),
        ("paddle.nn.AvgPool1D", "paddle.nn.AvgPool2D", "paddle.nn.AvgPool3D"),
    ),
    Kind(
        "LPPool",
        ("torch.nn.modules.pooling._LPPoolNd",),
        ("paddle.nn.LPPool1D", "paddle.nn.LPPool2D"),
    ),
    Kind(
        "AdaptiveAvgPool",
        ("torch.nn.modules.pooling._AdaptiveAvgPoolNd",),
        (
            "paddle.nn.AdaptiveAvgPool1D",
            "paddle.nn.AdaptiveAvgPool2D",
            "paddle.nn.AdaptiveAvgPool3D",
        ),
    ),
    Kind(
        "AdaptiveMaxPool",
        ("torch.nn.modules.pooling._AdaptiveMaxPoolNd",),
        (
            "paddle.nn.AdaptiveMaxPool1D",
            "paddle.nn.AdaptiveMaxPool2D",
            "paddle.nn.AdaptiveMaxPool3D",
        ),
    ),
    # Identity in eval mode (paddle's Dropout unless mode="downscale_in_infer")
    Kind(
        "Dropout",
        ("torch.nn.modules.dropout._DropoutNd",),
        (
            "paddle.nn.Dropout",
            "paddle.nn.Dropout2D",
            "paddle.nn.Dropout3D",
            "paddle.nn.AlphaDropout",
            "paddle.nn.FeatureAlphaDropout",
        ),
        identity=lambda layer: _dropout_scale(layer) == 1.0,
    ),
    Kind(
        "Identity",
        ("torch.nn.Identity",),
        ("paddle.nn.Identity",),
        identity=lambda layer: True,
    ),
    # Activations (torch's ReLU6 is a Hardtanh; paddle's ReLU6 is its own class)
    Kind("Hardtanh", ("torch.nn.Hardtanh",), ("paddle.nn.Hardtanh", "paddle.nn.ReLU6")),
    Kind("ReLU", ("torch.nn.ReLU",), ("paddle.nn.ReLU",)),
    Kind("GELU", ("torch.nn.GELU",), ("paddle.nn.GELU",)),
    Kind("SiLU", ("torch.nn.SiLU",), ("paddle.nn.Silu", "paddle.nn.Swish")),
    Kind("LeakyReLU", ("torch.nn.LeakyReLU",), ("paddle.nn.LeakyReLU",)),
    Kind("ELU", ("torch.nn.ELU",), ("paddle.nn.ELU",)),
    Kind("CELU", ("torch.nn.CELU",), ("paddle.nn.CELU",)),
    Kind("SELU", ("torch.nn.SELU",), ("paddle.nn.SELU",)),
    Kind("RReLU", ("torch.nn.RReLU",), ("paddle.nn.RReLU",)),
    Kind("Softplus", ("torch.nn.Softplus",), ("paddle.nn.Softplus",)),
    Kind("Softshrink", ("torch.nn.Softshrink",), ("paddle.nn.Softshrink",)),
    Kind("Hardshrink", ("torch.nn.Hardshrink",), ("paddle.nn.Hardshrink",)),
    Kind("Threshold", ("torch.nn.Threshold",), ("paddle.nn.ThresholdedReLU",)),
    Kind("Sigmoid", ("torch.nn.Sigmoid",), ("paddle.nn.Sigmoid",)),
    Kind("Tanh", ("torch.nn.Tanh",), ("paddle.nn.Tanh",)),
    Kind("Mish", ("torch.nn.Mish",), ("paddle.nn.Mish",)),
    Kind("Hardswish", ("torch.nn.Hardswish",), ("paddle.nn.Hardswish",)),
    Kind("Hardsigmoid", ("torch.nn.Hardsigmoid",), ("paddle.nn.Hardsigmoid",)),
    Kind("Softsign", ("torch.nn.Softsign",), ("paddle.nn.Softsign",)),
    Kind("Tanhshrink", ("torch.nn.Tanhshrink",), ("paddle.nn.Tanhshrink",)),
    Kind("LogSigmoid", ("torch.nn.LogSigmoid",), ("paddle.nn.LogSigmoid",)),
    Kind("Softmax", ("torch.nn.Softmax",), ("paddle.nn.Softmax",)),
    Kind("LogSoftmax", ("torch.nn.LogSoftmax",), ("paddle.nn.LogSoftmax",)),
    Kind("Softmax2d", ("torch.nn.Softmax2d",), ("paddle.nn.Softmax2D",)),
    Kind("GLU", ("torch.nn.GLU",), ("paddle.nn.GLU",)),
    # Shapes and resampling
    Kind("Flatten", ("torch.nn.Flatten",), ("paddle.nn.Flatten",)),
    Kind("Unflatten", ("torch.nn.Unflatten",), ("paddle.nn.Unflatten",)),
    Kind(
        "Upsample",
        ("torch.nn.Upsample",),
        ("paddle.nn.Upsample",)
        + (
            "paddle.nn.UpsamplingBilinear2D",
            "paddle.nn.UpsamplingNearest2D",
        ),
    ),
    Kind("PixelShuffle", ("torch.nn.PixelShuffle",), ("paddle.nn.PixelShuffle",)),
    Kind("PixelUnshuffle", ("torch.nn.PixelUnshuffle",), ("paddle.nn.PixelUnshuffle",)),
    Kind("ChannelShuffle", ("torch.nn.ChannelShuffle",), ("paddle.nn.ChannelShuffle",)),
    Kind(
        "Pad",
        (
            "torch.nn.modules.padding._ConstantPadNd",
            "torch.nn.modules.padding._ReflectionPadNd",
            "torch.nn.modules.padding._ReplicationPadNd",
            "torch.nn.modules.padding._CircularPadNd",
        ),
        ("paddle.nn.layer.common._PadnD",),
    ),
    Kind(
        "LocalResponseNorm",
        ("torch.nn.LocalResponseNorm",),
        ("paddle.nn.LocalResponseNorm",),
    ),
    # Any other layer that exposes an eps (RMSNorm in torch, and the RMSNorm classes of
    # transformers and PaddleFormers, which keep it as variance_epsilon or epsilon).
    Kind("Norm with eps", ("torch.nn.RMSNorm",), evidence=_exposes_eps),
)


# ---------------------------------------------------------------- reads used by rows


def _eps(layer: Any) -> Any:
    value = _attribute(layer, EPS_ATTRIBUTES, MISSING)
    if value is None:  # torch RMSNorm: the machine epsilon of the computing dtype
        import torch

        weight = getattr(layer, "weight", None)
        dtype = weight.dtype if weight is not None else torch.float32
        return float(torch.finfo(dtype).eps)
    return float(value)


def _eps_keyword(framework: str) -> Read:
    return Read(adapter(framework).eps_keyword, _eps, same, EPS_ATTRIBUTES)


def _channels_last(layer: Any) -> bool:
    """paddle's data_format: NHWC-style formats put channels last."""
    fmt = _attribute(layer, ("_data_format", "data_format", "_data_layout"), None)
    return fmt is not None and len(fmt) > 2 and fmt.endswith("C")


CHANNELS_FIRST = fixed(False, "no data_format (channels first)")
PADDLE_LAYOUT = Read(
    "data_format",
    _channels_last,
    lambda last: CANNOT if last else "NCHW-style (channels first)",
    ("_data_format", "data_format", "_data_layout"),
)


def _same_padding(kernel: Any, stride: Any, dilation: Any) -> Any:
    """'same' as explicit padding where that is symmetric (stride 1, odd reach)."""
    kernel, stride, dilation = (
        tuple(v) if isinstance(v, (list, tuple)) else (v,)
        for v in (kernel, stride, dilation)
    )
    size = max(len(kernel), len(stride), len(dilation))
    kernel, stride, dilation = (
        v * size if len(v) == 1 else v for v in (kernel, stride, dilation)
    )
    reach = [d * (k - 1) for k, d in zip(kernel, dilation)]
    if all(s == 1 for s in stride) and all(r % 2 == 0 for r in reach):
        return spatial([r // 2 for r in reach])
    return "same"


def _torch_conv_padding(layer: Any) -> Any:
    padding = layer.padding
    if padding == "valid":
        return 0
    if padding == "same":
        return _same_padding(layer.kernel_size, layer.stride, layer.dilation)
    return spatial(padding)


def _paddle_conv_padding(layer: Any) -> Any:
    algorithm = getattr(layer, "_padding_algorithm", "EXPLICIT")
    if algorithm == "VALID":
        return 0
    if algorithm == "SAME":
        return _same_padding(layer._kernel_size, layer._stride, layer._dilation)
    padding = _attribute(layer, ("_updated_padding", "_padding"), MISSING)
    if isinstance(padding, str):
        return spatial(padding)
    if isinstance(padding, (list, tuple)):
        padding = list(padding)
        dims = len(layer._kernel_size)
        if len(padding) == 2 * dims and all(
            padding[2 * i] == padding[2 * i + 1] for i in range(dims)
        ):
            padding = padding[::2]  # [before, after] per dimension, symmetric
    return spatial(padding)


def _paddle_pool_stride(layer: Any) -> Any:
    stride = getattr(layer, "stride", None)
    if stride is None:
        stride = _attribute(layer, ("ksize", "kernel_size"), MISSING)
    return spatial(stride)


def _torch_pool_stride(layer: Any) -> Any:
    return spatial(layer.stride if layer.stride is not None else layer.kernel_size)


def _torch_pad_mode(layer: Any) -> str:
    import torch.nn.modules.padding as padding

    for mode, base in (
        ("reflect", padding._ReflectionPadNd),
        ("replicate", padding._ReplicationPadNd),
        ("circular", padding._CircularPadNd),
    ):
        if isinstance(layer, base):
            return mode
    return "constant"


def _paddle_upsample_mode(layer: Any) -> str:
    import paddle

    if isinstance(layer, paddle.nn.UpsamplingBilinear2D):
        return "bilinear"
    if isinstance(layer, paddle.nn.UpsamplingNearest2D):
        return "nearest"
    return str(layer.mode).lower()


def _paddle_align_corners(layer: Any) -> bool:
    import paddle

    if isinstance(layer, paddle.nn.UpsamplingBilinear2D):
        return True
    return bool(getattr(layer, "align_corners", False))


def _paddle_align_mode(layer: Any) -> int:
    """paddle's align_mode=1 samples at scale * i (torch never does); it matters only for
    linear modes without align_corners."""
    mode = _paddle_upsample_mode(layer)
    if "nearest" in mode or _paddle_align_corners(layer):
        return 0
    return int(getattr(layer, "align_mode", 0))


def _activation(layer: Any) -> str:
    """A transformer layer's activation function (or module) by name: ``gelu``.

    paddle's functions may be wrapped (``_gelu``); torch's may be a module (``GELU()``).
    """
    activation = layer.activation
    name = getattr(activation, "__name__", None) or type(activation).__name__
    return name.strip("_").lower()


def _paddle_zero_rows(layer: Any) -> tuple[int, ...]:
    """paddle's Embedding outputs zeros at padding_idx whatever the row holds."""
    padding_idx = layer._padding_idx
    if padding_idx is None:
        return ()
    return (padding_idx + layer._num_embeddings if padding_idx < 0 else padding_idx,)


def _gelu_tanh(value: Any) -> bool:
    return value == "tanh" if isinstance(value, str) else bool(value)


# ---------------------------------------------------------------- the table


@dataclass(frozen=True)
class Setting:
    """One fact: a setting of a kind of layer, as each framework states it.

    ``name`` says what is compared, in words. ``copied_as_is`` rows matter only for pairs
    the table copies tensor by tensor: a special initializer reconciles them itself
    (Embedding's padding row). ``meaning(value)`` puts a common value in words, for rows
    whose keywords translate (``exclusive``, ``mode``).
    """

    kind: str
    name: str
    torch: Read
    paddle: Read
    copied_as_is: bool = False
    meaning: Optional[Callable[[Any], str]] = None
    # Whether the setting can matter for a layer (both sides are asked; None: always).
    matters: Optional[Callable[[Any], bool]] = None

    def read(self, framework: str) -> Read:
        """The column of this framework ("torch" or "paddle")."""
        return getattr(self, framework)


SETTINGS: tuple[Setting, ...] = (
    # Norms: eps everywhere; how the channels are grouped or laid out.
    Setting("BatchNorm", "eps", _eps_keyword("torch"), _eps_keyword("paddle")),
    Setting("BatchNorm", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting("InstanceNorm", "eps", _eps_keyword("torch"), _eps_keyword("paddle")),
    Setting("InstanceNorm", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting("LayerNorm", "eps", _eps_keyword("torch"), _eps_keyword("paddle")),
    Setting(
        "LayerNorm",
        "normalized shape",
        kw("normalized_shape", convert=as_tuple),
        kw("normalized_shape", "_normalized_shape", convert=as_tuple),
    ),
    Setting("GroupNorm", "eps", _eps_keyword("torch"), _eps_keyword("paddle")),
    Setting(
        "GroupNorm",
        "number of groups",
        kw("num_groups"),
        kw("num_groups", "_num_groups"),
    ),
    Setting("GroupNorm", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting("Norm with eps", "eps", _eps_keyword("torch"), _eps_keyword("paddle")),
    Setting("LocalResponseNorm", "size", kw("size"), kw("size")),
    Setting("LocalResponseNorm", "alpha", kw("alpha"), kw("alpha")),
    Setting("LocalResponseNorm", "beta", kw("beta"), kw("beta")),
    Setting("LocalResponseNorm", "k", kw("k"), kw("k")),
    # Convolutions (ConvTranspose included).
    Setting(
        "Conv",
        "stride",
        kw("stride", convert=spatial),
        kw("stride", "_stride", convert=spatial),
    ),
    Setting(
        "Conv",
        "padding",
        Read("padding", _torch_conv_padding, same, ("padding",)),
        Read("padding", _paddle_conv_padding, same, ("_padding",)),
    ),
    Setting(
        "Conv",
        "dilation",
        kw("dilation", convert=spatial),
        kw("dilation", "_dilation", convert=spatial),
    ),
    Setting("Conv", "groups", kw("groups"), kw("groups", "_groups")),
    Setting(
        "Conv",
        "padding mode",
        kw("padding_mode", convert=str.lower),
        kw("padding_mode", "_padding_mode", convert=str.lower),
    ),
    Setting(
        "Conv",
        "output padding",
        kw("output_padding", convert=spatial),
        kw(
            "output_padding",
            "output_padding",
            "_output_padding",
            convert=spatial,
            default=0,
        ),
    ),
    Setting("Conv", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    # Pooling. paddle's exclusive=True (its default) leaves padding out of averages;
    # torch's count_include_pad=True (its default) counts it: the defaults differ.
    Setting(
        "MaxPool",
        "kernel size",
        kw("kernel_size", convert=spatial),
        kw("kernel_size", "ksize", "kernel_size", convert=spatial),
    ),
    Setting(
        "MaxPool",
        "stride",
        Read("stride", _torch_pool_stride, same, ("stride",)),
        Read("stride", _paddle_pool_stride, same, ("stride",)),
    ),
    Setting(
        "MaxPool",
        "padding",
        kw("padding", convert=spatial),
        kw("padding", convert=spatial),
    ),
    Setting(
        "MaxPool", "dilation", kw("dilation", convert=spatial), fixed(1, "no dilation")
    ),
    Setting("MaxPool", "ceil mode", kw("ceil_mode"), kw("ceil_mode")),
    Setting("MaxPool", "indices returned", kw("return_indices"), kw("return_mask")),
    Setting("MaxPool", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting(
        "AvgPool",
        "kernel size",
        kw("kernel_size", convert=spatial),
        kw("kernel_size", "ksize", "kernel_size", convert=spatial),
    ),
    Setting(
        "AvgPool",
        "stride",
        Read("stride", _torch_pool_stride, same, ("stride",)),
        Read("stride", _paddle_pool_stride, same, ("stride",)),
    ),
    Setting(
        "AvgPool",
        "padding",
        kw("padding", convert=spatial),
        kw("padding", convert=spatial),
    ),
    Setting("AvgPool", "ceil mode", kw("ceil_mode"), kw("ceil_mode")),
    Setting(
        "AvgPool",
        "padding counted in the average",
        kw("count_include_pad"),
        kw("exclusive", convert=negate, put=negate),
        meaning=lambda counted: "counts padding" if counted else "leaves padding out",
        matters=lambda layer: spatial(layer.padding) != 0,
    ),
    Setting(
        "AvgPool",
        "divisor",
        kw("divisor_override", default=None),
        kw("divisor", default=None),
    ),
    Setting("AvgPool", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting(
        "LPPool",
        "norm type",
        kw("norm_type", convert=float),
        kw("norm_type", convert=float),
    ),
    Setting(
        "LPPool",
        "kernel size",
        kw("kernel_size", convert=spatial),
        kw("kernel_size", "ksize", "kernel_size", convert=spatial),
    ),
    Setting(
        "LPPool",
        "stride",
        Read("stride", _torch_pool_stride, same, ("stride",)),
        Read("stride", _paddle_pool_stride, same, ("stride",)),
    ),
    Setting("LPPool", "ceil mode", kw("ceil_mode"), kw("ceil_mode")),
    Setting(
        "AdaptiveAvgPool",
        "output size",
        kw("output_size", convert=spatial),
        kw("output_size", "_output_size", "output_size", convert=spatial),
    ),
    Setting("AdaptiveAvgPool", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting(
        "AdaptiveMaxPool",
        "output size",
        kw("output_size", convert=spatial),
        kw("output_size", "_output_size", "output_size", convert=spatial),
    ),
    Setting(
        "AdaptiveMaxPool",
        "indices returned",
        kw("return_indices"),
        kw("return_mask", "return_mask", "_return_mask"),
    ),
    # Dropout: torch's is the identity in eval mode; paddle's too, except with
    # mode="downscale_in_infer", which scales by 1 - p in eval instead of 1 / (1 - p) in
    # training.
    Setting(
        "Dropout",
        "output scale in eval mode",
        fixed(1.0, "no mode"),
        Read(
            "mode",
            _dropout_scale,
            lambda scale: "upscale_in_train" if scale == 1.0 else CANNOT,
            ("mode",),
        ),
        meaning=lambda scale: f"scales by {scale:g} in eval mode",
    ),
    # Recurrent layers: torch reads [time, batch, features] unless batch_first=True;
    # paddle reads [batch, time, features] unless time_major=True. The defaults differ.
    Setting(
        "RNN",
        "time-major input",
        kw("batch_first", convert=negate, put=negate),
        kw("time_major"),
        meaning=lambda time_major: (
            "reads [time, batch, features]"
            if time_major
            else "reads [batch, time, features]"
        ),
    ),
    Setting(
        "RNN",
        "bidirectional",
        kw("bidirectional"),
        derived(
            "direction",
            lambda layer: layer.num_directions == 2,
            lambda both: "bidirect" if both else "forward",
        ),
    ),
    # Attention and transformer layers: paddle's are always batch-first.
    Setting(
        "MultiheadAttention",
        "batch-first input",
        kw("batch_first"),
        fixed(True, "no batch_first"),
        meaning=lambda first: (
            "reads [batch, sequence, features]"
            if first
            else "reads [sequence, batch, features]"
        ),
    ),
    Setting(
        "TransformerEncoderLayer",
        "norm before attention",
        kw("norm_first"),
        kw("normalize_before"),
    ),
    Setting(
        "TransformerEncoderLayer",
        "activation",
        derived("activation", _activation),
        derived("activation", _activation),
    ),
    Setting(
        "TransformerDecoderLayer",
        "norm before attention",
        kw("norm_first"),
        kw("normalize_before"),
    ),
    Setting(
        "TransformerDecoderLayer",
        "activation",
        derived("activation", _activation),
        derived("activation", _activation),
    ),
    # Embedding: torch looks every row up, padding_idx only zeroes the row at init and
    # masks its gradient; paddle outputs zeros at padding_idx whatever the row holds.
    # The Embedding initializers reconcile this when copying across frameworks.
    Setting(
        "Embedding",
        "rows output as zeros",
        Read("padding_idx", lambda layer: (), lambda rows: CANNOT, ("padding_idx",)),
        Read(
            "padding_idx",
            _paddle_zero_rows,
            lambda rows: rows[0] if rows else None,
            ("_padding_idx",),
        ),
        copied_as_is=True,
        meaning=lambda rows: (
            f"outputs zeros at row {rows[0]}" if rows else "looks every row up"
        ),
    ),
    # Activations.
    Setting(
        "GELU",
        "tanh approximation",
        kw(
            "approximate",
            convert=_gelu_tanh,
            put=lambda tanh: "tanh" if tanh else "none",
        ),
        kw("approximate", "_approximate", convert=bool),
    ),
    Setting(
        "LeakyReLU",
        "negative slope",
        kw("negative_slope"),
        kw("negative_slope", "_negative_slope"),
    ),
    Setting("ELU", "alpha", kw("alpha"), kw("alpha", "_alpha")),
    Setting("CELU", "alpha", kw("alpha"), kw("alpha", "_alpha")),
    Setting(
        "SELU",
        "scale",
        fixed(1.0507009873554805, "scale=1.0507 (fixed)"),
        kw("scale", "_scale"),
    ),
    Setting(
        "SELU",
        "alpha",
        fixed(1.6732632423543772, "alpha=1.67326 (fixed)"),
        kw("alpha", "_alpha"),
    ),
    Setting("RReLU", "lower", kw("lower"), kw("lower", "_lower")),
    Setting("RReLU", "upper", kw("upper"), kw("upper", "_upper")),
    Setting("Softplus", "beta", kw("beta"), kw("beta", "_beta")),
    Setting("Softplus", "threshold", kw("threshold"), kw("threshold", "_threshold")),
    Setting("Hardtanh", "lower bound", kw("min_val"), kw("min", "_min", default=0.0)),
    Setting("Hardtanh", "upper bound", kw("max_val"), kw("max", "_max", default=6.0)),
    Setting("Softshrink", "threshold", kw("lambd"), kw("threshold", "_threshold")),
    Setting("Hardshrink", "threshold", kw("lambd"), kw("threshold", "_threshold")),
    Setting("Threshold", "threshold", kw("threshold"), kw("threshold", "_threshold")),
    Setting("Threshold", "value below it", kw("value"), kw("value", "_value")),
    # torch's dim=None picks an axis from the input's rank (0 for 0-, 1- and 3-D inputs,
    # else 1), paddle's default is -1.
    Setting("Softmax", "axis", kw("dim"), kw("axis", "_axis")),
    Setting("LogSoftmax", "axis", kw("dim"), kw("axis", "_axis")),
    Setting("GLU", "axis", kw("dim"), kw("axis", "_axis")),
    # Shapes and resampling.
    Setting("Flatten", "first axis", kw("start_dim"), kw("start_axis")),
    Setting("Flatten", "last axis", kw("end_dim"), kw("stop_axis")),
    Setting("Unflatten", "axis", kw("dim"), kw("axis")),
    Setting(
        "Unflatten",
        "shape",
        kw("unflattened_size", convert=as_tuple),
        kw("shape", convert=as_tuple),
    ),
    Setting(
        "Upsample",
        "mode",
        kw("mode", convert=str.lower),
        Read("mode", _paddle_upsample_mode, same, ("mode",)),
    ),
    Setting(
        "Upsample",
        "align_corners",
        kw("align_corners", convert=bool),
        Read("align_corners", _paddle_align_corners, same, ("align_corners",)),
    ),
    Setting(
        "Upsample",
        "sampling grid",
        fixed(0, "no align_mode (half-pixel sampling)"),
        Read("align_mode", _paddle_align_mode, same, ("align_mode",)),
    ),
    Setting(
        "Upsample", "size", kw("size", convert=spatial), kw("size", convert=spatial)
    ),
    Setting(
        "Upsample",
        "scale factor",
        kw("scale_factor", convert=scale_factor),
        kw("scale_factor", convert=scale_factor),
    ),
    Setting(
        "PixelShuffle",
        "upscale factor",
        kw("upscale_factor"),
        kw("upscale_factor", "_upscale_factor"),
    ),
    Setting("PixelShuffle", "channel layout", CHANNELS_FIRST, PADDLE_LAYOUT),
    Setting(
        "PixelUnshuffle",
        "downscale factor",
        kw("downscale_factor"),
        kw("downscale_factor", "_downscale_factor"),
    ),
    Setting("ChannelShuffle", "groups", kw("groups"), kw("groups", "_groups")),
    Setting(
        "Pad",
        "mode",
        derived("mode", _torch_pad_mode),
        kw("mode", "_mode"),
    ),
    Setting(
        "Pad", "padding", kw("padding", convert=spatial), kw("padding", convert=spatial)
    ),
    Setting("Pad", "value", kw("value", default=0.0), kw("value", default=0.0)),
)


# ---------------------------------------------------------------- lookups


@lru_cache(maxsize=None)
def _resolve(dotted: str) -> Optional[type]:
    """The class at a dotted path, or None where this version lacks it."""
    module_name, _, name = dotted.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name, None)
    except ImportError:
        return None


def _classes(kind: Kind, framework: str) -> tuple[type, ...]:
    paths = getattr(kind, framework)  # the column of this framework
    return tuple(c for c in (_resolve(p) for p in paths) if isinstance(c, type))


def kind_of(layer: Any, framework: str, evidence: bool = True) -> Optional[Kind]:
    """The first kind whose classes the layer is an instance of, then (with ``evidence``:
    for layers with weights) the first whose evidence it shows; None for other layers
    (containers, custom code)."""
    if framework not in sys.modules:
        return None
    for kind in KINDS:
        classes = _classes(kind, framework)
        if classes and isinstance(layer, classes):
            return kind
    if not evidence:
        return None
    for kind in KINDS:
        if kind.evidence is not None and kind.evidence(layer):
            return kind
    return None


def rows_for(kind: Kind) -> tuple[Setting, ...]:
    return tuple(row for row in SETTINGS if row.kind == kind.name)


@dataclass(frozen=True)
class Mismatch:
    """One row of the table on which two layers disagree."""

    setting: Setting
    base_shown: str
    raw_shown: str
    fix: str
    base_meaning: str = ""
    raw_meaning: str = ""


# paddle's older BatchNorm(act=...) applies an activation after normalising, which torch
# models write as a layer of their own (paddle.vision's DenseNet against torchvision's).
FUSED_ACTIVATIONS = {
    "relu": "ReLU",
    "relu6": "Hardtanh",
    "sigmoid": "Sigmoid",
    "tanh": "Tanh",
    "gelu": "GELU",
    "silu": "SiLU",
    "swish": "SiLU",
    "leaky_relu": "LeakyReLU",
    "elu": "ELU",
    "hard_swish": "Hardswish",
    "hard_sigmoid": "Hardsigmoid",
}
FUSING_CLASSES = {"paddle": (("paddle.nn.BatchNorm", "_act"),)}


def fused_activation(layer: Any, framework: str) -> Optional[tuple[str, Kind]]:
    """(the layer's argument, as written, and the kind) of an activation fused into a
    layer, or None."""
    for dotted, attribute in FUSING_CLASSES.get(framework, ()):
        cls = _resolve(dotted)
        act = getattr(layer, attribute, None)
        if cls is not None and isinstance(layer, cls) and act:
            name = FUSED_ACTIVATIONS.get(str(act).lower())
            kind = next((k for k in KINDS if k.name == name), None)
            return f"act={act!r}", kind or Kind(str(act))
    return None


def compare_layers(
    base: Any,
    raw: Any,
    frameworks: tuple[str, str],
    kind: Kind,
    copied_as_is: bool,
) -> list[Mismatch]:
    """The rows of ``kind`` on which two layers (one kind, either framework) disagree."""
    found = []
    for row in rows_for(kind):
        if row.copied_as_is and not copied_as_is:
            continue
        base_read, raw_read = row.read(frameworks[0]), row.read(frameworks[1])
        try:
            if row.matters is not None and not (row.matters(base) or row.matters(raw)):
                continue
            base_value, raw_value = base_read.get(base), raw_read.get(raw)
        except Exception:  # noqa: BLE001 - a class that keeps it elsewhere, or its own
            continue  # property raising: no evidence either way, never a crash of emit
        if values_equal(base_value, raw_value):
            continue
        found.append(
            Mismatch(
                row,
                base_read.shown(base),
                raw_read.shown(raw),
                fix_text(raw_read.argument(base_value), base_read.argument(raw_value)),
                row.meaning(base_value) if row.meaning else "",
                row.meaning(raw_value) if row.meaning else "",
            )
        )
    return found


def fix_text(raw_fix: Optional[str], base_fix: Optional[str]) -> str:
    if raw_fix and base_fix:
        return f"build the raw layer with {raw_fix} (or the base layer with {base_fix})"
    if raw_fix:
        return f"build the raw layer with {raw_fix}"
    if base_fix:
        return f"build the base layer with {base_fix}"
    return "build both layers alike"


def describe(layer: Any, framework: str, kind: Optional[Kind]) -> str:
    """The layer's settings from the table, as its users write them: ``p=0.5, mode=...``."""
    if kind is None:
        return ""
    shown, fixed_texts = [], []
    for row in rows_for(kind):
        read = row.read(framework)
        try:
            read.get(layer)
            text = read.shown(layer)
        except Exception:  # noqa: BLE001 - as in compare_layers
            continue
        target = shown if read.keyword is not None else fixed_texts
        if text not in target:
            target.append(text)
    return ", ".join(shown or fixed_texts[:1])
