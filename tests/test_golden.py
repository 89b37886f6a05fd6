"""Every committed generated example is reproduced byte for byte, and works when run."""

from __future__ import annotations

import pytest

from conftest import ROOT, assert_outputs_match, check_script
from examples.catalog import EXAMPLES
from padiff_gen.cli import derive

IDS = [example.name for example in EXAMPLES]


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_file_is_up_to_date(example, in_root):
    committed = (ROOT / example.output).read_text()
    regenerated = derive(example.argv)
    assert regenerated == committed, (
        f"{example.output} is stale; run `make golden` if the change is intended"
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=IDS)
def test_golden_script_makes_outputs_equal(example):
    outcome = check_script(ROOT / example.output, example.inputs, example.select)
    assert_outputs_match(outcome)
