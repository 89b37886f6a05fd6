"""Layouts decided on the smallest part of the models that holds them (issue 16).

The pairs of tests/block_pairs.py: a causal LM whose attention takes rotary cos/sin from
the model (so it runs only on what the model passes it), the same with the other q/k/v
layout, a vision-language model no guessed input runs whole, the LM at a size padiff-gen
does not run whole, a decoder that no guessed input runs at all, and vocoders whose first
layer is weight-normalised. Every faithful script runs standalone and makes the outputs
agree; negative controls show the comparison and the block runs would catch a wrong
layout.
"""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from conftest import RELATIVE_TOLERANCE, assert_outputs_match, run_cli
from padiff_gen.analysis.evidence import block_probe, probe_models
from padiff_gen.analysis.analyze import analyze
from padiff_gen.api import as_proxy, emit_text, map_options, pair_models
from padiff_gen.analysis.compare_settings import settings_note
from padiff_gen.codegen.report import format_pairing
from padiff_gen.analysis.evidence.layout_probe import PROBE_MAX_ELEMENTS, question_kind
from padiff_gen.special_init import global_special_init_pool
from tests import block_pairs
from tests.block_pairs import BIG_VOCAB, CASES
from tests.layer_pairs import PADDLE_TO_TORCH, TORCH_TO_PADDLE
from tests.pair_jobs import (
    Job,
    cli_args,
    outcome_of,
    reverse_sources,
    run_jobs,
    selected_keys,
    set_transform,
    spec_args,
    table_rows,
)

MODULE = "tests.block_pairs"
# gate and up as the paddle MLP reads them (given: without an activation on one side,
# no layout makes the MLPs agree)
GATE_UP = "up_gate_proj=gate_proj,up_proj"
DIRECTIONS = (TORCH_TO_PADDLE, PADDLE_TO_TORCH)
# scaled_lm needs --input (see test_a_block_nothing_runs_is_refused_naming_it)
RUNS = [name for name in CASES if name != "scaled_lm"]
FAITHFUL = {
    f"{name}-{direction}": Job(name, direction)
    for name in RUNS
    for direction in DIRECTIONS
}
CORRUPTIONS = {
    # q, k, v one after the other where the attention reads them grouped per KV head
    "rotary-lm-grouping-dropped": Job(
        "rotary_lm",
        TORCH_TO_PADDLE,
        corrupt=set_transform(
            "model.layers.0.self_attn.qkv_proj.weight", ", groups=2", ""
        ),
    ),
    "vlm-gate-and-up-swapped": Job(
        "vlm",
        TORCH_TO_PADDLE,
        corrupt=reverse_sources("language_model.layers.1.mlp.up_gate_proj.weight"),
    ),
}


@pytest.fixture(scope="module")
def outcomes(request, tmp_path_factory) -> dict[str, dict]:
    directory = tmp_path_factory.mktemp("block_scripts")
    jobs = {**FAITHFUL, **CORRUPTIONS}
    return run_jobs(MODULE, CASES, jobs, selected_keys(request), directory)


