"""Embedding: the weight is [num_embeddings, dim] in both frameworks, never transposed.

The frameworks differ only at padding_idx: torch looks the row up like any other (torch keeps
it at zero unless it is set by hand), while paddle outputs zeros whatever the row holds. So
copying into torch zeroes torch's padding row, and copying from torch requires that row to be
zero.
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.common import WeightMismatchError
from ..runtime.copy_torch import as_torch, copy_tensor, fill_tensor
from .special_init_pool import global_special_init_pool as init_pool


def init_embedding_torch_to_paddle(base_model, raw_model):
    """Embedding: the table as is, never transposed.

    At padding_idx paddle outputs zeros whatever the row holds, while torch outputs the
    row: it must be zero (torch keeps it so unless it is set by hand).
    """
    padding_idx = base_model.padding_idx
    if padding_idx is not None and bool(as_torch(base_model.weight)[padding_idx].any()):
        raise WeightMismatchError(
            f"row {padding_idx} (padding_idx) of torch's embedding weight is not zero, but "
            "paddle's Embedding outputs zeros for padding_idx, so their outputs would "
            "differ; zero that row in torch (it stays zero unless set by hand)"
        )
    copy_tensor(raw_model.weight, base_model.weight)


def init_embedding_paddle_to_torch(base_model, raw_model):
    """Embedding: the table as is, never transposed.

    At padding_idx paddle outputs zeros whatever the row holds, while torch outputs the
    row: torch's padding row is set to zero.
    """
    copy_tensor(raw_model.weight, base_model.weight)
    padding_idx = raw_model.padding_idx
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
    rows, padding_idx = layer._num_embeddings, layer._padding_idx
    if padding_idx is not None and padding_idx < 0:
        padding_idx += rows
    return (
        rows,
        layer._embedding_dim,
        padding_idx,
        getattr(layer, "_max_norm", None),
        float(getattr(layer, "_norm_type", 2.0)),
    )


def validate_embedding(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: same table size, same padding row, same max_norm."""
    base, raw = _settings(base_layer), _settings(raw_layer)
    if base[:2] != raw[:2]:
        return (
            f"their tables are {list(base[:2])} and {list(raw[:2])} "
            "([num_embeddings, embedding_dim]); make the sizes agree"
        )
    if base[2] != raw[2]:
        return (
            f"padding_idx is {base[2]} in the base but {raw[2]} in the raw layer, and "
            "paddle outputs zeros at padding_idx while torch looks the row up; give both "
            "the same padding_idx"
        )
    if base[3:] != raw[3:]:
        return (
            f"max_norm / norm_type are {base[3]} / {base[4]:g} in the base but "
            f"{raw[3]} / {raw[4]:g} in the raw layer; build both alike"
        )
    return None


init_pool.add(
    "torch",
    "Embedding",
    "paddle",
    "Embedding",
    init_embedding_torch_to_paddle,
    validate=validate_embedding,
)
init_pool.add(
    "paddle",
    "Embedding",
    "torch",
    "Embedding",
    init_embedding_paddle_to_torch,
    validate=validate_embedding,
)
