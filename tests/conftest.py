"""Shared helpers: run the CLI and generated scripts the way users do, in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECK_SCRIPT = ROOT / "examples" / "check_script.py"

# fp32 has a relative precision of 1.2e-7; the two frameworks run the same maths with
# different kernels and summation orders, so outputs of these small models agree to ~1e-7
# relative (measured up to 2e-6 absolute on outputs of size ~15). 1e-5 of the output's
# scale leaves ~50x headroom, while one wrong or missing tensor moves outputs by O(scale).
RELATIVE_TOLERANCE = 1e-5

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def subprocess_env(**extra: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    )
    env.setdefault("PYTHONWARNINGS", "ignore")
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    """`padiff-gen ARGS` as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "padiff_gen", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        **kwargs,
    )


def check_script(script: Path, inputs, select=None, cwd: Path = ROOT) -> dict:
    """Run a generated script standalone (padiff_gen unimportable) and compare outputs."""
    command = [sys.executable, str(CHECK_SCRIPT), str(script), "--inputs", json.dumps(inputs)]
    if select is not None:
        command += ["--select", str(select)]
    result = subprocess.run(
        command, cwd=cwd, env=subprocess_env(), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["padiff_gen_imported"] is False
    return outcome


def assert_outputs_match(outcome: dict) -> None:
    limit = RELATIVE_TOLERANCE * max(1.0, outcome["scale"])
    assert outcome["max_abs_diff"] <= limit, outcome
    assert outcome["scale"] > 0.01, "the outputs are ~0, so the comparison proves nothing"


@pytest.fixture
def in_root(monkeypatch):
    """Run in the repository root, as the golden files' commands assume."""
    monkeypatch.chdir(ROOT)
    return ROOT
