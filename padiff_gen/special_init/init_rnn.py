"""LSTM, GRU and simple RNNs (torch RNN <-> paddle SimpleRNN).

Both frameworks shape the per-cell weights alike, with the same gate order (i, f, g, o for
LSTM; r, z, n for GRU). torch names them on the layer: weight_ih_l0, bias_hh_l1_reverse, ...
paddle keeps them in one cell per layer and direction (rnn[0].cell, or rnn[0].cell_fw and
rnn[0].cell_bw when bidirectional) and lists each a second time under the layer-level torch
names; the cells are read here, because with proj_size paddle's layer-level names point at
the wrong tensors. An LSTM projection is weight_hr [proj, hidden] in torch and weight_ho
[hidden, proj] in paddle: transposed.

A layer built without biases (torch bias=False) computes as if they were zero, so copying
from it sets the raw layer's biases to zero; learnable base biases with nowhere to go are
refused when the script is made. (paddle 3.3 cannot run a bias-free RNN: with
bias_ih_attr=False its cells keep fixed zero biases, which are copied as zeros.)
"""

from __future__ import annotations

from typing import Any, Optional

from ..runtime.core.copy_torch import copy_or_neutral, copy_tensor
from .special_init_pool import global_special_init_pool as init_pool

CLASS_PAIRS = (("LSTM", "LSTM"), ("GRU", "GRU"), ("RNN", "SimpleRNN"))


CELL_TENSORS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def torch_rnn_cell(rnn, layer, reverse):
    """One cell's tensors by name; None for those the layer lacks (biases, projection)."""
    suffix = "_reverse" if reverse else ""
    return {
        name: getattr(rnn, f"{name}_l{layer}{suffix}", None) for name in CELL_TENSORS
    }


def paddle_rnn_cell(rnn, layer, reverse):
    """The same tensors in paddle, read from the cell of that layer and direction.

    paddle also names them on the layer (weight_ih_l0, ...), but with proj_size those
    names point at the wrong tensors, so the cells are read.
    """
    stack = rnn[layer]  # a paddle.nn.RNN (one cell) or BiRNN (cell_fw and cell_bw)
    if reverse:
        cell = stack.cell_bw
    elif hasattr(stack, "cell_fw"):
        cell = stack.cell_fw
    else:
        cell = stack.cell
    tensors = {name: getattr(cell, name, None) for name in CELL_TENSORS}
    tensors["weight_hr"] = getattr(cell, "weight_ho", None)  # the LSTM projection
    return tensors


def rnn_cells(rnn):
    """(layer, reverse) for every cell of a torch or paddle RNN layer."""
    bidirectional = getattr(rnn, "bidirectional", False) or (
        getattr(rnn, "num_directions", 1) == 2
    )
    for layer in range(rnn.num_layers):
        yield layer, False
        if bidirectional:
            yield layer, True


def copy_rnn_cell(dst, src, where):
    """Copy one cell; a bias the base lacks (bias=False) becomes zeros."""
    copy_tensor(dst["weight_ih"], src["weight_ih"])
    copy_tensor(dst["weight_hh"], src["weight_hh"])
    copy_or_neutral(dst["bias_ih"], src["bias_ih"], 0.0, f"bias_ih ({where})")
    copy_or_neutral(dst["bias_hh"], src["bias_hh"], 0.0, f"bias_hh ({where})")
    if src["weight_hr"] is not None:  # torch [proj, hidden], paddle [hidden, proj]
        copy_tensor(dst["weight_hr"], src["weight_hr"], "transpose")


def init_rnn_torch_to_paddle(base_model, raw_model):
    """LSTM/GRU/RNN: every layer and direction, into paddle's per-cell tensors."""
    for layer, reverse in rnn_cells(base_model):
        copy_rnn_cell(
            paddle_rnn_cell(raw_model, layer, reverse),
            torch_rnn_cell(base_model, layer, reverse),
            f"layer {layer}{' reverse' if reverse else ''}",
        )


def init_rnn_paddle_to_torch(base_model, raw_model):
    """LSTM/GRU/RNN: every layer and direction, from paddle's per-cell tensors."""
    for layer, reverse in rnn_cells(base_model):
        copy_rnn_cell(
            torch_rnn_cell(raw_model, layer, reverse),
            paddle_rnn_cell(base_model, layer, reverse),
            f"layer {layer}{' reverse' if reverse else ''}",
        )


# ---------------------------------------------------------------- emit-time checks


def _is_torch(rnn: Any) -> bool:
    return hasattr(rnn, "batch_first")  # paddle's RNNs say time_major instead


def _config(rnn: Any) -> dict[str, Any]:
    """What decides the weights' shapes and the function the layer computes."""
    bidirectional = any(True for _, reverse in rnn_cells(rnn) if reverse)
    return {
        "mode": rnn.mode,  # "LSTM", "GRU", "RNN_TANH" or "RNN_RELU" in both frameworks
        "input_size": rnn.input_size,
        "hidden_size": rnn.hidden_size,
        "num_layers": rnn.num_layers,
        "bidirectional": bidirectional,
        "proj_size": getattr(rnn, "proj_size", 0) or 0,
    }


def _learns_biases(rnn: Any) -> bool:
    """paddle built with bias_ih_attr=False keeps fixed zero biases, which learn nothing."""
    if _is_torch(rnn):
        return bool(rnn.bias)
    bias = paddle_rnn_cell(rnn, 0, False)["bias_ih"]
    return bias is not None and not bias.stop_gradient


def _has_biases(rnn: Any) -> bool:
    if _is_torch(rnn):
        return bool(rnn.bias)
    return paddle_rnn_cell(rnn, 0, False)["bias_ih"] is not None


def validate_rnn(base_layer: Any, raw_layer: Any) -> Optional[str]:
    """Emit-time check: the same architecture, and no learnable base bias without a home."""
    base, raw = _config(base_layer), _config(raw_layer)
    differences = [
        f"{key} is {base[key]!r} in the base but {raw[key]!r} in the raw layer"
        for key in base
        if base[key] != raw[key]
    ]
    if base["mode"] != raw["mode"]:
        differences.append(
            "(mode RNN_TANH / RNN_RELU is torch's nonlinearity, paddle's activation)"
        )
    if differences:
        return "; ".join(differences) + "; build both alike"
    if _learns_biases(base_layer) and not _has_biases(raw_layer):
        return (
            "the base layer learns biases but the raw layer was built without them "
            "(torch bias=False); build torch with bias=True (paddle 3.3 cannot run an RNN "
            "without biases)"
        )
    return None


for _torch_class, _paddle_class in CLASS_PAIRS:
    init_pool.add(
        "torch",
        _torch_class,
        "paddle",
        _paddle_class,
        init_rnn_torch_to_paddle,
        validate=validate_rnn,
    )
    init_pool.add(
        "paddle",
        _paddle_class,
        "torch",
        _torch_class,
        init_rnn_paddle_to_torch,
        validate=validate_rnn,
    )
