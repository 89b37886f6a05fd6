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

from typing import Any, Optional

import numpy as np

from ...knowledge.frameworks import adapter
from ...knowledge.layer_kinds import IN_OUT, OUT_IN

PROBE_ROWS = 3
# fp32 matmuls of size <= a few thousand agree with numpy's float64 to ~1e-5 relative;
# a wrong orientation is off by O(1).
PROBE_TOLERANCE = 1e-3


def _run(layer: Any, framework: str, x: np.ndarray) -> Optional[np.ndarray]:
    fw = adapter(framework)
    out = fw.run(layer, fw.tensor(x))
    return fw.array(out) if fw.is_tensor(out) else None


def _constant_rows(residual: np.ndarray, scale: float) -> bool:
    """True when every row of ``residual`` is the same vector (a bias, or zero)."""
    return bool(np.abs(residual - residual[:1]).max() <= PROBE_TOLERANCE * scale)


def matrix_layout(layer: Any, framework: str, tensor_name: str) -> str:
    """``in_out`` or ``out_in`` when the layer computes ``x @ W (+ b)`` or ``x @ W.T
    (+ b)`` with its 2-D tensor ``tensor_name`` (an attribute of ``layer``) on a probe
    input [3, n]; "" when it computes neither (or cannot run on such an input)."""
    try:
        twin = adapter(framework).random_copy(layer)
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
