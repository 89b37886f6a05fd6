"""docs/getting_started.md's walkthrough, run as written: emit, read, run, verify, check.

The models are the guide's own code block; every command run here is quoted from the
guide, so the guide cannot drift from what padiff-gen does.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from conftest import ROOT, run_cli, subprocess_env

GUIDE = (ROOT / "docs" / "getting_started.md").read_text()


def command(prefix: str) -> list[str]:
    """The guide's command that starts with ``prefix``, as words."""
    [line] = [line for line in GUIDE.splitlines() if line.startswith(prefix)]
    return shlex.split(line)


def test_the_walkthrough_works_as_written(tmp_path):
    [models] = re.findall(r"```python\n# mymodels/nets.py\n(.*?)```", GUIDE, re.S)
    (tmp_path / "mymodels").mkdir()
    (tmp_path / "mymodels" / "__init__.py").write_text("")
    (tmp_path / "mymodels" / "nets.py").write_text(models)

    emit = command("padiff-gen emit ")
    emitted = run_cli(*emit[1:], cwd=tmp_path)
    assert emitted.returncode == 0, emitted.stderr
    assert emitted.stderr.strip().endswith("wrote init_weights.py")
    script = (tmp_path / "init_weights.py").read_text()
    [table] = re.findall(r"```python\n(TENSOR_TABLE = .*?)```", GUIDE, re.S)
    for line in table.splitlines():  # the guide shows the real table
        assert line in script, line

    subprocess.run(
        [
            sys.executable,
            "-c",
            "import torch; from mymodels.nets import TorchNet; "
            "torch.save(TorchNet().state_dict(), 'torch_net.pt')",
        ],
        cwd=tmp_path,
        env=subprocess_env(),
        check=True,
    )
    run = command("python init_weights.py ")
    converted = subprocess.run(
        [sys.executable, *run[1:]],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert converted.returncode == 0, converted.stderr
    assert (tmp_path / "paddle_net.pdparams").is_file()

    verified = run_cli(*command("padiff-gen verify ")[1:], cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "the outputs match" in verified.stdout

    check = command("padiff-gen check ")[1:]
    assert run_cli(*check, cwd=tmp_path).returncode == 0
    nets = tmp_path / "mymodels" / "nets.py"
    nets.write_text(nets.read_text().replace("8", "16"))  # "widen to 16 channels"
    stale = run_cli(*check, cwd=tmp_path)
    assert stale.returncode == 1
    shown = re.search(r"```\n(init_weights.py: out of date\n.*?)```", GUIDE, re.S)[1]
    assert stale.stdout.startswith(shown), stale.stdout
