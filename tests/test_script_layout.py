"""The generated script reads top-down and is safe to run from anywhere.

The tables come right after the header and the imports; the runtime follows below a
marker. The script finds the model modules from wherever it is run (it records the
folder padiff-gen imported them from, relative to itself), says in one line what to do
when they cannot be imported, saves nothing that was not filled from a checkpoint
unless asked to, and prints no third-party warnings.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_cli

MARKER = "# padiff-gen's runtime: what makes this script standalone."
MODELS = """
import paddle
import torch


class TorchPair(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8))


class PaddlePair(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.body = paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.BatchNorm1D(8))
"""


@pytest.fixture
def project(tmp_path) -> Path:
    """A model repository of a user's: models in a package, the script in weights/."""
    root = tmp_path / "project"
    (root / "mymodels").mkdir(parents=True)
    (root / "mymodels" / "__init__.py").write_text("")
    (root / "mymodels" / "pair.py").write_text(MODELS)
    (root / "weights").mkdir()
    result = run_cli(
        "emit",
        "--base",
        "torch:mymodels.pair.TorchPair",
        "--raw",
        "paddle:mymodels.pair.PaddlePair",
        "-o",
        "weights/init_weights.py",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr
    return root


def run_as_user(script: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python SCRIPT ARGS` with a user's environment: no PYTHONPATH, no warning filter."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONWARNINGS")
    }
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )


def test_the_tables_come_first_and_the_runtime_below_a_marker():
    text = (ROOT / "generated_examples" / "cnn_torch_to_paddle.py").read_text()
    lines = text.splitlines()
    marker = next(i for i, line in enumerate(lines) if line.startswith(MARKER))
    tree = ast.parse(text)
    assigned = {
        node.targets[0].id: node.lineno
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    for table in ("BASE_SPEC", "TENSOR_TABLE", "SPECIAL_INITS", "SPECIAL_INIT_TENSORS"):
        assert assigned[table] < marker, table
    definitions = [
        node for node in tree.body if isinstance(node, (ast.FunctionDef, ast.ClassDef))
    ]
    assert definitions and all(node.lineno > marker for node in definitions)
    # Before the tables: only the header, the docstring and the imports.
    first_table = min(assigned[name] for name in ("BASE_SPEC", "TENSOR_TABLE"))
    early = [node for node in tree.body if node.lineno < first_table]
    kinds = {type(node).__name__ for node in early}
    assert kinds <= {"Expr", "Import", "ImportFrom"}, kinds
    assert first_table < 90  # on the first screens, whatever the runtime's size


@pytest.mark.parametrize("where", ["project", "weights", "elsewhere"])
def test_the_script_finds_the_models_from_wherever_it_is_run(project, where, tmp_path):
    cwd = {"project": project, "weights": project / "weights", "elsewhere": tmp_path}
    result = run_as_user(project / "weights" / "init_weights.py", cwd=cwd[where])
    assert result.returncode == 0, result.stderr
    # Nothing but the script's own line: no third-party warnings (paddle's ccache one).
    assert result.stderr.splitlines() == ["initialised the raw model: 3 copies"]


def test_a_model_that_cannot_be_imported_is_one_line_naming_it(project, tmp_path):
    moved = tmp_path / "moved.py"
    moved.write_text((project / "weights" / "init_weights.py").read_text())
    result = run_as_user(moved, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cannot import the module `mymodels` of the torch model "
        "mymodels.pair.TorchPair. Run this script from the folder that holds "
        "`mymodels`, or add that folder to PYTHONPATH"
    ]


def test_saving_a_model_not_filled_from_a_checkpoint_needs_an_option(project):
    script = project / "weights" / "init_weights.py"
    output = project / "raw.pdparams"
    refused = run_as_user(script, "-o", str(output), cwd=project)
    assert refused.returncode == 1
    assert "no --base-ckpt was given" in refused.stderr
    assert "--base-as-built" in refused.stderr
    assert not output.exists()
    saved = run_as_user(script, "-o", str(output), "--base-as-built", cwd=project)
    assert saved.returncode == 0, saved.stderr
    assert output.exists()
