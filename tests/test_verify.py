"""padiff-gen verify: copy, run both models on the same random inputs, compare outputs."""

from __future__ import annotations

import json

import pytest

from conftest import ROOT, run_cli
from padiff_gen.errors import UsageError
from padiff_gen.verify import InputSpec, compare

FIXTURES = "tests.fixtures.models"


def test_an_equal_pair_passes():
    result = run_cli(
        "verify",
        "--base",
        "torch:examples.cnn.TorchCNN",
        "--raw",
        "paddle:examples.cnn.PaddleCNN",
        "--input",
        "2,3,8,8",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("output 0: shape [2, 10]: max abs diff ")
    assert lines[0].endswith(": ok")
    assert lines[-1].startswith("the outputs match (atol 1e-05, rtol 1e-05")


def test_a_script_with_integer_inputs_passes():
    script = ROOT / "generated_examples" / "lstm_torch_to_paddle.py"
    result = run_cli("verify", "--script", str(script), "--input", "3,7:int64:50")
    assert result.returncode == 0, result.stderr
    assert "output 0: shape [3, 7, 5]" in result.stdout


def test_a_wrong_copy_is_found_and_named_on_both_sides(tmp_path):
    """An edited table swaps the base tensors of two rows (both biases of size 8)."""
    script = tmp_path / "init_weights.py"
    models = (
        "--base",
        f"torch:{FIXTURES}.TorchEncoder",
        "--raw",
        f"paddle:{FIXTURES}.PaddleEncoder",
    )
    emitted = run_cli("emit", *models, "-o", str(script))
    assert emitted.returncode == 0, emitted.stderr
    rows = ('("embed.bias", "stem.bias", ', '("blocks.0.bias", "body.0.bias", ')
    swapped = ('("blocks.0.bias", "stem.bias", ', '("embed.bias", "body.0.bias", ')
    text = script.read_text()
    for row, replacement in zip(rows, swapped):
        assert row in text
        text = text.replace(row, replacement)
    script.write_text(text)

    result = run_cli("verify", "--script", str(script), "--input", "4,6")
    assert result.returncode == 1, result.stderr
    assert "output 0: shape [4, 3]" in result.stdout and "DIFFERENT" in result.stdout
    said = " ".join(result.stdout.split())
    assert "first paired sub-layer that computes differently on the same input" in said
    assert (
        "in the order the base model runs them): base `embed` (Linear) / raw `stem` (Linear)"
        in said
    )
    # The unedited plan of the same models passes: the difference is the edit.
    plain = run_cli("verify", *models, "--input", "4,6")
    assert plain.returncode == 0, plain.stdout + plain.stderr


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2,3,224,224", InputSpec((2, 3, 224, 224))),
        ("1,16:int64", InputSpec((1, 16), "int64", 2)),
        ("1,16:int64:1000", InputSpec((1, 16), "int64", 1000)),
        (" 4, 8 :float64", InputSpec((4, 8), "float64")),
    ],
)
def test_input_specs(text, expected):
    assert InputSpec.parse(text) == expected


@pytest.mark.parametrize(
    "text, says",
    [
        ("2,x", "is not of the form SHAPE[:DTYPE[:HIGH]]"),
        ("2,3:complex", "unknown dtype 'complex'"),
        ("2,3:float32:10", "Only integer inputs take :HIGH"),
    ],
)
def test_bad_input_specs(text, says):
    with pytest.raises(UsageError, match=None) as caught:
        InputSpec.parse(text)
    assert says in caught.value.text


def test_compare_is_relative_to_the_output_scale():
    import numpy as np

    base = [np.array([100.0, -200.0])]
    assert compare(base, [np.array([100.001, -200.0])], 1e-5, 1e-5).within
    assert not compare(base, [np.array([100.1, -200.0])], 1e-5, 1e-5).within
    assert compare(base, [np.array([[1.0, 2.0]])], 1e-5, 1e-5) is None  # shapes differ
    nan = [np.array([np.nan, 1.0])]
    assert compare(nan, [np.array([np.nan, 1.0])], 0, 0).within
    assert not compare(nan, [np.array([0.0, 1.0])], 0, 0).within


def test_verify_from_python_keeps_weights_when_asked():
    from padiff_gen.verify import verify

    result = verify(
        "torch:examples.nested.TorchNested",
        "paddle:examples.nested.PaddleNested",
        ["3,8"],
        randomize=False,
    )
    assert result.equal and len(result.outputs) == 2  # nested returns (score, label)
    assert result.first_layer is None


# ---------------------------------------------------------------- isolation

TORCH_CHAIN = "torch:tests.fixtures.chains.torch_chain"
PADDLE_CHAIN = "paddle:tests.fixtures.chains.paddle_chain"


