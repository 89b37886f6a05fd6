"""What padiff-gen says besides errors: notes once, where they matter, in its own format."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from conftest import ROOT, run_cli, subprocess_env

TORCH = "torch:examples.reordered.TorchReordered"
PADDLE = "paddle:examples.reordered.PaddleReordered"
NOTE = "layer pairs were matched by name"


def test_the_matched_by_name_note_comes_once_from_emit_naming_the_script(tmp_path):
    emitted = run_cli(
        "emit", "--base", TORCH, "--raw", PADDLE, "-o", "init_weights.py", cwd=tmp_path
    )
    assert emitted.returncode == 0, emitted.stderr
    stderr = " ".join(emitted.stderr.split())
    assert stderr.count(NOTE) == 1, stderr
    assert f"note: init_weights.py: 4 {NOTE}" in stderr
    assert "`# matched by name`" in stderr
    checked = run_cli("check", "init_weights.py", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "init_weights.py: up to date"
    assert NOTE not in checked.stderr  # nothing new to say about an unchanged script


def test_a_configured_target_names_itself_in_the_note(tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(f"""
            [[tool.padiff-gen.targets]]
            name = "reordered"
            output = "weights/init_reordered.py"
            base = "{TORCH}"
            raw = "{PADDLE}"
            """))
    first = run_cli("emit", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    stderr = " ".join(first.stderr.split())
    assert f"note: target reordered (weights/init_reordered.py): 4 {NOTE}" in stderr
    again = run_cli("emit", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "weights/init_reordered.py is up to date" in again.stderr
    assert NOTE not in again.stderr


def test_the_python_api_speaks_in_its_own_format_not_paddles(tmp_path):
    program = textwrap.dedent(f"""
        import padiff_gen
        padiff_gen.emit("{TORCH}", "{PADDLE}", "init_weights.py")
        """)
    result = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env=subprocess_env(PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if NOTE in line]
    assert notes == [
        f"padiff-gen: note: init_weights.py: 4 {NOTE}, because the two models define "
        "them in a different order; the script's tables mark them `# matched by name`."
    ], result.stderr
