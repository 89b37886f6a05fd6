"""Every committed generated example is reproduced byte for byte, and works when run."""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_outputs_match, check_script
from examples.catalog import EXAMPLES
from padiff_gen.plan import fold
from padiff_gen.cli.cli import derive

IDS = [example.name for example in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_file_is_up_to_date(example, in_root):
    committed = (ROOT / example.output).read_text()
    regenerated = derive(example.argv)
    assert (
        regenerated == committed
    ), f"{example.output} is stale; run `make golden` if the change is intended"


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_script_makes_outputs_equal(example):
    outcome = check_script(ROOT / example.output, example.inputs, example.select)
    assert_outputs_match(outcome)


FOLDED = [
    example for example in EXAMPLES if '{"for": ' in (ROOT / example.output).read_text()
]


def test_some_golden_folds_its_rows():
    assert FOLDED, "no golden script folds repeated rows: the test below tests nothing"


@pytest.mark.parametrize("example", FOLDED, ids=[example.name for example in FOLDED])
def test_a_folded_golden_stands_for_exactly_the_flat_table(
    example, in_root, monkeypatch
):
    """The rows a folded golden's tables stand for, written out, are row for row those
    the same plan has written flat (folding off)."""
    committed = (ROOT / example.output).read_text()
    monkeypatch.setattr(fold, "FOLD_MIN_ROWS", 10**9)
    flat = derive(example.argv)
    assert '{"for": ' not in flat
    for table in (
        "TENSOR_TABLE",
        "SPECIAL_INITS",
        "SPECIAL_INIT_TENSORS",
        "CHECKPOINT_TABLE",
    ):
        expanded = [(r.value, r.comment) for r in fold.table_in(committed, table)]
        assert expanded == [(r.value, r.comment) for r in fold.table_in(flat, table)]