def _chain_verify(base_layers, raw_layers, inputs, direction="torch_to_paddle", **kw):
    from padiff_gen.verify import verify

    specs = [(TORCH_CHAIN, base_layers), (PADDLE_CHAIN, raw_layers)]
    if direction == "paddle_to_torch":
        specs = [(PADDLE_CHAIN, raw_layers), (TORCH_CHAIN, base_layers)]
    return verify(
        specs[0][0],
        specs[1][0],
        inputs,
        base_kwargs={"layers": specs[0][1]},
        raw_kwargs={"layers": specs[1][1]},
        **kw,
    )


def _said(result) -> str:
    return " ".join(result.report().split())


LINEARS = (["Linear", [8, 8], {}], ["Linear", [8, 4], {}])


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
def test_verify_blames_the_dropout_not_the_linear_after_it(direction):
    result = _chain_verify(
        [LINEARS[0], ["Dropout", [0.5], {}], LINEARS[1]],
        [LINEARS[0], ["Dropout", [0.5], {"mode": "downscale_in_infer"}], LINEARS[1]],
        ["4,8"],
        direction,
    )
    assert not result.equal
    assert result.first_layer is None  # every Linear computes alike in isolation
    said = _said(result)
    assert "The outputs first differ at `1`, a layer without weights" in said, said
    assert (
        "base `2` / raw `2` (Linear) and every layer after it differ because of it, "
        "not on their own" in said
    )
    [layer] = result.divergence.layers
    assert layer.base.path == layer.raw.path == "1" and layer.notes
    assert "(paddle Dropout: mode='downscale_in_infer')" in said
    assert "they differ in output scale in eval mode" in said


LSTMS = (
    [
        ["LSTM", [4, 6], {"bidirectional": True}],
        ["First", [], {}],
        ["Linear", [12, 3], {}],
    ],
    [
        ["LSTM", [4, 6], {"direction": "bidirect"}],
        ["First", [], {}],
        ["Linear", [12, 3], {}],
    ],
)


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
def test_verify_names_the_lstm_and_its_time_major_setting(direction):
    result = _chain_verify(*LSTMS, ["2,5,4"], direction)
    assert not result.equal
    layer = result.first_layer
    assert (layer.base_path, layer.raw_path) == ("0", "0")
    assert layer.base_shape != layer.raw_shape  # [time, batch] read as [batch, time]
    assert (
        "time_major=False" in layer.settings[0]
        and "batch_first=False" in layer.settings[0]
    )
    assert "outside the layers with weights" not in result.report()
    fixed = _chain_verify(
        [[LSTMS[0][0][0], [4, 6], {"bidirectional": True, "batch_first": True}]]
        + LSTMS[0][1:],
        LSTMS[1],
        ["2,5,4"],
        direction,
    )
    assert fixed.equal, fixed.report()  # the control: built alike, verify passes


def test_verify_names_the_conv_whose_stride_differs_with_both_shapes():
    tail = [["ReLU", [], {}], ["AdaptiveAvgPool2d", [2], {}], ["Flatten", [], {}]]
    result = _chain_verify(
        [["Conv2d", [3, 8, 3], {"padding": 1}], *tail, ["Linear", [32, 5], {}]],
        [
            ["Conv2D", [3, 8, 3], {"padding": 1, "stride": 2}],
            ["ReLU", [], {}],
            ["AdaptiveAvgPool2D", [2], {}],
            ["Flatten", [], {}],
            ["Linear", [32, 5], {}],
        ],
        ["2,3,8,8"],
    )
    layer = result.first_layer
    assert (layer.base_path, layer.base_class, layer.raw_class) == (
        "0",
        "Conv2d",
        "Conv2D",
    )
    assert "output shapes [2, 8, 8, 8] (base) vs [2, 8, 4, 4] (raw)" in _said(result)
    assert "differ in stride" in layer.settings[0]


def test_an_eps_of_1e6_against_1e5_fails_verify():
    result = _chain_verify(
        [LINEARS[0], ["LayerNorm", [8], {"eps": 1e-6}], LINEARS[1]],
        [LINEARS[0], ["LayerNorm", [8], {}], LINEARS[1]],
        ["4,8"],
    )
    assert not result.equal
    assert (result.first_layer.base_path, result.first_layer.base_class) == (
        "1",
        "LayerNorm",
    )
    assert "differ in eps" in result.first_layer.settings[0]


def test_a_layer_differing_in_isolation_fails_verify_even_when_outputs_agree():
    """The outputs stay within the tolerance, the LayerNorm alone does not (in float64)."""
    result = _chain_verify(
        [LINEARS[0], ["LayerNorm", [8], {"eps": 1e-6}]],
        [LINEARS[0], ["LayerNorm", [8], {}]],
        ["4,8"],
        atol=1e-3,
        rtol=1e-4,
    )
    assert result.outputs_equal and not result.equal
    assert (
        "but a paired sub-layer that computes differently on the same input"
        in _said(result)
    )


