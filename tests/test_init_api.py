"""padiff_gen.init_api and its guide's worked example (docs/writing_initializers.md).

The example is used the way its readers will: emitted with --init-module, run standalone
(padiff_gen unimportable), outputs compared; a wrong copy is caught (negative control).
"""

from __future__ import annotations

import re
import shutil

import pytest
import torch

from conftest import ROOT, assert_outputs_match, check_script, run_cli

TORCH = "torch:examples.fused_qkv.TorchAttention"
PADDLE = "paddle:examples.fused_qkv.PaddleAttention"
INITS = "examples.fused_qkv_inits"
TOKENS = [["float32", [2, 5, 16]]]


def emit(tmp_path, base, raw, *extra, init_module=INITS, cwd=ROOT):
    output = tmp_path / "init_weights.py"
    result = run_cli(
        "emit",
        "--base",
        base,
        "--raw",
        raw,
        "--init-module",
        init_module,
        *extra,
        "-o",
        str(output),
        cwd=cwd,
    )
    return result, output


@pytest.mark.parametrize(
    "base, raw, initializer",
    [(TORCH, PADDLE, "init_fused_qkv"), (PADDLE, TORCH, "init_split_qkv")],
    ids=["torch_to_paddle", "paddle_to_torch"],
)
def test_the_worked_example_copies_a_fused_projection(tmp_path, base, raw, initializer):
    result, script = emit(tmp_path, base, raw)
    assert result.returncode == 0, result.stderr
    text = script.read_text()
    assert f'("attention", "attention", "{initializer}"),' in text
    # Inlined with what it uses, the init_api helpers included; the decorator is not.
    assert "def copy_weight(*, src, dst" in text and "def thirds(tensor):" in text
    assert "@register" not in text
    assert not re.search(r"^(import|from) padiff_gen", text, re.M)
    assert_outputs_match(check_script(script, TOKENS))


def test_a_wrong_initializer_is_caught_by_the_comparison(tmp_path):
    """Negative control: the same initializer with key and value swapped."""
    wrong = (ROOT / "examples" / "fused_qkv_inits.py").read_text()
    assert wrong.count('PROJECTIONS = ("q", "k", "v")') == 1
    (tmp_path / "wrong_inits.py").write_text(
        wrong.replace('PROJECTIONS = ("q", "k", "v")', 'PROJECTIONS = ("q", "v", "k")')
    )
    result, script = emit(
        tmp_path, TORCH, PADDLE, init_module="wrong_inits", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    outcome = check_script(script, TOKENS, cwd=tmp_path)
    assert outcome["max_abs_diff"] > 100 * 1e-5 * max(1.0, outcome["scale"]), outcome


def test_the_validator_refuses_a_pair_it_cannot_copy(tmp_path):
    result, script = emit(
        tmp_path,
        TORCH,
        PADDLE,
        "--base-kwargs",
        '{"bias": false}',
        "--raw-kwargs",
        '{"bias": true}',
    )
    assert result.returncode == 1, result.stderr
    message = " ".join(result.stderr.split())
    assert "base `attention`" in message and "raw `attention`" in message, message
    assert "one side has projection biases and the other not" in message
    assert not script.exists()


def test_copy_weight_checks_the_shapes_and_copies_from_src_into_dst():
    from padiff_gen.init_api import copy_weight

    source, target = torch.arange(6.0).reshape(2, 3), torch.zeros(3, 2)
    copy_weight(src=source, dst=target, transform="transpose")
    assert torch.equal(target, source.t())
    with pytest.raises(
        ValueError, match=r"cannot copy a \[2, 3\] tensor into a \[3, 2\]"
    ):
        copy_weight(src=source, dst=target)  # would broadcast or fail deep in torch
    assert torch.equal(target, source.t()), "a refused copy writes nothing"
    with pytest.raises(TypeError):
        copy_weight(
            source, target
        )  # keywords only: the direction is always spelled out


def test_the_api_is_documented():
    import padiff_gen.init_api as api

    for name in api.__all__:
        doc = getattr(api, name).__doc__ or ""
        assert len(doc.split()) >= 8, f"{name} needs a docstring"
    assert "sub-layers" in api.__doc__ and "destination first" in api.__doc__


def test_the_guide_shows_the_tested_example():
    """Every code block of the guide that names an example file is in that file, in
    the file's order: copied top to bottom, the blocks make a module that runs (no
    name used before the block that defines it)."""
    guide = (ROOT / "docs" / "writing_initializers.md").read_text()
    blocks = re.findall(r"```python\n# (examples/\S+\.py)\n(.*?)```", guide, re.S)
    assert len(blocks) >= 2
    found = {}
    for path, code in blocks:
        source = (ROOT / path).read_text()
        for chunk in code.strip().split("\n\n\n"):
            assert chunk.strip() in source, f"{path} no longer holds:\n{chunk}"
            position = source.index(chunk.strip())
            assert position > found.get(
                path, -1
            ), f"{path}: shown out of order:\n{chunk}"
            found[path] = position
