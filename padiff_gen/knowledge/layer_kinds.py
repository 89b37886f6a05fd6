"""What a layer is, by the framework classes it derives from, and how its weight is laid out.

A class name is only a hint: a library's ``BatchNormAct2d`` derives from torch's
``BatchNorm2d``, PaddleFormers' ``LMHead`` derives from nothing that says how it uses its
weight. So a layer's *kind* comes from the framework classes it is an instance of (its
subclasses included), and a layer of no known kind is judged by its shapes, or by running
it on a probe input (:mod:`padiff_gen.analysis.evidence.probe`).

Weight layouts of 2-D matrices (a conv's weight counts once flattened to [out, in * k...]):

- ``out_in``: [out_features, in_features], ``y = x @ W.T`` (torch's Linear, any conv)
- ``in_out``: [in_features, out_features], ``y = x @ W`` (paddle's Linear; Hugging Face
  GPT-2's ``Conv1D``, found by probing)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .frameworks import adapter, import_framework

OUT_IN = "out_in"
IN_OUT = "in_out"

LINEAR = "linear"
CONV = "conv"
EMBEDDING = "embedding"
LAYER_NORM = "layer_norm"
CONV_TRANSPOSE = "conv_transpose"


@dataclass(frozen=True)
class KindRow:
    """Instances of ``framework``'s ``nn.<class_name>`` (and subclasses) are ``kind``."""

    framework: str
    class_name: str
    kind: str
    layout: str = ""  # of the weight, for kinds that compute x @ W


# One row per fact. A transposed convolution's weight, [in, out / groups, k...], is laid
# out alike in both frameworks and copied as it is (no layout): its kind says so, so that
# no rule for layers of unknown class (a square stack of matrices) asks about it.
KINDS = (
    KindRow("torch", "Linear", LINEAR, OUT_IN),
    KindRow("paddle", "Linear", LINEAR, IN_OUT),
    KindRow("torch", "Conv1d", CONV, OUT_IN),
    KindRow("torch", "Conv2d", CONV, OUT_IN),
    KindRow("torch", "Conv3d", CONV, OUT_IN),
    KindRow("paddle", "Conv1D", CONV, OUT_IN),
    KindRow("paddle", "Conv2D", CONV, OUT_IN),
    KindRow("paddle", "Conv3D", CONV, OUT_IN),
    KindRow("torch", "ConvTranspose1d", CONV_TRANSPOSE),
    KindRow("torch", "ConvTranspose2d", CONV_TRANSPOSE),
    KindRow("torch", "ConvTranspose3d", CONV_TRANSPOSE),
    KindRow("paddle", "Conv1DTranspose", CONV_TRANSPOSE),
    KindRow("paddle", "Conv2DTranspose", CONV_TRANSPOSE),
    KindRow("paddle", "Conv3DTranspose", CONV_TRANSPOSE),
    KindRow("torch", "Embedding", EMBEDDING),
    KindRow("paddle", "Embedding", EMBEDDING),
    KindRow("torch", "LayerNorm", LAYER_NORM),
    KindRow("paddle", "LayerNorm", LAYER_NORM),
)

# The names a layer's main weight goes by: plain, or split by weight normalisation
# (torch weight_norm / paddle weight_norm: weight_g is the norm, weight_v the direction).
WEIGHT_ROLES = ("weight", "weight_v")


def _framework_class(row: KindRow) -> type:
    return getattr(import_framework(row.framework).nn, row.class_name)


def kind_row(layer: Any, framework: str) -> KindRow | None:
    """The first row of KINDS that ``layer`` is an instance of, or None."""
    for row in KINDS:
        if row.framework == framework and isinstance(layer, _framework_class(row)):
            return row
    return None


def class_names(layer: Any, framework: str) -> tuple[str, ...]:
    """The names of the layer's class and its ancestors, nearest first, up to the
    framework's layer base class (``Module`` / ``Layer``)."""
    base = adapter(framework).layer_class()
    return tuple(
        cls.__name__ for cls in type(layer).__mro__ if cls not in (base, object)
    )


def conv_groups(layer: Any) -> int:
    """A conv layer's groups (torch ``groups``, paddle ``_groups``)."""
    return int(getattr(layer, "groups", getattr(layer, "_groups", 1)) or 1)


@dataclass(frozen=True)
class AffineNorm:
    """Instances of ``framework``'s ``nn.<class_name>`` normalise, then scale by
    ``weight`` and shift by ``bias``, either of which the layer may be built without
    (torch ``elementwise_affine=False`` / ``affine=False`` / ``bias=False``, paddle
    ``weight_attr=False`` / ``bias_attr=False``): it then computes as if it held the
    neutral value everywhere (``NEUTRAL``). Layers of one ``family`` compute alike."""

    framework: str
    class_name: str
    family: str


NEUTRAL = (("weight", 1.0), ("bias", 0.0))

AFFINE_NORMS = (
    AffineNorm("torch", "LayerNorm", LAYER_NORM),
    AffineNorm("paddle", "LayerNorm", LAYER_NORM),
    AffineNorm("torch", "GroupNorm", "group_norm"),
    AffineNorm("paddle", "GroupNorm", "group_norm"),
)


def affine_norm_family(layer: Any, framework: str) -> str:
    """The AFFINE_NORMS family ``layer`` is an instance of, or ""."""
    for row in AFFINE_NORMS:
        if row.framework == framework and isinstance(layer, _framework_class(row)):
            return row.family
    return ""