@pytest.mark.parametrize("key", sorted(FAITHFUL))
def test_script_makes_outputs_equal(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert_outputs_match(outcome)


@pytest.mark.parametrize("key", sorted(CORRUPTIONS))
def test_comparison_catches_a_wrong_layout(outcomes, key):
    outcome = outcome_of(outcomes, key)
    assert "error" not in outcome, outcome["error"]
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * max(
        1.0, outcome["scale"]
    )


def _layouts(text: str) -> dict[str, tuple[str, str]]:
    """Raw tensor -> (transform, the row's comment) of every composite table row."""
    lines = text.splitlines()
    found = {}
    for number, row in table_rows(text):
        if row[2] not in ("copy", "transpose", "reshape"):
            found[row[1]] = (row[2], lines[number].partition("  # ")[2])
    return found


def _qkv(rows: dict) -> list[str]:
    return [
        c for path, (_, c) in rows.items() if re.search(r"(qkv|[qkv])_proj\.", path)
    ]


@pytest.mark.parametrize(
    "case, grouping",
    [
        ("rotary_lm", "in 2 groups (per KV head)"),
        ("rotary_lm_plain", "one after the other"),
    ],
)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_the_attention_decides_its_layout_on_what_the_model_passes_it(
    case, grouping, direction
):
    """The attention needs cos/sin from the model: it runs alone on what the decoder
    passed it. The same shapes read two ways give the two answers."""
    rows = _layouts(emit_text(**spec_args(MODULE, case, direction)))
    qkv = _qkv(rows)
    assert qkv and all(grouping in comment for comment in qkv), qkv
    assert all(
        "found by running `model.layers.0.self_attn` alone in both models, on what "
        "`model` passed it" in comment
        for comment in qkv
    ), qkv
    mlp = [c for _, (_, c) in rows.items() if "gate_proj, up_proj" in c]
    assert mlp and all("running `model.layers.0.mlp` alone" in c for c in mlp), mlp


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_model_too_large_to_run_whole_is_decided_on_its_blocks(direction):
    """At a vocabulary padiff-gen does not run whole (it refused these before), emit
    decides the layouts on the attention and the MLP, with the answers the small
    model's standalone-checked script has."""
    elements = 2 * BIG_VOCAB * block_pairs.HIDDEN
    assert elements > PROBE_MAX_ELEMENTS
    args = cli_args(MODULE, "rotary_lm", direction)
    for flag in ("--base-kwargs", "--raw-kwargs"):
        index = args.index(flag) + 1
        args[index] = json.dumps({"case": "rotary_lm", "vocab": BIG_VOCAB})
    done = run_cli("emit", *args)
    assert done.returncode == 0, done.stderr
    small = _layouts(emit_text(**spec_args(MODULE, "rotary_lm", direction)))
    big = _layouts(done.stdout)
    assert big.keys() == small.keys()
    for path, (transform, comment) in big.items():
        assert transform == small[path][0], path
        assert "found by running `model.layers.0." in comment


def test_a_vision_language_model_decides_its_text_tower_on_token_ids():
    qkv = _qkv(_layouts(emit_text(**spec_args(MODULE, "vlm", TORCH_TO_PADDLE))))
    assert qkv and all(
        "on what `language_model` passed it" in c and "in 2 groups" in c for c in qkv
    ), qkv


def test_a_block_nothing_runs_is_refused_naming_it_and_decided_with_input():
    """The decoder takes a scale besides the token ids: no guessed input runs any
    layer holding the attention. emit refuses naming the attention and the choices;
    with --input for the model it decides."""
    args = cli_args(MODULE, "scaled_lm", TORCH_TO_PADDLE)
    refused = run_cli("emit", *args)
    assert refused.returncode == 1
    message = " ".join(refused.stderr.split())
    assert (
        "Neither `model.layers.0.self_attn` nor a larger pair of layers holding it "
        "runs on an input padiff-gen can build" in message
    ), message
    assert "--layout qkv_proj=q_proj,k_proj,v_proj/2" in message
    assert "Traceback" not in refused.stderr
    given = run_cli("emit", *args, "--input", "2,6:int64:40", "--input", "1")
    assert given.returncode == 0, given.stderr
    assert "on what `<root>` passed it" in given.stdout


def test_a_block_too_large_to_make_is_refused_naming_the_tensor(monkeypatch):
    monkeypatch.setattr(probe_models, "budget_bytes", lambda: 4096)
    monkeypatch.setattr(
        "padiff_gen.analysis.evidence.layout_probe.PROBE_MAX_ELEMENTS", 0
    )
    pairing, *_ = pair_models(**spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE))
    message = str(pairing.first_error)
    assert "too much to make here" in message, message
    assert re.search(
        r"Running `model\.layers\.0\.self_attn` in both models would make "
        r"`model\.layers\.0\.self_attn\.[a-z_.]+` \[[\d, ]+\] \([\d.]+ [KMG]?i?B, ",
        message,
    ), message
    # --input would not help: the hint says how to learn the answer instead
    assert "--input" not in message
    assert "smaller widths (the same head counts)" in message


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_layout_given_that_the_block_refutes_is_refused(direction):
    """--layout is the user's answer, but the block holding it is evidence too: when
    the layout given makes the block's outputs differ and another makes them agree,
    emit refuses naming both (it warned and wrote a script that computes otherwise).
    The right layout given passes, as does any given where the block cannot run."""
    wrong = "qkv_proj=q_proj,k_proj,v_proj"  # rotary_lm reads them in 2 groups
    pairing, *_ = pair_models(
        **spec_args(MODULE, "rotary_lm", direction), layouts=[wrong]
    )
    message = " ".join(str(pairing.first_error).split())
    assert f"--layout {wrong} does not hold for" in message, message
    assert re.search(
        r"running `model\.layers\.0\.self_attn` alone in both models.* the outputs "
        r"differ by [0-9.e+-]+ of their scale with that one and agree within "
        r"[0-9.e+-]+ with q_proj, k_proj, v_proj in 2 groups \(per KV head\)",
        message,
    ), message
    assert "Give --layout qkv_proj=q_proj,k_proj,v_proj/2 instead" in message
    right, *_ = pair_models(
        **spec_args(MODULE, "rotary_lm", direction),
        layouts=["qkv_proj=q_proj,k_proj,v_proj/2"],
    )
    assert right.first_error is None, right.first_error


