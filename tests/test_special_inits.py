"""Special initializers in generated scripts: all or nothing, every raw tensor written,
and no copy of the model kept for the undo.

Built-in initializers are rehearsed (run once with the copy helpers writing nothing), so
a refusal is found before anything is written and nothing needs saving; other
initializers run on a saved layer marked with a sentinel, so that a tensor they forget
is named. Scripts run in a subprocess where padiff_gen cannot be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import ROOT, assert_outputs_match, run_cli, subprocess_env
from padiff_gen.runtime.core import common, special
from padiff_gen.runtime.core.copy_torch import copy_tensor, fill_tensor
from test_checkpoint import run_script

TABLES = (
    "--base",
    "torch:tests.fixtures.runtime_models.TorchTables",
    "--raw",
    "paddle:tests.fixtures.runtime_models.PaddleTables",
)
CUSTOM = (
    "--base",
    "torch:examples.custom_layers.TorchBlock",
    "--raw",
    "paddle:examples.custom_layers.PaddleBlock",
)

# Loads a script as a module, counts the copies its runtime makes for the undo, fills
# the base model, runs init_weights and reports what happened to the raw model.
PROBE = """
import importlib.util, json, sys
sys.modules["padiff_gen"] = None
import numpy as np
from examples.compare import output_difference, randomize

spec = importlib.util.spec_from_file_location("script", sys.argv[1])
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)
copies = []
clone = script.clone_tensor
script.clone_tensor = lambda tensor: copies.append(1) or clone(tensor)
base, raw = script.build_model(script.BASE_SPEC), script.build_model(script.RAW_SPEC)
randomize(base, 0)
exec(sys.argv[2])  # prepare the base model
def values(model):
    return {k: np.array(v.detach().cpu().numpy()) for k, v in model.state_dict().items()}
before = values(raw)
try:
    script.init_weights(base, raw)
    error = None
except Exception as raised:
    error = f"{type(raised).__name__}: {raised}"
after = values(raw)
changed = [k for k in before if not np.array_equal(before[k], after[k])]
found = {"error": error, "raw_changed": changed, "copies": len(copies)}
if error is None:
    found.update(output_difference(base, raw, json.loads(sys.argv[3])))
