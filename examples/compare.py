"""Run two models on the same random inputs and measure how far their outputs differ.

Used by ``make demo`` and the tests. It imports neither padiff_gen nor anything generated.
"""

from __future__ import annotations

import sys
from typing import Any, Sequence

import numpy as np


def framework_of(model: Any) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    return "paddle"


def _is_variance(name: str) -> bool:
    return name.endswith(("running_var", "_variance"))


def randomize(model: Any, seed: int = 0) -> None:
    """Give every float parameter and persistent buffer random values (variances stay
    positive).

    Defaults such as BatchNorm's weight=1 or running_mean=0 would make a dropped copy look
    right; random values make every forgotten tensor show in the outputs.
    """
    rng = np.random.default_rng(seed)
    if framework_of(model) == "torch":
        import torch

        with torch.no_grad():
            state = dict(model.named_parameters())
            # buffers the model keeps out of its state (rotary frequencies computed
            # in the constructor) are not weights: a checkpoint never changes them
            persistent = model.state_dict(keep_vars=True)
            state.update((n, b) for n, b in model.named_buffers() if n in persistent)
            for name, tensor in state.items():
                if tensor.is_floating_point():
                    values = rng.standard_normal(tuple(tensor.shape)) * 0.5
                    if _is_variance(name):
                        values = np.abs(values) + 0.5
                    tensor.copy_(torch.from_numpy(values))
        return
    import paddle

    for name, tensor in model.state_dict().items():
        if tensor.dtype in (
            paddle.float32,
            paddle.float64,
            paddle.float16,
            paddle.bfloat16,
        ):
            values = rng.standard_normal(tuple(tensor.shape)) * 0.5
            if _is_variance(name):
                values = np.abs(values) + 0.5
            tensor.set_value(values.astype(str(tensor.dtype).replace("paddle.", "")))


def make_inputs(specs: Sequence[Sequence], seed: int = 1) -> list[np.ndarray]:
    """Arrays from [dtype, shape] or [dtype, shape, high] specs (ints in [0, high))."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        dtype, shape = spec[0], tuple(spec[1])
        if dtype.startswith("int"):
            arrays.append(rng.integers(0, spec[2], size=shape).astype(dtype))
        else:
            arrays.append(rng.standard_normal(shape).astype(dtype))
    return arrays


def _flatten(outputs: Any) -> list[np.ndarray]:
    if isinstance(outputs, (tuple, list)):
        return [array for item in outputs for array in _flatten(item)]
    if outputs is None:
        return []
    if hasattr(outputs, "detach"):
        outputs = outputs.detach()
    if hasattr(outputs, "cpu") and hasattr(outputs, "numpy"):
        try:
            outputs = outputs.cpu()
        except TypeError:
            pass
    return [np.asarray(outputs.numpy(), dtype=np.float64)]


def forward(model: Any, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The model's outputs, flattened to a list of float64 arrays, in eval mode."""
    model.eval()
    if framework_of(model) == "torch":
        import torch

        with torch.no_grad():
            return _flatten(model(*[torch.from_numpy(a) for a in arrays]))
    import paddle

    with paddle.no_grad():
        return _flatten(model(*[paddle.to_tensor(a) for a in arrays]))


def output_difference(
    base: Any, raw: Any, input_specs: Sequence[Sequence], select: int | None = None
) -> dict:
    """Max absolute difference of the outputs, and the outputs' scale (max |base output|)."""
    arrays = make_inputs(input_specs)
    base_out, raw_out = forward(base, arrays), forward(raw, arrays)
    if select is not None:
        base_out, raw_out = base_out[select : select + 1], raw_out[select : select + 1]
    if len(base_out) != len(raw_out):
        raise ValueError(f"{len(base_out)} base outputs but {len(raw_out)} raw outputs")
    worst, scale = 0.0, 0.0
    for a, b in zip(base_out, raw_out):
        if a.shape != b.shape:
            raise ValueError(f"output shapes differ: {a.shape} vs {b.shape}")
        if not (np.isfinite(a).all() and np.isfinite(b).all()):
            # max() skips NaN, so a NaN output would otherwise pass as "equal"
            raise ValueError(
                "an output holds NaN or inf: the comparison proves nothing"
            )
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
        scale = max(scale, float(np.max(np.abs(a))) if a.size else 0.0)
    return {"max_abs_diff": worst, "scale": scale, "outputs": len(base_out)}
