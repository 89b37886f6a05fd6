"""LSTM, GRU and simple RNNs (torch RNN <-> paddle SimpleRNN).

Both frameworks name and shape the weights alike (weight_ih_l0, weight_hh_l0_reverse, ...)
with the same gate order. paddle also lists every weight a second time under per-cell names
(0.cell_fw.weight_ih, ...): those are the same tensors, so copying the layer-level names
covers them.
"""

from ..runtime.copy_torch import copy_tensor
from .special_init_pool import global_special_init_pool as init_pool

CLASS_PAIRS = (("LSTM", "LSTM"), ("GRU", "GRU"), ("RNN", "SimpleRNN"))


def init_rnn(base_model, raw_model):
    for name, tensor in base_model._parameters.items():
        copy_tensor(getattr(raw_model, name), tensor)


def _rnn_tensors(layer):
    return {name: tuple(tensor.shape) for name, tensor in layer._parameters.items()}


def validate_rnn(base_layer, raw_layer):
    """Emit-time check: the same weight names with the same shapes on both sides."""
    base_tensors, raw_tensors = _rnn_tensors(base_layer), _rnn_tensors(raw_layer)
    if base_tensors == raw_tensors:
        return None
    only_base = sorted(set(base_tensors) - set(raw_tensors))
    only_raw = sorted(set(raw_tensors) - set(base_tensors))
    resized = sorted(
        name
        for name in set(base_tensors) & set(raw_tensors)
        if base_tensors[name] != raw_tensors[name]
    )
    details = []
    if only_base:
        details.append(f"only the base has {', '.join(only_base[:4])}")
    if only_raw:
        details.append(f"only the raw has {', '.join(only_raw[:4])}")
    for name in resized[:2]:
        details.append(
            f"{name} is {list(base_tensors[name])} vs {list(raw_tensors[name])}"
        )
    return (
        "their weights differ ("
        + "; ".join(details)
        + "): make hidden size, num_layers, direction and bias agree"
    )


for _torch_class, _paddle_class in CLASS_PAIRS:
    init_pool.add(
        "torch", _torch_class, "paddle", _paddle_class, init_rnn, validate=validate_rnn
    )
    init_pool.add(
        "paddle", _paddle_class, "torch", _torch_class, init_rnn, validate=validate_rnn
    )
