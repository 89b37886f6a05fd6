"""Large models: emit reads no weight, and conversion holds one copy of the model.

Memory is measured in subprocesses (bench.peak reports the child's own VmHWM). Bounds are
generous; speed and the exact targets are measured by `make bench`, not here.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import paddle
import pytest
import torch

from bench.models import TorchLlama
from conftest import ROOT, subprocess_env
from padiff_gen.api import emit, pair_models
from padiff_gen.runtime.core.copy_torch import has_data

GB = 1e9


def peak_rss(*arguments: str) -> int:
    """Peak RSS in bytes of `python ARGUMENTS`, run from the repository root."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        result = subprocess.run(
            [sys.executable, "-m", "bench.peak", report.name, *arguments],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return int(report.read())


def all_tensors(model) -> list:
    if isinstance(model, torch.nn.Module):
        return [*model.parameters(), *model.buffers()]
    return [*model.parameters(), *model.buffers()]


def test_analysis_builds_both_models_without_storage():
    """Every tensor the analyzer sees is a meta tensor or an uninitialised lazy one."""
    pairing, base, raw, _ = pair_models(
        "torch:bench.models.TorchLlama", "paddle:bench.models.PaddleLlama"
    )
    assert len(pairing.pairs) == 2 + 32 * 9 + 1  # embedding, 32 x 9 layers, norm, head
    for proxy in (base, raw):
        tensors = all_tensors(proxy.model)
        assert len(tensors) == 291
        assert not any(has_data(tensor) for tensor in tensors)


def test_emit_of_a_multi_gigabyte_pair_stays_small(tmp_path):
    """3.3 GB per model if any weight were allocated; emit stays near its imports."""
    config = '{"vocab_size": 1024, "num_layers": 4}'
    output = tmp_path / "init_llama.py"
    peak = peak_rss(
        "-m", "padiff_gen", "emit",
        "--base", "torch:bench.models.TorchLlama", "--base-kwargs", config,
        "--raw", "paddle:bench.models.PaddleLlama", "--raw-kwargs", config,
        "-o", str(output), "--quiet",
    )  # fmt: skip
    assert output.exists()
    assert peak < 1.5 * GB, f"emit peaked at {peak / GB:.2f} GB"


@pytest.fixture(scope="module")
def scripts(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("scale_scripts")
    made = {}
    for layers in (1, 9):
        config = dict(
            vocab_size=1000,
            hidden_size=1024,
            intermediate_size=2752,
            num_layers=layers,
            num_heads=8,
        )
        forward = directory / f"init_t2p_{layers}.py"
        emit(
            "torch:bench.models.TorchLlama",
            "paddle:bench.models.PaddleLlama",
            forward,
            base_kwargs=config,
            raw_kwargs=config,
        )
        reverse = directory / f"init_p2t_{layers}.py"
        emit(
            "paddle:bench.models.PaddleLlama",
            "torch:bench.models.TorchLlama",
            reverse,
            base_kwargs=config,
            raw_kwargs=config,
        )
        model = TorchLlama(**config)
        nbytes = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        checkpoint = directory / f"base_{layers}.pt"
        torch.save(model.state_dict(), checkpoint)
        del model
        made[layers] = (forward, reverse, checkpoint, nbytes)
    return made


def test_conversion_memory_grows_by_one_model_size(scripts, tmp_path):
    """Peak RSS grows with the model like one copy of it, in both directions.

    Two model sizes cancel out the fixed cost (imports, ~0.5 GB): 8 more layers (400 MB)
    must cost less than 1.3x their size. Reading the checkpoint whole or saving with
    paddle.save would cost 2-3x.
    """
    peaks = {}
    for layers, (forward, reverse, checkpoint, nbytes) in scripts.items():
        pdparams = tmp_path / f"raw_{layers}.pdparams"
        there = peak_rss(
            str(forward), "--base-ckpt", str(checkpoint), "-o", str(pdparams)
        )
        back_path = tmp_path / f"back_{layers}.pt"
        back = peak_rss(
            str(reverse), "--base-ckpt", str(pdparams), "-o", str(back_path)
        )
        assert torch.equal(
            torch.load(back_path)["lm_head.weight"],
            torch.load(checkpoint)["lm_head.weight"],
        )
        peaks[layers] = (there, back, nbytes)
    (small_there, small_back, small), (large_there, large_back, large) = peaks.values()
    growth = large - small
    assert growth > 350e6
    for direction, grown in (
        ("torch -> paddle", large_there - small_there),
        ("paddle -> torch", large_back - small_back),
    ):
        assert (
            grown < 1.3 * growth
        ), f"{direction}: {growth / 1e6:.0f} MB more model cost {grown / 1e6:.0f} MB more memory"


def test_released_checkpoint_pages_leave_memory_and_stay_readable(tmp_path):
    """After release_file_pages a memory-mapped checkpoint costs no resident memory."""
    from padiff_gen.runtime.conversion.checkpoint import release_file_pages

    path = tmp_path / "big.pt"
    torch.save({"weight": torch.randn(4096, 4096)}, path)  # 64 MiB
    weight = torch.load(path, mmap=True, weights_only=True)["weight"]

    def mapped_kib() -> int:
        total = 0
        with open("/proc/self/smaps") as smaps:
            inside = False
            for line in smaps:
                if "-" in line.split(" ")[0] and len(line.split()) >= 5:
                    inside = line.rstrip().endswith(str(path))
                elif inside and line.startswith("Rss:"):
                    total += int(line.split()[1])
        return total

    checksum = float(weight.sum())  # reads every page
    assert mapped_kib() > 60 * 1024
    release_file_pages(str(path))
    assert mapped_kib() < 1024
    assert float(weight.sum()) == checksum
