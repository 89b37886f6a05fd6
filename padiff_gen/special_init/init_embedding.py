"""Embedding: the weight is [num_embeddings, dim] in both frameworks, never transposed.

The frameworks differ at padding_idx, and only there: torch looks every row up, its
padding_idx only keeps that row's gradient at zero (and zeroes it at initialisation),
while paddle outputs zeros at its padding_idx whatever the row holds. So in eval mode:

- paddle -> torch always computes alike once torch's row at paddle's padding_idx is
  zero, which the copy sets;
- torch -> paddle computes alike when paddle has no padding_idx, or the same one as
  torch (whose row torch keeps at zero, checked when copying); a paddle padding_idx
  that torch does not have would turn a row that torch looks up into zeros: refused.

Where the padding rows differ but outputs do not, training still differs (which row's
gradient is masked): emit notes it.
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.common import WeightMismatchError
from ..runtime.core.copy_torch import as_torch, copy_tensor, fill_tensor
from .special_init_pool import TrainingDifference
from .special_init_pool import global_special_init_pool as init_pool


def paddle_padding_idx(layer):
    """A paddle Embedding's padding_idx as a row index (paddle allows negative ones)."""
    padding_idx = layer._padding_idx
    if padding_idx is not None and padding_idx < 0:
        padding_idx += layer._num_embeddings
    return padding_idx


def init_embedding_torch_to_paddle(base_model, raw_model):
    """Embedding: the table as is, never transposed.

    At its padding_idx paddle outputs zeros whatever the row holds, while torch outputs
    the row: it must be zero (torch keeps its padding row so unless set by hand).
    """
    padding_idx = paddle_padding_idx(raw_model)
    if padding_idx is not None and bool(as_torch(base_model.weight)[padding_idx].any()):
        raise WeightMismatchError(
            f"row {padding_idx} (padding_idx) of torch's embedding weight is not zero, but "
            "paddle's Embedding outputs zeros for padding_idx, so their outputs would "
            "differ; zero that row in torch (it stays zero unless set by hand)"
        )
    copy_tensor(raw_model.weight, base_model.weight)


def init_embedding_paddle_to_torch(base_model, raw_model):
    """Embedding: the table as is, never transposed.

    At its padding_idx paddle outputs zeros whatever the row holds, while torch outputs
    the row: torch's row at paddle's padding_idx is set to zero.
    """
    copy_tensor(raw_model.weight, base_model.weight)
    padding_idx = paddle_padding_idx(base_model)
    if padding_idx is not None:
        fill_tensor(as_torch(raw_model.weight)[padding_idx], 0.0)


def _settings(layer: Any) -> tuple:
    """(rows, dim, padding row or None, max_norm, norm_type) of either framework's layer."""
    if hasattr(layer, "num_embeddings"):  # torch
        return (
            layer.num_embeddings,
            layer.embedding_dim,
            layer.padding_idx,  # torch stores it non-negative
            layer.max_norm,
            float(layer.norm_type),
        )
    return (
        layer._num_embeddings,
        layer._embedding_dim,
        paddle_padding_idx(layer),
        getattr(layer, "_max_norm", None),
        float(getattr(layer, "_norm_type", 2.0)),
    )


def validate_embedding(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: same table size and max_norm; padding rows that compute alike
    in eval mode (see the module docstring)."""
    base, raw = _settings(base_layer), _settings(raw_layer)
    if base[:2] != raw[:2]:
        return (
            f"their tables are {list(base[:2])} and {list(raw[:2])} "
            "([num_embeddings, embedding_dim]); make the sizes agree"
        )
    if base[3:] != raw[3:]:
        return (
            f"max_norm / norm_type are {base[3]} / {base[4]:g} in the base but "
            f"{raw[3]} / {raw[4]:g} in the raw layer; build both alike"
        )
    torch_base = hasattr(base_layer, "num_embeddings")
    torch_padding, paddle_padding = (
        (base[2], raw[2]) if torch_base else (raw[2], base[2])
    )
    if torch_padding == paddle_padding:
        return None
    if torch_base and paddle_padding is not None:
        return (
            f"paddle outputs zeros for index {paddle_padding} (its padding_idx) while "
            f"torch (padding_idx={torch_padding}) looks that row up; give paddle "
            f"padding_idx={torch_padding}, or torch padding_idx={paddle_padding} if "
            "that row is meant to be zero"
        )
    return TrainingDifference(
        f"torch padding_idx={torch_padding}, paddle padding_idx={paddle_padding} "
        "(eval outputs equal; training masks another row's gradient)"
    )


def copies_embedding_as_is(base_layer: Any, raw_layer: Any) -> bool:
    """Without a paddle padding_idx both initializers only copy the table: no row to
    zero (paddle -> torch), none to check (torch -> paddle)."""
    paddle_layer = raw_layer if hasattr(base_layer, "num_embeddings") else base_layer
    return paddle_padding_idx(paddle_layer) is None


init_pool.add(
    "torch",
    "Embedding",
    "paddle",
    "Embedding",
    init_embedding_torch_to_paddle,
    validate=validate_embedding,
    copies_as_is=copies_embedding_as_is,
)
init_pool.add(
    "paddle",
    "Embedding",
    "torch",
    "Embedding",
    init_embedding_paddle_to_torch,
    validate=validate_embedding,
    copies_as_is=copies_embedding_as_is,
)
