"""Scripts whose tables fold repeated rows (padiff_gen.plan.fold), end to end: emitted for deep
MoE pairs (examples/moe.py) in both directions, run standalone, and the outputs of
the two models compared; a wrong index inside a folded row shows in the outputs; `check`
finds the folded script up to date; the flat rows the script reads are those of the plan.
"""

from __future__ import annotations

import ast

import pytest

from padiff_gen.cli import check
from padiff_gen.plan import fold
from padiff_gen.api import emit_text
from tests.conftest import (
    RELATIVE_TOLERANCE,
    assert_outputs_match,
    check_script,
    run_cli,
)

MODULE = "examples.moe"
INPUTS = [("float32", (3, 8))]
# torch -> paddle: experts stacked in the base, one row per expert: folds by layer and
# expert. paddle -> torch: one composite row per stacked tensor, so more layers to pass
# the folding threshold.
CASES = {
    "torch_to_paddle": ("torch", "paddle", {"layers": 6, "odd": 3}),
    "paddle_to_torch": ("paddle", "torch", {"layers": 24, "experts": 4}),
}


def spec(direction: str) -> dict:
    base, raw, sizes = CASES[direction]
    return {
        "base": f"{base}:{MODULE}.{base}_model",
        "raw": f"{raw}:{MODULE}.{raw}_model",
        "base_kwargs": sizes,
        "raw_kwargs": sizes,
    }


@pytest.fixture(scope="module")
def scripts(tmp_path_factory):
    """direction -> (path, text) of the emitted script (emitted once for the module)."""
    folder = tmp_path_factory.mktemp("fold")
    found = {}
    for direction in CASES:
        text = emit_text(**spec(direction))
        path = folder / f"{direction}.py"
        path.write_text(text)
        found[direction] = (path, text)
    return found


def emit_flat(direction: str) -> str:
    """The script with folding off: every row written out."""
    saved = fold.FOLD_MIN_ROWS
    fold.FOLD_MIN_ROWS = 10**9
    try:
        text = emit_text(**spec(direction))
    finally:
        fold.FOLD_MIN_ROWS = saved
    assert '{"for":' not in text
    return text


def flat_rows_of(direction: str) -> list:
    text = emit_flat(direction)
    return [(row.value, row.comment) for row in fold.table_in(text, "TENSOR_TABLE")]


@pytest.mark.parametrize("direction", list(CASES))
def test_a_deep_model_gets_folded_tables_and_the_script_copies_exactly(
    scripts, direction
):
    path, text = scripts[direction]
    table = text[text.index("TENSOR_TABLE = (") : text.index("SPECIAL_INITS = ")]
    assert '{"for": "layer", "range": (0, ' in table
    flat = [(row.value, row.comment) for row in fold.table_in(text, "TENSOR_TABLE")]
    assert flat == flat_rows_of(direction)
    assert len(flat) >= fold.FOLD_MIN_ROWS
    assert len(table.splitlines()) < len(flat) / 3
    assert_outputs_match(check_script(path, INPUTS))


def test_an_irregular_layer_stays_rows_of_its_own(scripts):
    _, text = scripts["torch_to_paddle"]
    assert '"layers.3.router.bias"' in text  # only layer 3 has a bias
    assert '{"for": "layer", "range": (0, 3), "rows": (' in text
    assert '{"for": "layer", "range": (4, 6), "rows": (' in text
    assert '{"for": "expert", "range": (0, 8), "rows": (' in text


def test_a_wrong_index_inside_a_fold_shows_in_the_outputs(scripts, tmp_path):
    """Negative control: every expert copied from expert 0, through one edited row."""
    _, text = scripts["torch_to_paddle"]
    wrong = text.replace("select(axis=0, index={expert})", "select(axis=0, index=0)", 1)
    assert wrong != text
    path = tmp_path / "wrong.py"
    path.write_text(wrong)
    outcome = check_script(path, INPUTS)
    assert outcome["max_abs_diff"] > 100 * RELATIVE_TOLERANCE * outcome["scale"]


def test_check_finds_a_folded_script_up_to_date_and_a_flat_one_of_the_same_rows(
    scripts,
):
    path, text = scripts["torch_to_paddle"]
    done = run_cli("check", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout
    # The same plan written flat (as padiff-gen did before it folded): the same rows,
    # so a committed flat script is not taken for a change of the models.
    flat_text = emit_flat("torch_to_paddle")
    assert check.table_rows(ast.parse(flat_text)) == check.table_rows(ast.parse(text))
    assert [reason.kind for reason in check.classify(flat_text, text)] == ["code"]


def test_a_folded_script_converts_a_checkpoint_the_raw_model_computes_with(
    scripts, tmp_path
):
    """The checkpoint conversion reads the folded tables written out, as init_weights."""
    import paddle
    import torch

    from examples import moe
    from examples.compare import output_difference, randomize
    from test_checkpoint import run_script

    path, _ = scripts["torch_to_paddle"]
    sizes = CASES["torch_to_paddle"][2]
    base = moe.torch_model(**sizes)
    randomize(base, seed=3)
    torch.save(base.state_dict(), tmp_path / "base.pt")
    result = run_script(
        path, "--base-ckpt", tmp_path / "base.pt", "-o", tmp_path / "raw.pdparams"
    )
    assert result.returncode == 0, result.stderr
    raw = moe.paddle_model(**sizes)
    raw.set_state_dict(paddle.load(str(tmp_path / "raw.pdparams")))
    assert_outputs_match(output_difference(base, raw, INPUTS))
