"""The layouts of real model libraries, both directions, with the default invocation.

For each pair of tests/layout_pairs.py (an LM head of its own class, GPT-2's Conv1D,
fused q/k/v and gate/up, stacked experts, layers defined in another order under other
class names, tied embeddings, a BatchNorm subclass, convs that compute a Linear,
Embedding padding rows) the generated script, run standalone on a base model with random
weights, makes both models compute the same outputs; or emit refuses, naming the layer.
Negative controls corrupt one row of a faithful script (a wrong grouping, gate and up
swapped, a square matrix transposed) and check that the comparison catches it.
"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from conftest import RELATIVE_TOLERANCE, assert_outputs_match, check_script, run_cli
from examples.compare import output_difference, randomize
from padiff_gen.api import emit_text, pair_models
from padiff_gen.errors import MappingError
from padiff_gen.codegen.report import pairing_data
from tests.layer_pairs import PADDLE_TO_TORCH, TORCH_TO_PADDLE
from tests.layout_pairs import CASES
from tests.pair_jobs import (
    FRAMEWORKS,
    Job,
    cli_args,
    outcome_of,
    reverse_sources,
    run_jobs,
    selected_keys,
    set_transform,
    spec_args,
    swap_raw_paths,
    swap_sources,
)

MODULE = "tests.layout_pairs"

FAITHFUL = {
    f"{name}-{direction}": Job(name, direction)
    for name, case in CASES.items()
    for direction in case.directions
}
REFUSED = [
    (name, direction)
    for name, case in CASES.items()
    for direction in FRAMEWORKS
    if direction not in case.directions
]
CORRUPTIONS = {
    # q, k, v one after the other where the model reads them grouped per KV head
    "qkv-grouping-dropped": Job(
        "qkv_grouped_gqa",
        TORCH_TO_PADDLE,
        corrupt=set_transform("qkv_proj.weight", ", groups=2", ""),
    ),
    "qkv-split-grouping-dropped": Job(
        "qkv_grouped_gqa",
        PADDLE_TO_TORCH,
        corrupt=set_transform("k_proj.weight", ", groups=2", ""),
    ),
    "gate-and-up-swapped": Job(
        "gate_up_fused", TORCH_TO_PADDLE, corrupt=reverse_sources("up_gate_proj.weight")
    ),
    "expert-slices-swapped": Job(
        "stacked_experts_separate",
        TORCH_TO_PADDLE,
        corrupt=swap_raw_paths(
            "experts.0.gate_proj.weight", "experts.0.up_proj.weight"
        ),
    ),
    "square-conv1d-transposed": Job(
        "gpt2_conv1d",
        TORCH_TO_PADDLE,
        corrupt=set_transform("c_square.weight", "copy", "transpose"),
    ),
    "lm-head-transposed": Job(
        "lm_head_class_square",
        PADDLE_TO_TORCH,
        corrupt=set_transform("lm_head.weight", "copy", "transpose"),
    ),
    "conv-head-flattened-in-another-order": Job(
        "conv_classifier_over_feature_map",
        TORCH_TO_PADDLE,
        corrupt=set_transform(
            "classifier.weight",
            "reshape(shape=(5, 96))",
            "transpose | reshape(shape=(5, 96))",
        ),
    ),
    # a square stack of matrices copied where the run of the layers said transpose
    "square-stacked-matrices-copied": Job(
        "stacked_matrices_square",
        TORCH_TO_PADDLE,
        corrupt=set_transform("1.mix", "transpose", "copy"),
    ),
    "square-stacked-matrices-transposed": Job(
        "stacked_matrices_square_alike",
        PADDLE_TO_TORCH,
        corrupt=set_transform("1.mix", "copy", "transpose"),
    ),
    # weight_norm's g is [out, 1, 1, 1] in torch, [out] in paddle: reshaped, not lost
    "weight-norm-g-taken-from-the-bias": Job(
        "weight_norm_convs",
        TORCH_TO_PADDLE,
        corrupt=swap_sources("0.weight_g", "0.bias"),
    ),
}
ALL_JOBS = {**FAITHFUL, **CORRUPTIONS}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, dict]:
    directory = tmp_path_factory.mktemp("layout_scripts")
    return run_jobs(MODULE, CASES, ALL_JOBS, selected_keys(request), directory)


@pytest.mark.parametrize("key", sorted(FAITHFUL))
def test_script_makes_outputs_equal(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert_outputs_match(outcome)


@pytest.mark.parametrize("key", sorted(CORRUPTIONS))
def test_comparison_catches_a_wrong_layout(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]  # the shape checks cannot see it
    assert outcome["scale"] > 0.01
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(
        1.0, outcome["scale"]
    )


@pytest.mark.parametrize(
    "name, direction", REFUSED, ids=[f"{n}-{d}" for n, d in REFUSED]
)
def test_what_cannot_be_copied_is_refused_naming_the_layer(name, direction):
    with pytest.raises(MappingError) as raised:
        emit_text(**spec_args(MODULE, name, direction))
    assert CASES[name].refusal in raised.value.text


# ---------------------------------------------------------------- the tables


def script_rows(name: str, direction: str) -> str:
    text = emit_text(**spec_args(MODULE, name, direction))
    return text[text.index("TENSOR_TABLE = (") : text.index("# fmt: on")]


def test_a_fused_tensor_is_one_row_naming_its_sources_and_layout():
    rows = script_rows("qkv_grouped_gqa", TORCH_TO_PADDLE)
    row = next(line for line in rows.splitlines() if '"qkv_proj.weight"' in line)
    assert '("q_proj.weight", "k_proj.weight", "v_proj.weight")' in row
    assert '"transpose | concatenate(axis=1, groups=2)"' in row
    assert "# q_proj, k_proj, v_proj in 2 groups (per KV head)" in row
    # The split direction: one row per raw tensor, each naming the part it takes.
    rows = script_rows("qkv_grouped_gqa", PADDLE_TO_TORCH)
    row = next(line for line in rows.splitlines() if '"v_proj.weight"' in line)
    assert (
        '"split(axis=1, sizes=(16, 8, 8), groups=2) | item(index=2) | transpose"' in row
    )


def test_the_class_of_a_layer_decides_no_transpose_by_itself():
    """GPT-2's Conv1D is [in, out] like paddle's Linear: nothing is transposed, the
    square one because running it showed x @ W."""
    rows = script_rows("gpt2_conv1d", TORCH_TO_PADDLE)
    assert '"transpose"' not in rows
    assert rows.count('"copy"') == 6


def test_inspect_json_carries_the_composite_rows():
    pairing = pair_models(
        **spec_args(MODULE, "stacked_experts_separate", PADDLE_TO_TORCH)
    )[0]
    data = pairing_data(pairing)
    stacked = next(p for p in data["pairs"] if p["raw"]["path"] == "experts")
    assert stacked["how"] == "layout"
    row = next(c for c in stacked["copies"] if c["raw"] == "experts.gate_up_proj")
    assert row["base"][:2] == ["experts.0.gate_proj.weight", "experts.0.up_proj.weight"]
    assert (
        row["transform"] == "transpose | concatenate(axis=0, every=2) | stack(axis=0)"
    )


def test_undecidable_layout_is_refused_with_the_choices(tmp_path):
    """Without an input that runs the models, shapes alone cannot tell plain from
    grouped q/k/v: emit refuses, listing --layout choices; one of them settles it."""
    args = cli_args(MODULE, "qkv_grouped_gqa", TORCH_TO_PADDLE)
    result = run_cli("emit", *args, "--input", "3,7,5", "-o", str(tmp_path / "a.py"))
    assert result.returncode == 1, result.stderr
    stderr = " ".join(result.stderr.split())
    assert (
        "base `{q_proj,k_proj,v_proj}` (Linear) and raw `qkv_proj` (Linear)" in stderr
    )
    assert "--layout qkv_proj=q_proj,k_proj,v_proj/2" in stderr
    assert "did not run with --input 3,7,5" in stderr
    assert not (tmp_path / "a.py").exists()
    chosen = run_cli(
        "emit",
        *args,
        "--layout",
        "qkv_proj=q_proj,k_proj,v_proj/2",
        "-o",
        str(tmp_path / "b.py"),
    )
    assert chosen.returncode == 0, chosen.stderr
    text = (tmp_path / "b.py").read_text()
    assert "(--layout qkv_proj=q_proj,k_proj,v_proj/2)" in text
    assert "--layout qkv_proj=q_proj,k_proj,v_proj/2" in text.splitlines()[2]


def test_a_copy_that_computes_apart_is_not_reported_silently(tmp_path):
    """Stacked experts holding [up, gate] against per-expert [gate, up]: the shapes pair
    one to one, so emit writes the script, but it runs both models afterwards and warns
    that their outputs differ, pointing to verify."""
    args = cli_args(MODULE, "stacked_experts_other_gate_up_order", TORCH_TO_PADDLE)
    result = run_cli("emit", *args, "-o", str(tmp_path / "init.py"))
    assert result.returncode == 0, result.stderr
    stderr = " ".join(result.stderr.split())
    assert "warning: padiff-gen ran both models on input 2,4,16" in stderr
    assert "Run `padiff-gen verify` to find the layer" in stderr
    # A faithful pair gets no such warning.
    args = cli_args(MODULE, "stacked_experts_fused", TORCH_TO_PADDLE)
    result = run_cli("emit", *args, "-o", str(tmp_path / "good.py"))
    assert result.returncode == 0 and "warning:" not in result.stderr, result.stderr


def test_a_layer_the_whole_model_never_reaches_is_run_alone():
    """The paddle model cannot run past a layer before its attention (a kernel this
    machine lacks): the grouped q/k/v layout is found by running the attention alone
    on the input the torch attention received, in both directions."""
    rows = script_rows("qkv_grouped_unreached", TORCH_TO_PADDLE)
    row = next(line for line in rows.splitlines() if '"attn.qkv_proj.weight"' in line)
    assert "concatenate(axis=1, groups=2)" in row
    rows = script_rows("qkv_grouped_unreached", PADDLE_TO_TORCH)
    row = next(line for line in rows.splitlines() if '"attn.k_proj.weight"' in line)
    assert "groups=2" in row


def test_a_tied_embedding_keeps_its_padding_row_for_the_head(tmp_path):
    """paddle -> torch, both heads tied to the embedding: the row at paddle's
    padding_idx is copied as it is (the head computes with it) and the lookup
    difference is noted; zeroing it, as the Embedding initializer does for a table
    used once, would change the head's outputs (the negative control)."""
    text = emit_text(
        **spec_args(MODULE, "lm_head_both_tied_padding_row", PADDLE_TO_TORCH)
    )
    row = next(line for line in text.splitlines() if line.startswith('    ("embed.'))
    assert '"copy"' in row
    assert "# differs: torch looks every row up, paddle outputs zeros at row 23" in row
    assert "def init_embedding" not in text
    script = tmp_path / "tied.py"
    script.write_text(text)
    spec = importlib.util.spec_from_file_location("tied_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    base = module.build_model(module.BASE_SPEC)
    raw = module.build_model(module.RAW_SPEC)
    randomize(base, 0)
    module.init_weights(base, raw)
    inputs = CASES["lm_head_both_tied_padding_row"].inputs
    assert output_difference(base, raw, inputs)["max_abs_diff"] < 1e-5
    with torch.no_grad():
        raw.embed.weight[raw.embed.padding_idx] = 0.0
    zeroed = output_difference(base, raw, inputs)
    assert zeroed["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(1.0, zeroed["scale"])


@pytest.mark.parametrize("direction", [TORCH_TO_PADDLE, PADDLE_TO_TORCH])
def test_a_difference_elsewhere_does_not_hide_a_layout(direction, tmp_path):
    """paddle's forward code doubles the attention's input: no q/k/v layout makes the
    models agree. The attention run alone on what its base counterpart received still
    decides the grouped layout, and emit's check after copying reports the difference
    that remains (verify then finds where)."""
    torch_side = f"torch:{MODULE}.TorchNormAttention"
    paddle_side = f"paddle:{MODULE}.PaddleNormAttention"
    base, raw = (
        (torch_side, paddle_side)
        if direction == TORCH_TO_PADDLE
        else (paddle_side, torch_side)
    )
    script = tmp_path / "init_weights.py"
    result = run_cli("emit", "--base", base, "--raw", raw, "-o", str(script))
    assert result.returncode == 0, result.stderr
    assert "their outputs differ by" in " ".join(result.stderr.split())
    grouped = [
        line
        for line in script.read_text().splitlines()
        if "groups=2" in line
        and "(found by running `attn` alone in both models)" in line
    ]
    assert grouped


def test_inspect_does_not_call_an_undecided_layout_paired():
    args = cli_args(MODULE, "qkv_grouped_gqa", TORCH_TO_PADDLE)
    result = run_cli("inspect", *args, "--input", "3,7,5")
    assert "UNDECIDED: 12 layouts fit" in result.stdout
    summary = " ".join(result.stdout.split())
    assert "1 undecided (several layouts fit)" in summary
    assert "Everything pairs." not in summary


@pytest.mark.parametrize(
    "case, direction, corrupt",
    [
        ("stacked_matrices", TORCH_TO_PADDLE, False),
        ("stacked_matrices", PADDLE_TO_TORCH, False),
        ("stacked_matrices_square", TORCH_TO_PADDLE, False),
        # negative control: the square stack copied, not transposed
        ("stacked_matrices_square", TORCH_TO_PADDLE, True),
    ],
)
def test_stacked_matrices_convert_a_checkpoint(tmp_path, case, direction, corrupt):
    """The script as a program converts a checkpoint of stacks of matrices (transposed
    whole, not in 2-D blocks) that the raw model then computes like the base with."""
    import paddle

    from test_checkpoint import run_script
    from tests.pair_jobs import spec_args

    text = emit_text(**spec_args(MODULE, case, direction))
    if corrupt:
        row = '("1.mix", "1.mix", "transpose",'
        assert row in text
        text = text.replace(row, row.replace("transpose", "copy"))
    script = tmp_path / "convert_script.py"
    script.write_text(text)
    base_framework = FRAMEWORKS[direction][0]
    build = {
        "torch": lambda: CASES[case].torch(),
        "paddle": lambda: CASES[case].paddle(),
    }
    base = build[base_framework]()
    randomize(base, seed=11)
    if base_framework == "torch":
        checkpoint, output = tmp_path / "base.pt", tmp_path / "raw.pdparams"
        torch.save(base.state_dict(), checkpoint)
    else:
        checkpoint, output = tmp_path / "base.pdparams", tmp_path / "raw.pt"
        paddle.save(base.state_dict(), str(checkpoint))
    result = run_script(script, "--base-ckpt", checkpoint, "-o", output)
    assert result.returncode == 0, result.stderr
    raw = build[FRAMEWORKS[direction][1]]()
    if base_framework == "torch":
        raw.set_state_dict(paddle.load(str(output)))
    else:
        raw.load_state_dict(torch.load(output))
    difference = output_difference(base, raw, CASES[case].inputs)
    if corrupt:
        limit = 10 * RELATIVE_TOLERANCE * max(1.0, difference["scale"])
        assert difference["max_abs_diff"] > limit, difference
    else:
        assert_outputs_match(difference)


@pytest.mark.parametrize("direction", [TORCH_TO_PADDLE, PADDLE_TO_TORCH])
def test_a_square_stack_nothing_can_run_is_answered_with_layout(tmp_path, direction):
    """The question names both choices; each answer is taken as given (the row's
    comment says so) and only the right one makes the outputs equal."""
    name = "stacked_matrices_square_unrunnable"
    with pytest.raises(MappingError) as raised:
        emit_text(**spec_args(MODULE, name, direction))
    assert "--layout mixer=copy" in raised.value.text
    assert "--layout mixer=transpose" in raised.value.text
    difference = {}
    for answer in ("copy", "transpose"):
        text = emit_text(
            **spec_args(MODULE, name, direction), layouts=[f"mixer={answer}"]
        )
        assert f"# --layout mixer={answer}" in text
        path = tmp_path / f"answer_{answer}.py"
        path.write_text(text)
        difference[answer] = check_script(path, list(CASES[name].inputs))
    assert_outputs_match(difference["transpose"])
    wrong = difference["copy"]
    assert wrong["max_abs_diff"] > 10 * RELATIVE_TOLERANCE * max(1.0, wrong["scale"])
