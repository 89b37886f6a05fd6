"""Tensors that are not weights: integers a layer computes in its constructor.

Swin's ``relative_position_index`` is computed from the window size when the layer is
built; PaddleClas keeps it in the state dict, timm does not (``persistent=False``). Such
tensors are no weights: they neither pair nor are copied (:func:`padiff_gen.analysis.walk.
is_constant`), so a model that keeps one and a model that does not still pair. Where
both models hold one (the same name on paired layers, or the same path), their values
are compared: a difference means the two models compute something else, and emit says
so, naming both.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...plan.plan import Pairing
from ..walk import constants


def _values(tensor: Any) -> Optional[np.ndarray]:
    """The tensor's values, or None when it was built without them (meta, lazy)."""
    if getattr(tensor, "is_meta", False):
        return None
    if hasattr(tensor, "_is_initialized") and not tensor._is_initialized():
        return None
    if hasattr(tensor, "detach"):
        tensor = tensor.detach()
    if hasattr(tensor, "cpu"):
        tensor = tensor.cpu()
    return np.asarray(tensor.numpy())


def constant_notes(pairing: Pairing, base, raw) -> list[str]:
    """emit's notes on constants both models (proxies) hold with different values; a
    torch model built on the meta device is read from its probe build, whose small
    tensors are real (padiff_gen.analysis.evidence.block_probe.probe_model)."""
    from .block_probe import probe_model

    base_constants, raw_constants = constants(base.model), constants(raw.model)
    if not base_constants or not raw_constants:
        return []
    models = []
    for proxy, found in ((base, base_constants), (raw, raw_constants)):
        lazy = any(_values(tensor) is None for _, tensor in found)
        models.append((probe_model(proxy) if lazy else None) or proxy.model)
    return _differences(pairing, *models)


def _differences(pairing: Pairing, base_model: Any, raw_model: Any) -> list[str]:
    partner = {
        p.base.path: p.raw.path
        for p in pairing.pairs
        if p.base is not None and p.raw is not None and not p.base.members
    }
    raw_constants = dict(constants(raw_model))
    notes = []
    for path, tensor in constants(base_model):
        owner, _, name = path.rpartition(".")
        raw_path = path
        if owner in partner:
            raw_path = f"{partner[owner]}.{name}" if partner[owner] else name
        other = raw_constants.get(raw_path)
        if other is None:
            continue
        base_values, raw_values = _values(tensor), _values(other)
        if base_values is None or raw_values is None:
            continue
        if base_values.shape == raw_values.shape and np.array_equal(
            base_values, raw_values
        ):
            continue
        notes.append(
            f"note: base `{path}` and raw `{raw_path}` are constants the models compute "
            f"when built (not weights, so not copied), and they differ "
            f"({_shown(base_values)} against {_shown(raw_values)}): the models "
            "compute different functions; build both with the same configuration."
        )
    return notes


def _shown(values: np.ndarray) -> str:
    flat = values.reshape(-1)
    head = ", ".join(str(v) for v in flat[:4]) + (", ..." if flat.size > 4 else "")
    return f"{list(values.shape)} [{head}]"