print(json.dumps(found))
"""
TOKENS = [["int64", [3, 5], 10]]
ZERO_PADDING = (
    "import torch\n"
    "with torch.no_grad():\n"
    "    base.first.weight[0] = 0\n"
    "    base.second.weight[0] = 0\n"
)


def probe(script: Path, prepare: str = "") -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(script), prepare, json.dumps(TOKENS)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def emitted(tmp_path: Path, *args: str) -> Path:
    script = tmp_path / "init_weights.py"
    result = run_cli("emit", *args, "-o", str(script))
    assert result.returncode == 0, result.stderr
    return script


def test_built_in_initializers_copy_without_saving_anything(tmp_path):
    found = probe(emitted(tmp_path, *TABLES), ZERO_PADDING)
    assert found["error"] is None
    assert found["copies"] == 0
    assert_outputs_match(found)


def test_a_built_in_refusal_in_the_second_layer_leaves_the_first_unwritten(tmp_path):
    """The first embedding would copy; the second refuses (its padding row is not zero,
    which paddle would not compute with). The rehearsal finds it before any write."""
    prepare = ZERO_PADDING + "with torch.no_grad():\n    base.second.weight[0] = 1\n"
    found = probe(emitted(tmp_path, *TABLES), prepare)
    assert found["error"].startswith(
        "WeightMismatchError: base `second` -> raw `second`"
    )
    assert "padding_idx" in found["error"]
    assert found["raw_changed"] == []
    assert found["copies"] == 0


def test_an_initializer_that_forgets_a_tensor_is_named_and_undone(tmp_path):
    script = emitted(
        tmp_path, *CUSTOM, "--init-module", "tests.fixtures.init_forgets_one"
    )
    found = probe(script)
    assert found["error"].startswith(
        "WeightMismatchError: init_projection_but_v (base `proj` -> raw `proj`) did not "
        "write raw `proj.v`"
    )
    assert found["raw_changed"] == []
    assert found["copies"] == 3  # q, k and v: the one layer such an initializer writes


def test_a_conversion_whose_initializer_forgets_a_tensor_writes_nothing(tmp_path):
    script = emitted(
        tmp_path, *CUSTOM, "--init-module", "tests.fixtures.init_forgets_one"
    )
    from examples.custom_layers import TorchBlock

    torch.save(TorchBlock().state_dict(), tmp_path / "base.pt")
    output = tmp_path / "out" / "raw.pdparams"
    output.parent.mkdir()
    result = run_script(script, "--base-ckpt", tmp_path / "base.pt", "-o", output)
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: init_projection_but_v")
    assert "did not write raw `proj.v`" in result.stderr
    assert list(output.parent.iterdir()) == []


# ------------------------------------------------------------------ the runtime alone


def init_weight_only(base_layer, raw_layer):
    """A 'built-in' that forgets the bias: caught in the rehearsal."""
    copy_tensor(raw_layer.weight, base_layer.weight)


def init_then_refuse(base_layer, raw_layer):
    fill_tensor(raw_layer.weight, 1.0)
    raise common.WeightMismatchError("no")


def run_as_built_in(initializer) -> tuple:
    """Run `initializer` on two Linear layers as a rehearsed (built-in) one: (the
    error it raised, whether the raw layer is unchanged)."""
    base, raw = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    tensors = tuple(
        ("raw", f"layer.{name}", tuple(t.shape)) for name, t in raw.named_parameters()
    )
    before = {k: v.clone() for k, v in raw.state_dict().items()}
    name = initializer.__name__
    with pytest.raises(common.WeightMismatchError) as raised:
        special.run_special_inits(
            (("layer", "layer", name),),
            {name: initializer},
            (name,),
            tensors,
            torch.nn.ModuleDict({"layer": base}),
            torch.nn.ModuleDict({"layer": raw}),
        )
    assert not common.WRITES.rehearsing
    unchanged = all(torch.equal(before[k], v) for k, v in raw.state_dict().items())
    return str(raised.value), unchanged


def test_a_rehearsal_finds_a_forgotten_tensor_before_writing():
    message, unchanged = run_as_built_in(init_weight_only)
    assert "did not write raw `layer.bias`" in message
    assert unchanged


def test_a_rehearsed_refusal_writes_nothing():
    message, unchanged = run_as_built_in(init_then_refuse)
    assert message.startswith("base `layer` -> raw `layer`: no")
    assert unchanged


@pytest.mark.parametrize(
    "spans, asked, covered",
    [
        ([(0, 8), (8, 16)], (0, 16), True),
        ([(8, 16), (0, 8)], (0, 16), True),
        ([(0, 8), (12, 16)], (0, 16), False),
        ([(0, 100)], (40, 60), True),
        ([], (0, 0), True),
        ([(4, 16)], (0, 16), False),
    ],
)
def test_the_write_log_tells_covered_memory(spans, asked, covered):
    log = common.WriteLog()
    for span in spans:
        log.note(span)
    assert log.covers(asked) is covered


@pytest.mark.parametrize(
    "case, direction, initializer",
    [
        ("embedding", "torch_to_paddle", False),
        ("embedding", "paddle_to_torch", False),
        ("embedding_torch_padding_idx_paddle_none", "torch_to_paddle", False),
        ("embedding_torch_padding_idx_paddle_none", "paddle_to_torch", False),
        ("embedding_padding_idx", "torch_to_paddle", True),
        ("embedding_padding_idx", "paddle_to_torch", True),
    ],
)
def test_an_embedding_goes_through_its_initializer_only_where_it_does_more_than_copy(
    case, direction, initializer
):
    """Only a paddle padding_idx gives the Embedding initializers work (a row to zero
    in torch, or to check): without one the pair is an ordinary table row, which a
    reviewer sees and a conversion streams. (test_layers runs every case's script.)"""
    from padiff_gen.api import emit_text

    sides = {
        "torch": ("torch:tests.layer_pairs.torch_model", {"case": case}),
        "paddle": ("paddle:tests.layer_pairs.paddle_model", {"case": case}),
    }
    base, raw = direction.split("_to_")
    text = emit_text(
        sides[base][0],
        sides[raw][0],
        base_kwargs=sides[base][1],
        raw_kwargs=sides[raw][1],
    )
    rows = text[text.index("TENSOR_TABLE = (") : text.index("SPECIAL_INIT_TENSORS")]
    table, special = rows.split("SPECIAL_INITS = ")
    assert ('"0.weight", "0.weight", "copy"' in table) is not initializer, table
    assert ("init_embedding_" in special) is initializer, special
