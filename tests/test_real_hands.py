"""Models as porting engineers write them (issue 17): constants that are no weights,
paddle's torch-compatible classes, an initializer that takes only the pair it was
registered for. Models of tests/hand_pairs.py, both directions where the pair copies,
default invocation, scripts run standalone, outputs compared, negative controls.
"""

from __future__ import annotations

import re

import pytest

from conftest import RELATIVE_TOLERANCE, assert_outputs_match, check_script, run_cli
from padiff_gen.api import pair_models
from tests.hand_pairs import CASES
from tests.layer_pairs import PADDLE_TO_TORCH, TORCH_TO_PADDLE
from tests.pair_jobs import (
    Job,
    cli_args,
    outcome_of,
    run_jobs,
    selected_keys,
    spec_args,
    replace_once,
    swap_sources,
    table_rows,
)

MODULE = "tests.hand_pairs"
DIRECTIONS = (TORCH_TO_PADDLE, PADDLE_TO_TORCH)
DEFAULT = [
    "constant_index",
    "constant_index_both",
    "compat_attention",
    "stages_in_another_order",
    "root_tensor",
    "norm_shift_only",
    "norm_scale_only",
    "norm_without_shift",
]
FAITHFUL = {f"{n}-{d}": Job(n, d) for n in DEFAULT for d in DIRECTIONS}
CORRUPTIONS = {
    # paired in call order; two convs of a stage read each other's bias
    "stages-conv-biases-swapped": Job(
        "stages_in_another_order",
        TORCH_TO_PADDLE,
        corrupt=swap_sources("downsample_layers.1.bias", "stages.1.0.bias"),
    ),
    # the shift torch lacks written as 0.5, not 0; the scale as 2, not 1
    "norm-shift-not-neutral": Job(
        "norm_shift_only",
        TORCH_TO_PADDLE,
        corrupt=replace_once('("bias", 0.0)', '("bias", 0.5)'),
    ),
    "norm-scale-not-neutral": Job(
        "norm_scale_only",
        TORCH_TO_PADDLE,
        corrupt=replace_once('("weight", 1.0)', '("weight", 2.0)'),
    ),
}
# paddle's shift, random and not 0, has nowhere to go in torch's norm
REFUSED = {
    "norm-shift-learned": Job("norm_shift_only", PADDLE_TO_TORCH, prepare=False),
    "norm-scale-learned": Job("norm_scale_only", PADDLE_TO_TORCH, prepare=False),
}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, dict]:
    directory = tmp_path_factory.mktemp("hand_scripts")
    jobs = {**FAITHFUL, **CORRUPTIONS, **REFUSED}
    return run_jobs(MODULE, CASES, jobs, selected_keys(request), directory)


