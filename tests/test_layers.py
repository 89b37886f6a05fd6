"""Every standard layer, torch -> paddle and paddle -> torch, with the default invocation.

For each layer configuration in tests/layer_pairs.py, each direction either
- copies faithfully: the generated script, run standalone (padiff_gen unimportable) on a
  base model with random weights, makes the raw model's eval-mode outputs equal, or
- is refused when the script is made, with a message naming the layers and the fix.

Generating ~120 scripts is done in this process; checking them runs in one subprocess
(tests/check_scripts.py), because each process pays seconds to import torch and paddle.
The same subprocess runs the scripts that must refuse at run time and the deliberately
corrupted ones, which the comparison must catch.
"""

from __future__ import annotations

import json

import pytest

from conftest import RELATIVE_TOLERANCE, assert_outputs_match, run_cli
from padiff_gen.api import emit_text
from padiff_gen.errors import MappingError
from tests import pair_jobs
from tests.layer_pairs import CASES, PADDLE_TO_TORCH, TORCH_TO_PADDLE
from tests.pair_jobs import (
    FRAMEWORKS,
    Job,
    drop_transpose,
    outcome_of,
    replace_once,
    run_jobs,
    selected_keys,
    swap_raw_paths,
)

MODULE = "tests.layer_pairs"


def spec_args(case: str, direction: str) -> dict:
    return pair_jobs.spec_args(MODULE, case, direction)


FAITHFUL = {
    f"{name}-{direction}": Job(name, direction)
    for name, case in CASES.items()
    for direction in case.directions
}
REFUSED = [
    (name, direction)
    for name, case in CASES.items()
    for direction in FRAMEWORKS
    if direction not in case.directions and not case.differs
]
DIFFERING = [
    (name, direction)
    for name, case in CASES.items()
    if case.differs
    for direction in FRAMEWORKS
]
# Values a real model keeps fixed, randomized here: the script must refuse at run time.
RUNTIME_REFUSALS = {
    "nonzero-torch-padding-row": (
        Job("embedding_padding_idx", TORCH_TO_PADDLE, prepare=False),
        "row 0 (padding_idx) of torch's embedding weight is not zero",
    ),
    "paddle-fixed-scale-not-one": (
        Job("sync_bn_no_affine", PADDLE_TO_TORCH, prepare=False),
        "the base layer's weight is not all 1.0, but the raw layer has no weight",
    ),
    "paddle-fixed-rnn-bias-not-zero": (
        Job("lstm_no_bias", PADDLE_TO_TORCH, prepare=False),
        "the base layer's bias_ih (layer 0) is not all 0.0",
    ),
}
CORRUPTIONS = {
    "two-table-rows-swapped": Job(
        "transformer_encoder",
        TORCH_TO_PADDLE,
        corrupt=swap_raw_paths("layers.0.norm1.weight", "layers.0.norm2.weight"),
    ),
    "square-linear-weight-not-transposed": Job(
        "linear", PADDLE_TO_TORCH, corrupt=drop_transpose("2.weight")
    ),
    "batchnorm-running-var-dropped": Job(
        "bn2d",
        TORCH_TO_PADDLE,
        corrupt=replace_once(
            "copy_or_neutral(raw_model._variance, base_model.running_var,",
            "copy_or_neutral(raw_model._variance, None,",
        ),
    ),
}
ALL_JOBS = {
    **FAITHFUL,
    **{key: job for key, (job, _) in RUNTIME_REFUSALS.items()},
    **CORRUPTIONS,
}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, dict]:
    """Emit the scripts of every selected job, run them all in one subprocess."""
    directory = tmp_path_factory.mktemp("layer_scripts")
    return run_jobs(MODULE, CASES, ALL_JOBS, selected_keys(request), directory)


# ---------------------------------------------------------------- faithful copies