EMBEDDINGS = [["Embedding", [10, 8], {"padding_idx": 0}], ["Linear", [8, 3], {}]]


def test_verify_keeps_the_models_own_invariants():
    """Random weights leave an Embedding's padding row at zero (torch keeps it so) and a
    scale paddle keeps fixed at 1: the copy's checks of them pass."""
    result = run_cli(
        "verify",
        *("--base", TORCH_CHAIN, "--base-kwargs", json.dumps({"layers": EMBEDDINGS})),
        *("--raw", PADDLE_CHAIN, "--raw-kwargs", json.dumps({"layers": EMBEDDINGS})),
        *("--input", "2,6:int64:10"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert _chain_verify(
        EMBEDDINGS, EMBEDDINGS, ["2,6:int64:10"], "paddle_to_torch"
    ).equal
    from padiff_gen.verify import verify

    fixed_scale = verify(
        "paddle:tests.layer_pairs.paddle_model",
        "torch:tests.layer_pairs.torch_model",
        ["2,6,4,4"],
        base_kwargs={"case": "sync_bn_no_affine"},
        raw_kwargs={"case": "sync_bn_no_affine"},
    )
    assert fixed_scale.equal, fixed_scale.report()


def test_weights_have_a_trained_models_scale():
    import numpy as np
    import paddle
    import torch

    from padiff_gen.verify import randomize_weights

    model = torch.nn.Sequential(
        torch.nn.Embedding(50, 64, padding_idx=3),
        torch.nn.Linear(64, 256),
        torch.nn.LayerNorm(256),
        torch.nn.BatchNorm1d(256),
    )
    randomize_weights(model, seed=0)
    weight = model[1].weight.detach().numpy()
    assert abs(weight.std() * 8 - 1) < 0.05  # 1 / sqrt(64)
    assert abs(model[1].bias.detach().numpy().std() - 0.1) < 0.03
    assert abs(model[2].weight.detach().numpy().mean() - 1) < 0.03
    variance = model[3].running_var.numpy()
    assert variance.min() >= 0.5 and variance.max() <= 1.5
    assert not model[0].weight[3].any() and model[0].weight[4].any()
    paddle_linear = paddle.nn.Linear(
        64, 256
    )  # [in, out]: fan in is the first dimension
    randomize_weights(paddle_linear, seed=0)
    assert abs(np.std(paddle_linear.weight.numpy()) * 8 - 1) < 0.05


def test_verify_reads_the_base_weights_from_a_checkpoint(tmp_path):
    import torch

    from tests.fixtures.chains import torch_chain

    model = torch_chain(EMBEDDINGS)
    good = tmp_path / "good.pt"
    torch.save(model.state_dict(), good)
    with torch.no_grad():
        model[0].weight[0] = 1.0  # a padding row paddle would output as zeros
    bad = tmp_path / "bad.pt"
    torch.save(model.state_dict(), bad)
    assert _chain_verify(
        EMBEDDINGS, EMBEDDINGS, ["2,6:int64:10"], base_checkpoint=good
    ).equal
    models = (
        *("--base", TORCH_CHAIN, "--base-kwargs", json.dumps({"layers": EMBEDDINGS})),
        *("--raw", PADDLE_CHAIN, "--raw-kwargs", json.dumps({"layers": EMBEDDINGS})),
    )
    refused = run_cli(
        "verify", *models, "--input", "2,6:int64:10", "--base-ckpt", str(bad)
    )
    assert refused.returncode == 1, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "row 0 (padding_idx) of torch's embedding weight is not zero" in said
    assert "Traceback" not in refused.stderr
    missing = run_cli(
        "verify",
        *models,
        "--input",
        "2,6:int64:10",
        "--base-ckpt",
        str(tmp_path / "no.pt"),
    )
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_verify_takes_a_configured_target(tmp_path):
    layers = '{ layers = [["Linear", [8, 8], {}]] }'  # TOML
    (tmp_path / "pyproject.toml").write_text(
        "[[tool.padiff-gen.targets]]\n"
        'name = "mlp"\n'
        'output = "init_mlp.py"\n'
        f'base = "{TORCH_CHAIN}"\n'
        f'raw = "{PADDLE_CHAIN}"\n'
        f"base-kwargs = {layers}\n"
        f"raw-kwargs = {layers}\n"
    )
    result = run_cli("verify", "--target", "mlp", "--input", "3,8", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "the outputs match" in result.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "pyproject.toml"]
