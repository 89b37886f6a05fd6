"""Evidence from running a layer: which way round a layer of unknown class holds its matrix.

torch's Linear keeps its weight as [out, in] and paddle's as [in, out]; a class of some
library (Hugging Face GPT-2's ``Conv1D``, a custom projection) may do either. When shapes
cannot tell (a square weight), the layer itself can: run a private copy of it on a probe
input ``x`` and see whether it computed ``x @ W + b`` (``in_out``) or ``x @ W.T + b``
(``out_in``), for whatever bias ``b``. The model is never touched: the copy gets its own
random weights (a layer built without weights, on torch's meta device or under paddle's
LazyGuard, is given storage first).
"""

from __future__ import annotations

import copy
from typing import Any, Optional

import numpy as np

from ...knowledge.layer_kinds import IN_OUT, OUT_IN

PROBE_ROWS = 3
# fp32 matmuls of size <= a few thousand agree with numpy's float64 to ~1e-5 relative;
# a wrong orientation is off by O(1).
PROBE_TOLERANCE = 1e-3


def _materialized_copy(layer: Any, framework: str) -> Any:
    twin = copy.deepcopy(layer)
    if framework == "torch":
        import torch

        if any(t.is_meta for t in list(twin.parameters()) + list(twin.buffers())):
            twin = twin.to_empty(device="cpu")
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for tensor in twin.parameters():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
        return twin.eval()
    import paddle

    rng = np.random.default_rng(0)
    for tensor in twin.parameters():
        if not tensor._is_initialized():
            tensor.initialize()
        value = rng.standard_normal(tuple(tensor.shape)).astype("float32")
        tensor.set_value(paddle.to_tensor(value).astype(tensor.dtype))
    twin.eval()
    return twin


def _run(layer: Any, framework: str, x: np.ndarray) -> Optional[np.ndarray]:
    if framework == "torch":
        import torch

        with torch.no_grad():
            out = layer(torch.from_numpy(x))
        return out.detach().cpu().float().numpy() if torch.is_tensor(out) else None
    import paddle

    with paddle.no_grad():
        out = layer(paddle.to_tensor(x))
    return out.astype("float32").numpy() if isinstance(out, paddle.Tensor) else None


def _constant_rows(residual: np.ndarray, scale: float) -> bool:
    """True when every row of ``residual`` is the same vector (a bias, or zero)."""
    return bool(np.abs(residual - residual[:1]).max() <= PROBE_TOLERANCE * scale)


def matrix_layout(layer: Any, framework: str, tensor_name: str) -> str:
    """``in_out`` or ``out_in`` when the layer computes ``x @ W (+ b)`` or ``x @ W.T
    (+ b)`` with its 2-D tensor ``tensor_name`` (an attribute of ``layer``) on a probe
    input [3, n]; "" when it computes neither (or cannot run on such an input)."""
    try:
        twin = _materialized_copy(layer, framework)
        weight = getattr(twin, tensor_name)
        matrix = np.array(weight.detach().cpu().float().numpy(), dtype=np.float64)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            return ""
        rng = np.random.default_rng(1)
        x = rng.standard_normal((PROBE_ROWS, matrix.shape[0])).astype("float32")
        y = _run(twin, framework, x)
    except Exception:  # a layer that cannot run alone on a probe input
        return ""
    if y is None or y.shape != (PROBE_ROWS, matrix.shape[0]):
        return ""
    scale = float(np.abs(y).max()) or 1.0
    fits = {
        IN_OUT: _constant_rows(y - x @ matrix, scale),
        OUT_IN: _constant_rows(y - x @ matrix.T, scale),
    }
    found = [layout for layout, fit in fits.items() if fit]
    return found[0] if len(found) == 1 else ""