@pytest.mark.parametrize("key", sorted(FAITHFUL))
def test_script_makes_outputs_equal(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert_outputs_match(outcome)


def layer_classes(model) -> set[str]:
    """Class names of a torch or paddle model and all its sub-layers."""
    layers = model.modules() if hasattr(model, "modules") else model.sublayers(True)
    return {type(layer).__name__ for layer in layers}


def test_every_layer_is_covered_in_both_directions():
    """Each layer class the issue lists takes part in a faithful case in each direction."""
    covered = {
        (name, direction)
        for case in CASES.values()
        for direction in case.directions
        for build in (case.torch, case.paddle)
        for name in layer_classes(build())
    }
    listed = {
        "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d",
        "InstanceNorm2d", "InstanceNorm3d", "LayerNorm", "GroupNorm", "PReLU", "Embedding",
        "Linear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d",
        "ConvTranspose2d", "ConvTranspose3d", "LSTM", "GRU", "RNN", "MultiheadAttention",
        "Transformer", "TransformerEncoder", "TransformerDecoder",
        "TransformerEncoderLayer", "TransformerDecoderLayer",
        # paddle's names, where they differ
        "BatchNorm1D", "BatchNorm2D", "BatchNorm3D", "BatchNorm", "InstanceNorm1D",
        "InstanceNorm2D", "InstanceNorm3D", "Conv1D", "Conv2D", "Conv3D",
        "Conv1DTranspose", "Conv2DTranspose", "Conv3DTranspose", "SimpleRNN",
        "MultiHeadAttention",
    }  # fmt: skip
    for direction in FRAMEWORKS:
        missing = {name for name in listed if (name, direction) not in covered}
        assert not missing, f"no faithful {direction} case for {sorted(missing)}"


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "name, direction", REFUSED, ids=[f"{n}-{d}" for n, d in REFUSED]
)
def test_unfaithful_configuration_is_refused_when_emitting(name, direction):
    with pytest.raises(MappingError) as raised:
        emit_text(**spec_args(name, direction))
    message = raised.value.text
    assert CASES[name].refusal in message
    assert message.startswith("base `") and " and raw `" in message
    assert "Build both layers with the same configuration." in message


@pytest.mark.parametrize("key", sorted(RUNTIME_REFUSALS))
def test_fixed_value_that_cannot_be_copied_is_refused_at_run_time(outcomes, key):
    outcome = outcome_of(outcomes, key)
    job, fragment = RUNTIME_REFUSALS[key]
    assert outcome.get("error", "").startswith("WeightMismatchError: base `"), outcome
    assert fragment in outcome["error"]
    assert outcome["error"].endswith("Nothing was copied.")
    assert outcome["raw_unchanged"] is True


# The emit-time refusals the issue names, as a user meets them on the command line.
CLI_REFUSALS = [
    ("attention_add_bias_kv", TORCH_TO_PADDLE, "`<root>`"),
    ("in2d_running_stats_nested", TORCH_TO_PADDLE, "base `0.1` (InstanceNorm2d"),
    ("rnn_nonlinearity_mismatch", PADDLE_TO_TORCH, "raw `<root>` (RNN"),
    (
        "bn2d_torch_affine_paddle_no_affine",
        TORCH_TO_PADDLE,
        "raw `<root>` (BatchNorm2D",
    ),
]


@pytest.mark.parametrize(
    "name, direction, where", CLI_REFUSALS, ids=[c[0] for c in CLI_REFUSALS]
)
def test_cli_refuses_with_one_paragraph_and_writes_nothing(
    name, direction, where, tmp_path
):
    args = spec_args(name, direction)
    output = tmp_path / "init_weights.py"
    result = run_cli(
        "emit",
        "--base",
        args["base"],
        "--raw",
        args["raw"],
        "--base-kwargs",
        json.dumps(args["base_kwargs"]),
        "--raw-kwargs",
        json.dumps(args["raw_kwargs"]),
        "-o",
        str(output),
    )
    stderr = " ".join(
        result.stderr.split()
    )  # the CLI wraps its paragraph at 100 columns
    assert result.returncode == 1, result.stderr
    assert "padiff-gen: error: " in stderr
    assert CASES[name].refusal in stderr
    assert where in stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert list(tmp_path.iterdir()) == []  # no script, no partial file


