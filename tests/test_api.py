"""The Python API: PaDiff's names and meanings, and in-process assign_weight."""

from __future__ import annotations

import pytest

from conftest import assert_outputs_match
from examples.cnn import PaddleCNN, TorchCNN
from examples.compare import output_difference, randomize
from examples.lstm import PaddleTagger, TorchTagger
from padiff_gen import (
    PadiffGenError,
    add_special_init,
    assign_weight,
    create_model,
    emit,
    global_special_init_pool,
)
from padiff_gen.api import emit_text
from padiff_gen.errors import InlineError, MappingError
from padiff_gen.special_init import InitKey

CNN_INPUTS = [["float32", [2, 3, 8, 8]]]


def test_create_model_wraps_models_of_both_frameworks():
    base, raw = create_model(TorchCNN(), name="torch_cnn"), create_model(PaddleCNN())
    assert (base.framework, raw.framework) == ("torch", "paddle")
    assert base.name == "torch_cnn" and raw.name == "PaddleCNN"
    assert isinstance(base.model, TorchCNN)
    assert create_model(base) is base
    with pytest.raises(PadiffGenError, match="neither a torch.nn.Module"):
        create_model(object())


def test_builtin_initializers_are_discovered_in_both_directions():
    keys = {entry.key for entry in global_special_init_pool.entries()}
    for key in [
        InitKey("torch", "BatchNorm2d", "paddle", "BatchNorm2D"),
        InitKey("paddle", "BatchNorm2D", "torch", "BatchNorm2d"),
        InitKey("torch", "LSTM", "paddle", "LSTM"),
        InitKey("paddle", "LSTM", "torch", "LSTM"),
        InitKey("torch", "MultiheadAttention", "paddle", "MultiHeadAttention"),
        InitKey("paddle", "MultiHeadAttention", "torch", "MultiheadAttention"),
    ]:
        assert key in keys, key
        assert global_special_init_pool.get(key).origin == "built-in"


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
def test_assign_weight_with_auto_layer_map_makes_outputs_equal(direction):
    torch_model, paddle_model = TorchCNN(), PaddleCNN()
    base, raw = (
        (torch_model, paddle_model)
        if direction == "torch_to_paddle"
        else (paddle_model, torch_model)
    )
    randomize(base, seed=3)
    plan = assign_weight(create_model(base).auto_layer_map("base"), raw)
    assert len(plan.special_pairs) == 2  # both BatchNorm layers
    assert_outputs_match(output_difference(base, raw, CNN_INPUTS))


def test_set_layer_map_pairs_the_given_sublayers():
    base, raw = create_model(TorchCNN()), create_model(PaddleCNN())
    base.set_layer_map([base.model.features[1], base.model.features[4]])
    raw.set_layer_map([raw.model.features[1], raw.model.features[4]])
    randomize(base.model, seed=4)
    plan = assign_weight(base, raw, layer_map="none")
    assert [p.base.path for p in plan.special_pairs] == ["features.1", "features.4"]
    assert_outputs_match(output_difference(base.model, raw.model, CNN_INPUTS))


def test_set_layer_map_rejects_foreign_layers_and_uneven_lengths():
    base, raw = create_model(TorchCNN()), create_model(PaddleCNN())
    with pytest.raises(PadiffGenError, match="not a sub-layer"):
        base.set_layer_map([TorchCNN().features[1]])
    base.set_layer_map([base.model.features[1]])
    raw.set_layer_map([raw.model.features[1], raw.model.features[4]])
    with pytest.raises(PadiffGenError, match="different lengths"):
        emit_text(base, raw)


def test_auto_layer_map_role_must_match_the_side():
    base = create_model(TorchCNN()).auto_layer_map("raw")
    with pytest.raises(PadiffGenError, match="auto_layer_map"):
        emit_text(base, PaddleCNN())
    with pytest.raises(PadiffGenError, match="'base' or 'raw'"):
        create_model(TorchCNN()).auto_layer_map("left")


def test_assign_weight_handles_lstm_in_process():
    base, raw = TorchTagger(), PaddleTagger()
    randomize(base, seed=5)
    assign_weight(base, raw)
    assert_outputs_match(output_difference(base, raw, [["int64", [2, 6], 50]]))


def test_add_special_init_accepts_lambdas_in_process_but_emit_refuses_them():
    import torch

    class TorchScale(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gain = torch.nn.Parameter(torch.ones(4))

        def forward(self, x):
            return x * self.gain

    class TorchScaleTwin(TorchScale):
        pass

    calls = []
    snapshot = global_special_init_pool.snapshot()
    try:
        add_special_init(
            "torch",
            "TorchScale",
            "torch",
            "TorchScaleTwin",
            lambda base, raw: calls.append((base, raw))
            or raw.gain.data.copy_(base.gain),
        )
        base, raw = TorchScale(), TorchScaleTwin()
        with torch.no_grad():
            base.gain.mul_(3)
        assign_weight(base, raw)
        assert calls == [(base, raw)]
        assert torch.equal(raw.gain, base.gain)
        with pytest.raises(InlineError, match="lambda"):
            emit(base, raw)
    finally:
        global_special_init_pool.restore(snapshot.items())


def test_mapping_errors_carry_both_sides():
    from examples.mlp import PaddleMLP, TorchMLP

    with pytest.raises(MappingError) as caught:
        emit_text(TorchMLP(sizes=(16, 32, 4)), PaddleMLP(sizes=(16, 30, 4)))
    error = caught.value
    assert error.base.path == "layers.0" and error.raw.path == "layers.0"
    assert "layers.0.weight" in error.message and "[16, 30]" in error.message