@pytest.mark.parametrize("key", sorted(FAITHFUL))
def test_script_makes_outputs_equal(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert_outputs_match(outcome)


@pytest.mark.parametrize("key", sorted(CORRUPTIONS))
def test_comparison_catches_a_wrong_copy(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(
        1.0, outcome["scale"]
    )


@pytest.mark.parametrize("key", sorted(REFUSED))
def test_a_one_sided_norm_tensor_not_neutral_is_refused_by_the_script(outcomes, key):
    """A shift (scale) only the base norm holds is accepted when it is 0 (1), as the
    raw norm computes; a learned one is refused, naming it, and raw is left as it was.
    """
    outcome = outcome_of(outcomes, key)
    assert "error" in outcome, outcome
    name = "bias" if "shift" in key else "weight"
    neutral = "0.0" if "shift" in key else "1.0"
    assert f"the base layer's {name} is not all {neutral}" in outcome["error"]
    assert "norm" in outcome["error"], outcome["error"]
    assert outcome["raw_unchanged"] is True


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_norms_one_side_built_without_scale_or_shift_pair_in_place(direction):
    """torch's norm holds no tensor, paddle's a shift: it was left out and every later
    layer paired one position off ("build the raw model without those layers")."""
    pairing, *_ = pair_models(**spec_args(MODULE, "norm_shift_only", direction))
    assert pairing.first_error is None, pairing.first_error
    by_path = {(p.base.path, p.raw.path): p for p in pairing.pairs}
    assert by_path["norm", "norm"].initializer.name == "init_norm_affine"
    assert by_path["out", "out"].copies
    assert by_path["proj", "proj"].initializer is None  # same tensors: table rows


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_layers_in_another_order_under_other_names_pair_in_call_order(direction):
    """Neither definition order nor paths pair them (refused before: "no unit has the
    same path and class"); the order the forward passes call them does."""
    pairing, *_ = pair_models(**spec_args(MODULE, "stages_in_another_order", direction))
    assert pairing.first_error is None, pairing.first_error
    moved = [p for p in pairing.pairs if p.matched_by == "calls"]
    assert moved, [p.matched_by for p in pairing.pairs]
    torch_unit = {
        p.base.path if direction == TORCH_TO_PADDLE else p.raw.path: (
            p.raw.path if direction == TORCH_TO_PADDLE else p.base.path
        )
        for p in pairing.pairs
    }
    assert torch_unit["down1"] == "downsample_layers.1"
    assert torch_unit["layer2.0"] == "stages.1.0"


def test_map_takes_the_model_itself_as_inspect_shows_it():
    done = run_cli(
        "emit",
        *cli_args(MODULE, "root_tensor", TORCH_TO_PADDLE),
        "--map",
        "<root>=<root>",
    )
    assert done.returncode == 0, done.stderr
    assert '("out_bias", "shift", "copy", (8,), (8,))' in done.stdout


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_constant_one_side_keeps_neither_pairs_nor_is_copied(direction):
    """Swin's relative_position_index: in paddle's state, not in torch's. It is no
    weight, so the models pair (they were refused: "tensor counts differ") and no row
    copies it."""
    pairing, *_ = pair_models(**spec_args(MODULE, "constant_index", direction))
    assert pairing.first_error is None, pairing.first_error
    rows = [c.raw.path for p in pairing.pairs for c in p.copies]
    assert "relative_position_index" not in " ".join(rows)
    assert "relative_position_bias_table" in " ".join(rows)


def test_a_constant_both_keep_is_compared_and_a_difference_said(monkeypatch, capfd):
    """Kept by both, compared: equal says nothing; a different one is named with both
    values (the models compute different functions)."""
    done = run_cli("emit", *cli_args(MODULE, "constant_index_both", TORCH_TO_PADDLE))
    assert done.returncode == 0, done.stderr
    assert "constants" not in done.stderr
    from tests import hand_pairs

    original = hand_pairs._relative_index

    def shifted(framework):
        index = original(framework)
        return index.flip(0) if framework == "torch" else index

    monkeypatch.setattr(hand_pairs, "_relative_index", shifted)
    capfd.readouterr()
    pair_models(**spec_args(MODULE, "constant_index_both", TORCH_TO_PADDLE))
    said = " ".join(capfd.readouterr().err.split())  # padiff-gen's notes, on stderr
    assert (
        "base `relative_position_index` and raw `relative_position_index` are "
        "constants the models compute when built" in said
    ), said
    assert "they differ ([9, 9] [" in said


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_paddle_compat_attention_is_copied_as_is_checked_on_the_layer(direction):
    """paddle.compat.nn.MultiheadAttention keeps torch's tensors: the built-in
    attention initializer (torch against paddle.nn's) does not take it; the pair is
    copied tensor by tensor, and running the attention in both models checks it."""
    pairing, *_ = pair_models(**spec_args(MODULE, "compat_attention", direction))
    assert pairing.first_error is None, pairing.first_error
    rows = {c.raw.path: c for p in pairing.pairs for c in p.copies}
    assert rows["attn.in_proj_weight"].transform.text() == "copy"
    assert "checked by running `attn` alone in both models" in (
        rows["attn.in_proj_weight"].condition
    )


def test_a_copy_of_layers_that_compute_apart_is_refused_on_the_layer(monkeypatch):
    """Negative control: the same tensors, a forward that reads them otherwise (the
    compat attention with q and k swapped): running the attention refuses the copy."""
    import paddle

    from tests import hand_pairs

    class SwappedCompat(paddle.compat.nn.MultiheadAttention):
        def forward(self, query, key, value, *args, **kwargs):
            return super().forward(key, query, value, *args, **kwargs)

    class Model(hand_pairs.PaddleCompatAttentionModel):
        def __init__(self):
            super().__init__()
            self.attn = SwappedCompat(
                hand_pairs.EMBED, hand_pairs.HEADS, batch_first=True
            )

        def forward(self, x):
            return self.attn(x, x * 2.0, x)[0]

    monkeypatch.setattr(hand_pairs, "PaddleCompatAttentionModel", Model)
    monkeypatch.setitem(
        hand_pairs.CASES,
        "compat_attention",
        hand_pairs.CASES["compat_attention"].__class__(
            hand_pairs.TorchAttentionModel, Model, ()
        ),
    )
    pairing, *_ = pair_models(**spec_args(MODULE, "compat_attention", TORCH_TO_PADDLE))
    message = " ".join(str(pairing.first_error).split())
    assert "correspond only conditionally" in message, message
    assert "running `attn` alone in both models" in message


def test_an_initializer_takes_only_the_pair_it_was_registered_for(tmp_path):
    """(torch Linear, paddle TiedOutput): every other torch Linear pairs with its paddle
    Linear by the table, the head goes to the initializer; no --map needed."""
    script = tmp_path / "init_weights.py"
    done = run_cli(
        "emit",
        *cli_args(MODULE, "output_layer_initializer", TORCH_TO_PADDLE),
        "--init-module",
        "tests.fixtures.init_tied_output",
        "-o",
        str(script),
    )
    assert done.returncode == 0, done.stderr
    text = script.read_text()
    assert '("head", "head", "init_tied_output")' in text
    for index in range(4):
        assert f'("blocks.{index}.weight", "blocks.{index}.weight", "transpose"' in text
    outcome = check_script(script, list(CASES["output_layer_initializer"].inputs))
    assert_outputs_match(outcome)
    assert outcome["max_abs_diff"] <= RELATIVE_TOLERANCE * max(1.0, outcome["scale"])


# ---------------------------------------------------------------- diagnostics


def test_verify_replays_the_layers_holding_a_wrong_fused_layout():
    """A wrong --layout for the fused q/k/v: verify names the attention holding it and
    its layout, not "the models' forward code" (it replayed no fused pair before)."""
    from padiff_gen.verify import verify

    result = verify(
        "torch:tests.block_pairs.torch_model",
        "paddle:tests.block_pairs.paddle_model",
        ["2,6:int64:40"],
        base_kwargs={"case": "rotary_lm"},
        raw_kwargs={"case": "rotary_lm"},
        layouts=["qkv_proj=q_proj,k_proj,v_proj"],
    )
    said = " ".join(result.report().split())
    assert result.first_layer is not None
    assert result.first_layer.base_path == "model.layers.0.self_attn", said
    assert "copied as: q_proj, k_proj, v_proj one after the other" in said
    assert "forward code" not in said


def test_inspect_says_an_undecided_layout_and_json_agrees_with_the_exit_status():
    args = cli_args("tests.block_pairs", "scaled_lm", TORCH_TO_PADDLE)
    text = run_cli("inspect", *args)
    assert text.returncode == 1
    assert "2 pairs undecided; the first:" in text.stdout
    assert "--layout qkv_proj=" in " ".join(text.stdout.split())
    data = run_cli("inspect", "--json", *args)
    assert data.returncode == 1
    import json

    found = json.loads(data.stdout)
    assert found["ok"] is False
    assert [u["raw"] for u in found["undecided"]] == [
        "model.layers.0.self_attn.qkv_proj",
        "model.layers.1.self_attn.qkv_proj",
    ]


def test_a_map_without_an_initializer_says_it_is_copied_by_rows():
    done = run_cli(
        "emit",
        *cli_args(MODULE, "constant_index", TORCH_TO_PADDLE),
        "--map",
        "proj=proj",
    )
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stderr.split())
    assert (
        "--map proj=proj: no special initializer is registered for torch Linear / "
        "paddle Linear, so the map only pairs the two layers" in said
    ), said


# ---------------------------------------------------------------- tied heads


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_tied_head_against_a_matmul_with_the_embedding_copies_once(
    direction, tmp_path
):
    """torch's head holds the embedding's weight; paddle computes the logits with it in
    forward code. The tensor is one tensor, copied once; the head pairs with nothing,
    checked by running both models (it was refused: "4 units ... 3")."""
    script = tmp_path / "init_weights.py"
    done = run_cli(
        "emit",
        *cli_args(MODULE, "tied_head_against_matmul", direction),
        "-o",
        str(script),
    )
    assert done.returncode == 0, done.stderr
    outcome = check_script(script, list(CASES["tied_head_against_matmul"].inputs))
    assert_outputs_match(outcome)
    pairing, *_ = pair_models(
        **spec_args(MODULE, "tied_head_against_matmul", direction)
    )
    [head] = [p for p in pairing.pairs if p.matched_by == "tied"]
    assert "checked by running `<root>` alone in both models" in head.layout


def test_a_tied_head_the_other_model_computes_otherwise_is_refused():
    done = run_cli(
        "emit", *cli_args(MODULE, "tied_head_against_other_matmul", TORCH_TO_PADDLE)
    )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert (
        "base `lm_head` (Linear) only holds a tied tensor (`lm_head.weight` is "
        "`embed.weight`)" in message
    ), message
    assert "made their outputs differ by" in message


@pytest.mark.parametrize(
    "direction, checkpoint, output",
    [
        (TORCH_TO_PADDLE, "base.pt", "raw.pdparams"),
        (PADDLE_TO_TORCH, "base.pdparams", "raw.pt"),
    ],
)
def test_conversion_writes_what_init_weights_writes_through_a_tie(
    direction, checkpoint, output, tmp_path
):
    """An output layer sharing the embedding's weight, copied by an initializer that
    writes its bias: init_weights copied it in memory, but the conversion refused ("did
    not write raw `out.weight`", which the table writes through the tie)."""
    import paddle
    import torch

    from examples.compare import output_difference, randomize
    from test_checkpoint import run_script

    script = tmp_path / "init_weights.py"
    done = run_cli(
        "emit",
        *cli_args(MODULE, "tied_output_layer_initializer", direction),
        "--init-module",
        "tests.fixtures.init_tied_layer",
        "-o",
        str(script),
    )
    assert done.returncode == 0, done.stderr
    case = CASES["tied_output_layer_initializer"]
    assert_outputs_match(check_script(script, list(case.inputs)))
    base, raw = (
        (case.torch(), case.paddle())
        if direction == TORCH_TO_PADDLE
        else (case.paddle(), case.torch())
    )
    randomize(base, seed=5)
    source = tmp_path / checkpoint
    if direction == TORCH_TO_PADDLE:
        torch.save(base.state_dict(), source)
    else:
        paddle.save(base.state_dict(), str(source))
    converted = run_script(script, "--base-ckpt", source, "-o", tmp_path / output)
    assert converted.returncode == 0, converted.stderr
    if direction == TORCH_TO_PADDLE:
        missing, unexpected = raw.set_state_dict(paddle.load(str(tmp_path / output)))
        assert not missing and not unexpected
    else:
        raw.load_state_dict(torch.load(tmp_path / output, weights_only=True))
    outcome = output_difference(base, raw, list(case.inputs))
    assert_outputs_match(outcome)


@pytest.mark.parametrize(
    "direction, checkpoint, output",
    [
        (TORCH_TO_PADDLE, "base.pt", "raw.pdparams"),
        (PADDLE_TO_TORCH, "base.pdparams", "raw.pt"),
    ],
)
def test_conversion_keeps_a_constant_only_the_raw_model_holds(
    direction, checkpoint, output, tmp_path
):
    """paddle keeps the position index in its state, torch does not: converting to
    paddle writes paddle's own index (no row writes it); to torch, there is none."""
    import paddle
    import torch

    from examples.compare import output_difference, randomize
    from test_checkpoint import run_script

    case = CASES["constant_index"]
    script = tmp_path / "init_weights.py"
    done = run_cli(
        "emit", *cli_args(MODULE, "constant_index", direction), "-o", str(script)
    )
    assert done.returncode == 0, done.stderr
    base, raw = (
        (case.torch(), case.paddle())
        if direction == TORCH_TO_PADDLE
        else (case.paddle(), case.torch())
    )
    randomize(base, seed=6)
    source = tmp_path / checkpoint
    if direction == TORCH_TO_PADDLE:
        torch.save(base.state_dict(), source)
    else:
        paddle.save(base.state_dict(), str(source))
    converted = run_script(script, "--base-ckpt", source, "-o", tmp_path / output)
    assert converted.returncode == 0, converted.stderr
    if direction == TORCH_TO_PADDLE:
        state = paddle.load(str(tmp_path / output))
        assert "relative_position_index" in state
        missing, unexpected = raw.set_state_dict(state)
        assert not missing and not unexpected
    else:
        raw.load_state_dict(torch.load(tmp_path / output, weights_only=True))
    assert_outputs_match(output_difference(base, raw, list(case.inputs)))


@pytest.mark.parametrize(
    "case_name",
    ["norm_shift_only", "norm_scale_only", "norm_without_shift", "two_input_port"],
)
@pytest.mark.parametrize(
    "direction, checkpoint, output",
    [
        (TORCH_TO_PADDLE, "base.pt", "raw.pdparams"),
        (PADDLE_TO_TORCH, "base.pdparams", "raw.pt"),
    ],
)
def test_conversion_writes_the_neutral_tensor_a_norm_lacks(
    case_name, direction, checkpoint, output, tmp_path
):
    """A checkpoint converts as init_weights copies: the shift (scale) only paddle holds
    is written as 0 (1) into paddle's checkpoint, and read from paddle's, where it is
    that value, into nothing. torch's integer step counter, which paddle lacks and
    torch's weightless build has no value for, is read from torch built with its
    tensors (it was refused: "has no value for it")."""
    import paddle
    import torch

    from examples.compare import output_difference, randomize
    from test_checkpoint import run_script
    from tests import hand_pairs

    case = CASES[case_name]
    script = tmp_path / "init_weights.py"
    inputs = PORT_INPUTS if case_name == "two_input_port" else ()
    done = run_cli(
        "emit", *cli_args(MODULE, case_name, direction), *inputs, "-o", str(script)
    )
    assert done.returncode == 0, done.stderr
    base, raw = (
        (case.torch(), case.paddle())
        if direction == TORCH_TO_PADDLE
        else (case.paddle(), case.torch())
    )
    randomize(base, seed=7)
    randomize(raw, seed=8)  # so that an unwritten tensor shows
    hand_pairs.zero_one_sided_tensors(base)
    source = tmp_path / checkpoint
    if direction == TORCH_TO_PADDLE:
        torch.save(base.state_dict(), source)
    else:
        paddle.save(base.state_dict(), str(source))
    converted = run_script(script, "--base-ckpt", source, "-o", tmp_path / output)
    assert converted.returncode == 0, converted.stderr
    if direction == TORCH_TO_PADDLE:
        missing, unexpected = raw.set_state_dict(paddle.load(str(tmp_path / output)))
        assert not missing and not unexpected
    else:
        raw.load_state_dict(torch.load(tmp_path / output, weights_only=True))
    assert_outputs_match(output_difference(base, raw, list(case.inputs)))


# ---------------------------------------------------------------- a port by hand

PORT_INPUTS = ("--input", f"2,5:int64:{10}", "--input", "2,5")


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize(
    "case, inputs, lost",
    [
        ("missing_ffn2", (), "`encoder.1.ffn2` (Linear, "),
        # Renamed, reordered, a fused projection on one side, the norm lost: in
        # definition order the first pair that fails is a later one; in call order
        # the lost norm is named (a fused unit is compared by its elements, so the
        # search for a lost layer goes past it).
        ("port_lost_norm", PORT_INPUTS, "`norm` (GroupNorm"),
    ],
)
def test_a_missing_layer_is_named_first_not_the_pair_after_it(
    direction, case, inputs, lost
):
    done = run_cli("emit", *cli_args(MODULE, case, direction), *inputs)
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    lacking, having = (
        ("raw", "base") if direction == TORCH_TO_PADDLE else ("base", "raw")
    )
    assert message.startswith(
        f"padiff-gen: error: The {lacking} model lacks {having} {lost}"
    ), message
    assert "without it the rest pairs in order" in message
    assert "Traceback" not in done.stderr


def test_a_renamed_reordered_port_without_a_guessable_input_asks_for_one():
    """forward(tokens, mask): no input padiff-gen can guess runs it, so the order a
    forward pass calls the layers is unknown; the error says how to give it."""
    done = run_cli("emit", *cli_args(MODULE, "two_input_port", TORCH_TO_PADDLE))
    assert done.returncode == 1
    said = " ".join(done.stderr.split())
    assert "no input it could guess runs the models (forward(tokens, mask))" in said
    assert "give one --input per argument" in said
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_renamed_reordered_port_pairs_in_call_order_given_inputs(direction, tmp_path):
    """Every layer renamed and defined in another order, a fused key/value projection
    against two Linear layers, the model's own tensors under other names in another
    order (paired by their shapes), an integer counter only torch keeps (no weight):
    with --input, the layers pair in call order and the outputs agree; a copy of the
    wrong one of two same-shaped tensors shows in the outputs."""
    script = tmp_path / "init_weights.py"
    done = run_cli(
        "emit",
        *cli_args(MODULE, "two_input_port", direction),
        *PORT_INPUTS,
        "-o",
        str(script),
    )
    assert done.returncode == 0, done.stderr
    inputs = list(CASES["two_input_port"].inputs)
    assert_outputs_match(check_script(script, inputs))
    text = script.read_text()
    # The note and the header count the pairs by how they were matched (they said
    # "matched by name" / "matched by path" for pairs matched in call order).
    said = " ".join(done.stderr.split())
    header = " ".join(text.split('"""')[1].split())
    assert "# matched in call order" in text
    assert re.search(
        r"layer pairs? (was|were) not paired in definition order: "
        r"\d+ matched in call order",
        said,
    ), said
    assert re.search(
        r"layer pairs? (is|are) not paired in definition order: "
        r"\d+ matched in call order \(marked in the tables\)",
        header,
    ), header
    rows = {row[1]: row for _, row in table_rows(text)}
    if direction == TORCH_TO_PADDLE:
        assert rows["summary"][0] == "cls_token" and rows["gain"][0] == "scale"
        wrong = swap_sources("mixer.bias", "gain")(text)  # by raw path
    else:
        assert rows["cls_token"][0] == "summary" and rows["scale"][0] == "gain"
        wrong = swap_sources("conv.bias", "scale")(text)
    assert "steps" not in rows
    script.write_text(wrong)
    outcome = check_script(script, inputs)
    assert "error" not in outcome, outcome["error"]
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(
        1.0, outcome["scale"]
    )


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_verify_in_process_passes_a_right_fused_layout(direction):
    """The fused key/value projection against two Linear layers: verify compared the
    fused Linear with the layer holding the two ("output shapes [2, 6, 16] (base) vs
    [2, 6, 8] (raw)") and failed a right copy; the layers holding both are compared."""
    from padiff_gen.verify import verify

    args = spec_args(MODULE, "two_input_port", direction)
    result = verify(
        args["base"],
        args["raw"],
        ["2,5:int64:10", "2,5"],
        base_kwargs=args["base_kwargs"],
        raw_kwargs=args["raw_kwargs"],
    )
    assert result.equal and result.first_layer is None, result.report()