# ---------------------------------------------------------------- corruptions


@pytest.mark.parametrize(
    "name, direction", DIFFERING, ids=[f"{n}-{d}" for n, d in DIFFERING]
)
def test_setting_that_is_not_a_weight_is_noted_and_the_weights_copied(
    name, direction, tmp_path
):
    """torchvision's Inception3 normalises with eps=0.001, paddle's with 1e-5: emit copies
    the weights, says so on stderr and in the table, and the weights are exact (outputs
    agree once the setting does)."""
    from examples.compare import output_difference, randomize
    from padiff_gen.api import assign_weight, pair_models
    from padiff_gen.codegen.report import format_pairing, pairing_data
    from tests.layer_pairs import paddle_model, torch_model

    case = CASES[name]
    args = spec_args(name, direction)
    output = tmp_path / "init_weights.py"
    result = run_cli(
        "emit",
        *("--base", args["base"], "--raw", args["raw"]),
        *("--base-kwargs", json.dumps(args["base_kwargs"])),
        *("--raw-kwargs", json.dumps(args["raw_kwargs"])),
        *("-o", str(output)),
    )
    assert result.returncode == 0, result.stderr
    stderr = " ".join(result.stderr.split())
    assert "note: the weights are copied exactly, but a setting outside them" in stderr
    for side in case.differs.split(", "):  # "torch eps=0.001": both values, as written
        framework, shown = side.split(" ", 1)
        assert f"`<root>` ({framework} " in stderr and f"has {shown}" in stderr
    assert "build the raw layer with" in stderr  # and the fix
    assert f"  # differs: {case.differs}\n" in output.read_text()
    pairing = pair_models(**args)[0]  # what inspect shows
    assert pairing_data(pairing)["pairs"][0]["differs"] == case.differs
    assert f"; differs: {case.differs}" in format_pairing(pairing)

    models = {"torch": torch_model(name), "paddle": paddle_model(name)}
    base_framework, raw_framework = FRAMEWORKS[direction]
    base, raw = models[base_framework], models[raw_framework]
    randomize(base, seed=11)
    assign_weight(base, raw)
    before = output_difference(base, raw, case.inputs)
    models["torch"].eps = models["paddle"]._epsilon  # now only the weights can differ
    assert_outputs_match(output_difference(base, raw, case.inputs))
    # ...while the setting alone made a difference well beyond the tolerance.
    assert before["max_abs_diff"] > 10 * RELATIVE_TOLERANCE * max(1.0, before["scale"])


@pytest.mark.parametrize("key", sorted(CORRUPTIONS))
def test_comparison_catches_a_corrupted_mapping(outcomes, key):
    """The faithful script passes (above); with one mapping corrupted the outputs differ."""
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]  # the shape checks cannot see it
    assert outcome["scale"] > 0.01
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(
        1.0, outcome["scale"]
    )


def test_assign_weight_refuses_like_the_script_and_leaves_raw_unchanged():
    """padiff_gen.assign_weight runs the same code in-process, with the same refusal."""
    import numpy as np

    from examples.compare import randomize
    from padiff_gen.api import assign_weight
    from padiff_gen.runtime.core.common import WeightMismatchError
    from tests.layer_pairs import paddle_model, torch_model

    base, raw = torch_model("embedding_padding_idx"), paddle_model(
        "embedding_padding_idx"
    )
    randomize(base)
    before = {name: np.array(t.numpy()) for name, t in raw.state_dict().items()}
    with pytest.raises(WeightMismatchError) as raised:
        assign_weight(base, raw)
    assert str(raised.value).startswith("base `0` -> raw `0`: row 0 (padding_idx)")
    after = {name: t.numpy() for name, t in raw.state_dict().items()}
    assert all(np.array_equal(before[name], after[name]) for name in before)