def test_a_refuted_layout_exits_1_and_writes_nothing(tmp_path, monkeypatch):
    out = tmp_path / "init_weights.py"
    args = cli_args(MODULE, "rotary_lm", TORCH_TO_PADDLE)
    done = run_cli(
        "emit", *args, "--layout", "qkv_proj=q_proj,k_proj,v_proj", "-o", str(out)
    )
    assert done.returncode == 1, done.stderr
    assert "does not hold for" in done.stderr and "Traceback" not in done.stderr
    assert not out.exists()
    # where the block cannot be made here, the layout given stands
    monkeypatch.setattr(probe_models, "budget_bytes", lambda: 4096)
    pairing, *_ = pair_models(
        **spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE),
        layouts=["qkv_proj=q_proj,k_proj,v_proj", GATE_UP],
    )
    assert pairing.first_error is None, pairing.first_error


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_the_block_run_tells_every_other_layout_apart(direction):
    """Negative control of the evidence itself: on the attention, the layout chosen
    agrees to float32 noise and every other one (other orders, other groupings) misses
    by far more than the noise."""
    args = spec_args(MODULE, "rotary_lm", direction)
    base = as_proxy(args["base"], "base", args["base_kwargs"], lazy=True)
    raw = as_proxy(args["raw"], "raw", args["raw_kwargs"], lazy=True)
    pairing = analyze(base, raw, map_options(), global_special_init_pool)
    probe = probe_models.ProbeModels(
        pairing, probe_models.probe_model(base), probe_models.probe_model(raw)
    )
    pairs = list(pairing.pairs)
    kinds: dict = {}
    for index, pair in enumerate(pairs):
        if pair.question is not None:
            kinds.setdefault(question_kind(pair), []).append(index)
    # the attention's kind: the one with more than two candidates (gate/up has two)
    [kind] = [k for k in kinds.values() if len(pairs[k[0]].candidates) > 2]
    outcome = block_probe._decide_kind(probe, pairing, pairs, kind, ())
    assert outcome.choice is not None, outcome.remark
    chosen = outcome.differences[outcome.choice]
    others = [d for i, d in enumerate(outcome.differences) if i != outcome.choice]
    assert chosen < 1e-5
    assert len(others) >= 3 and min(others) > 1e-2, outcome.differences


@pytest.mark.parametrize(
    "case", ["vocoder_weight_norm", "vocoder_weight_norm_parametrizations"]
)
@pytest.mark.parametrize("direction", DIRECTIONS)
def test_a_weight_normalised_first_layer_does_not_crash_emit(case, direction, tmp_path):
    """emit once read the first tensor of the first layer as the conv's weight, which
    under weight_norm is the norms (exit 3, IndexError)."""
    done = run_cli(
        "emit", *cli_args(MODULE, case, direction), "-o", str(tmp_path / "s.py")
    )
    assert done.returncode == 0, done.stderr
    assert "internal error" not in done.stderr


def test_an_activation_the_other_model_computes_in_code_is_no_difference():
    """transformers' SiLUActivation (a plain Module) against paddle's Silu: running the
    MLPs shows they compute the same, so no note says the outputs differ."""
    pairing, *_ = pair_models(**spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE))
    unpaired = [n for n in pairing.notes if n.setting == "presence"]
    assert unpaired and all(n.computed for n in unpaired), unpaired
    assert "agree within" in unpaired[0].evidence
    assert "no counterpart" not in settings_note(pairing.notes)


