"""padiff-gen verify: copy, run both models on the same random inputs, compare outputs."""

from __future__ import annotations

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
