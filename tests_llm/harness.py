"""Run, perturb and compare the pairs of tests_llm/pairs.py (test-only helpers).

Works on either framework's model; imports nothing from padiff_gen, so the subprocess that
checks a generated script can use it with padiff_gen made unimportable.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

# Token ids: 2 sequences of 12 tokens, never the pad id 0 (a library that masks padding
# would otherwise compute something else than one that does not).
BATCH, LENGTH = 2, 12


def is_torch(model) -> bool:
    import sys

    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


def state_arrays(model) -> dict[str, np.ndarray]:
    """A numpy copy of every state-dict tensor, in its own dtype, by name."""
    return {
        name: np.array(
            tensor.detach().cpu().numpy() if is_torch(model) else tensor.numpy()
        )
        for name, tensor in model.state_dict().items()
    }


def load_arrays(model, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays into the model's state-dict tensors in place (shapes must match)."""
    state = model.state_dict()
    for name, value in arrays.items():
        tensor = state[name]
        if tuple(tensor.shape) != tuple(value.shape):
            raise ValueError(
                f"{name}: model {tuple(tensor.shape)}, given {value.shape}"
            )
    if is_torch(model):
        import torch

        with torch.no_grad():
            for name, value in arrays.items():
                state[name].copy_(torch.from_numpy(np.ascontiguousarray(value)))
    else:
        for name, value in arrays.items():
            tensor = state[name]
            tensor.set_value(value.astype(str(tensor.dtype).replace("paddle.", "")))


def random_state(model, seed: int = 0) -> dict[str, np.ndarray]:
    """Random values for every floating state-dict tensor of the model.

    Matrices get N(0, 1/fan) with fan the smaller of their last two sides (so activations
    stay O(1) through the tiny network); vectors (norm weights, biases, router biases,
    attention sinks, ...) get 1 + N(0, 0.3^2) in absolute value, far from both 0 and 1,
    so that a tensor the copy forgot, left at its library default, changes the logits.
    Tensors shared under two names (tied embeddings) get one value.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    seen: dict[int, str] = {}
    for name, tensor in model.state_dict().items():
        array = tensor.detach().cpu().numpy() if is_torch(model) else tensor.numpy()
        if array.dtype.kind != "f":
            continue
        key = _storage_key(tensor, model)
        if key in seen:
            out[name] = out[seen[key]]
            continue
        seen[key] = name
        shape = array.shape
        if len(shape) >= 2:
            fan = min(shape[-2:])
            values = rng.standard_normal(shape) / np.sqrt(fan)
        else:
            values = np.abs(1.0 + 0.3 * rng.standard_normal(shape))
        out[name] = values.astype(array.dtype)
    return out


def tied_names(model) -> dict[str, list[str]]:
    """Each state-dict name -> every name of the same tensor (itself included)."""
    groups: dict[int, list[str]] = {}
    keys = {}
    for name, tensor in model.state_dict().items():
        keys[name] = _storage_key(tensor, model)
        groups.setdefault(keys[name], []).append(name)
    return {name: groups[key] for name, key in keys.items()}


def _storage_key(tensor, model) -> int:
    if is_torch(model):
        return tensor.untyped_storage().data_ptr() if tensor.numel() else id(tensor)
    return id(tensor)


def randomize(model, seed: int = 0) -> None:
    load_arrays(model, random_state(model, seed))
    keep_padding_rows(model)


def keep_padding_rows(model) -> None:
    """Zero the padding row of torch Embeddings, as torch keeps it (zero at
    initialisation, its gradient masked). A paddle Embedding with the same padding_idx
    outputs zeros there whatever the row holds, so a script refuses a torch row that is
    not zero (padiff-gen's tests check that refusal); a trained model never has one."""
    if not is_torch(model):
        return
    import torch

    for layer in model.modules():
        if isinstance(layer, torch.nn.Embedding) and layer.padding_idx is not None:
            with torch.no_grad():
                layer.weight[layer.padding_idx] = 0.0


def token_ids(vocab_size: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(1, vocab_size, size=(BATCH, LENGTH)).astype("int64")


def logits(model, ids: np.ndarray, train_mode: bool = False) -> np.ndarray:
    """The model's logits [batch, length, vocab] for `ids`, as float64.

    In eval mode, or in train mode without gradients where a library's eval forward is
    wrong (`Architecture.pf_train_mode`; every dropout of the pairs is 0).
    """
    model.train() if train_mode else model.eval()
    if is_torch(model):
        import torch

        with torch.no_grad():
            out = model(input_ids=torch.from_numpy(ids), use_cache=False)
        return out.logits.detach().cpu().numpy().astype(np.float64)
    import paddle

    with paddle.no_grad():
        out = model(input_ids=paddle.to_tensor(ids), use_cache=False, return_dict=True)
    model.eval()
    values = out.logits if hasattr(out, "logits") else out[0]
    return values.numpy().astype(np.float64)


def difference(reference: np.ndarray, other: np.ndarray) -> dict:
    """Max |a - b| and the logits' scale (max |a|); NaN or inf is an error."""
    if reference.shape != other.shape:
        raise ValueError(f"logits shapes differ: {reference.shape} vs {other.shape}")
    if not (np.isfinite(reference).all() and np.isfinite(other).all()):
        raise ValueError("logits hold NaN or inf: the comparison proves nothing")
    diff = float(np.max(np.abs(reference - other)))
    scale = float(np.max(np.abs(reference)))
    return {"max_abs_diff": diff, "scale": scale, "relative": diff / scale}