def test_an_activation_inside_a_block_run_to_decide_a_layout_rests_on_that_run():
    """The MLP run to decide gate/up with the plan's rows already shows its activation
    computed alike: no second run (at Qwen3-32B's widths that run was refused as too
    large while the note said the same MLP decided the layout). A run whose outputs
    did not agree is no such evidence."""
    args = spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE)
    decided_here, *_ = pair_models(**args)
    [*notes] = [n for n in decided_here.notes if n.setting == "presence"]
    assert notes and all(n.computed for n in notes), notes
    assert "(deciding a layout there), their outputs agree within" in notes[0].evidence
    given, *_ = pair_models(**args, layouts=[GATE_UP])
    [note, *_] = [n for n in given.notes if n.setting == "presence"]
    assert note.computed and "deciding" not in note.evidence, note.evidence
    chain = block_probe.corresponding_blocks(decided_here, "raw", note.raw.path)
    assert block_probe._agreeing_run(decided_here, chain)
    runs = tuple((*run[:3], 0.5) for run in decided_here.agreeing_runs)
    refuted = dataclasses.replace(decided_here, agreeing_runs=runs)
    assert block_probe._agreeing_run(refuted, chain) == ""


@pytest.mark.parametrize("lacking", [False, True])
def test_the_script_header_counts_only_differences_it_lists(monkeypatch, lacking):
    """An activation the other model computes in code is no difference: the script's
    header said "2 differences in layers without weights (listed above the tables)
    change the outputs too" with nothing listed. One model lacking it is listed."""
    if lacking:
        monkeypatch.setattr(
            block_pairs, "TorchMLP", block_pairs.TorchMLPWithoutActivation
        )
    text = emit_text(
        **spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE), layouts=[GATE_UP]
    )
    header = " ".join(text.split('"""')[1].split())
    if lacking:
        assert "differences in layers without weights (listed above" in header, header
        assert "no counterpart" in text
    else:
        assert "in layers without weights" not in header, header


def test_an_activation_one_model_lacks_is_noted_with_the_difference_measured(
    monkeypatch,
):
    monkeypatch.setattr(block_pairs, "TorchMLP", block_pairs.TorchMLPWithoutActivation)
    pairing, *_ = pair_models(
        **spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE), layouts=[GATE_UP]
    )
    [note, *_] = [n for n in pairing.notes if n.setting == "presence"]
    assert not note.computed
    text = " ".join(settings_note(pairing.notes).split())
    assert re.search(
        r"running `model\.layers\.\d\.mlp` alone in both models with the weights "
        r"copied, their outputs differ by [0-9.e+-]+ of their scale",
        text,
    ), text


@pytest.mark.parametrize("why", ["nothing runs", "too large"])
def test_an_activation_nothing_can_run_is_said_to_be_unknown(monkeypatch, why):
    """A note on a layer without a partner rests on a run or says it is unknown, and
    why: no block holding it runs, or the smallest makes more weights than a check
    of a note may (GPT-OSS's MoE block, 3.2 GB, took emit to 4.2 GB and 200 s)."""
    monkeypatch.setattr(block_pairs, "TorchMLP", block_pairs.TorchMLPWithoutActivation)
    if why == "nothing runs":
        monkeypatch.setattr(probe_models.ProbeModels, "runs", lambda *_, **__: False)
    else:
        monkeypatch.setattr(block_probe, "NOTE_WORK_BYTES", 1024)
    pairing, *_ = pair_models(
        **spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE), layouts=[GATE_UP]
    )
    text = " ".join(settings_note(pairing.notes).split())
    script = emit_text(
        **spec_args(MODULE, "rotary_lm", TORCH_TO_PADDLE), layouts=[GATE_UP]
    )
    # the script files it as unknown, not among the settings that differ
    assert "# Settings that differ" not in script
    assert "# Layers without weights that only one model has" in script
    header = " ".join(script.split('"""')[1].split())
    assert (
        "could not be run here: whether the outputs differ there is unknown" in header
    )
    assert "differences in layers without weights" not in header
    shown = " ".join(format_pairing(pairing).split())  # inspect
    assert "not run here (2): whether the outputs differ is unknown" in shown, shown
    assert "the outputs differ even with equal weights" not in shown
    if why == "nothing runs":
        assert "is unknown (padiff-gen could not run the layers holding them)" in text
    else:
        assert re.search(
            r"is unknown \(running `model\.layers\.\d\.mlp` alone in both models would "
            r"make [0-9.]+ KiB of weights against a limit of 1 KiB, too much to make "
            r"here\)",
            text,
        ), text
    assert "the outputs differ" not in text
