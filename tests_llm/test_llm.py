"""Acceptance tests of issue 8: padiff-gen on Hugging Face transformers <-> PaddleFormers.

For every architecture of tests_llm/pairs.py and both directions, `padiff-gen emit` runs
with the default invocation (no --map, no options) as a subprocess; the generated script
then runs standalone (tests_llm/check_generated.py, padiff_gen unimportable) on randomly
perturbed base weights, and both models' logits are compared. A tiny Hugging Face
checkpoint saved with `save_pretrained` (sharded safetensors) is converted with the
generated script as a program and loaded into the PaddleFormers model, where it must hold
what PaddleFormers' own from_pretrained makes of that checkpoint; the other way, the
script's sharded safetensors output loads with transformers' from_pretrained.

The emits of the selected tests run two at a time, once per session, and all generated
scripts are checked in one process: each process pays ~6 s to import torch, paddle,
transformers and PaddleFormers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from tests_llm import harness, pairs, published

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = list(pairs.ARCHITECTURES)
DIRECTIONS = ["hf_to_pf", "pf_to_hf"]

# Generated scripts copy exactly what the hand copy copies (a transpose or a slice moves
# bits, it does not round), so they reach the hand copy's 3.7e-6 of the logits' scale
# (tests_llm/test_pairs.py). 1e-4, the bound, leaves a margin for a script that
# fuses in another order or casts through another dtype, and stays a hundred times below
# the smallest error a wrong layout produces there (>= 1e-2).
TOLERANCE = 1e-4

# Checkpoint conversion: a plain model, fused qkv, tied embeddings (the checkpoint has no
# lm_head), and stacked experts (the checkpoint has them per expert; see LAYOUTS.md).
CHECKPOINT_ARCHS = ["llama", "qwen2", "gemma3", "qwen3_moe"]


def specs(arch: str, direction: str) -> list[str]:
    kwargs = json.dumps({"arch": arch})
    hf = ["torch:tests_llm.pairs.hf_model", kwargs]
    pf = ["paddle:tests_llm.pairs.pf_model", kwargs]
    base, raw = (hf, pf) if direction == "hf_to_pf" else (pf, hf)
    return [
        "--base",
        base[0],
        "--base-kwargs",
        base[1],
        "--raw",
        raw[0],
        "--raw-kwargs",
        raw[1],
    ]


def _environment() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _emit(arch: str, direction: str, folder: str) -> dict:
    script = os.path.join(folder, f"init_weights_{arch}_{direction}.py")
    command = [sys.executable, "-m", "padiff_gen", "emit", *specs(arch, direction)]
    done = subprocess.run(
        command + ["-o", script],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    # Only padiff-gen's own message: what precedes it is paddle's and PaddleFormers' logging.
    start = done.stderr.find("padiff-gen: ")
    message = done.stderr[start:] if start >= 0 else done.stderr[-3000:]
    return {"returncode": done.returncode, "script": script, "stderr": message}


def _selected_pairs(session) -> list[tuple[str, str]]:
    wanted = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.module.__name__.endswith("test_llm") and "arch" in params:
            pair = (params["arch"], params.get("direction", "hf_to_pf"))
            if pair not in wanted:
                wanted.append(pair)
    return wanted


@pytest.fixture(scope="session")
def emitted(request, tmp_path_factory) -> dict:
    folder = str(tmp_path_factory.mktemp("emitted"))
    wanted = _selected_pairs(request.session)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda pair: _emit(*pair, folder), wanted)
    return dict(zip(wanted, results))


def check_jobs(jobs: list[dict], folder) -> list[dict]:
    """tests_llm/check_generated.py's results for `jobs`, run in one subprocess."""
    jobs_file = folder / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, "-m", "tests_llm.check_generated", str(jobs_file)],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="session")
def checked(emitted, tmp_path_factory) -> dict:
    """The standalone run of every script that emit wrote, in one process."""
    jobs = [
        {"script": result["script"], "arch": arch, "direction": direction}
        for (arch, direction), result in emitted.items()
        if result["returncode"] == 0
    ]
    if not jobs:
        return {}
    results = check_jobs(jobs, tmp_path_factory.mktemp("jobs"))
    return {(job["arch"], job["direction"]): r for job, r in zip(jobs, results)}


def emitted_script(emitted, arch, direction) -> str:
    result = emitted[(arch, direction)]
    if result["returncode"] != 0:
        pytest.fail(
            f"padiff-gen emit refused {arch} {direction} "
            f"(exit {result['returncode']}):\n{result['stderr']}",
            pytrace=False,
        )
    return result["script"]


def assert_reproduces(arch: str, result: dict) -> None:
    """A checked script copied exactly what the hand copy copies, and the logits agree."""
    assert "error" not in result, result["error"]
    assert not result["padiff_gen_imported"]
    assert result["reference_mismatch_count"] == 0, (
        f"{result['reference_mismatch_count']} raw tensors differ from the hand copy, "
        f"e.g. {result['reference_mismatches']}"
    )
    if pairs.ARCHITECTURES[arch].cpu_blocker:  # judged by the tensors alone, above
        assert result["logits"].startswith("not run")
        return
    assert result["logits"]["relative"] < TOLERANCE, result["logits"]


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("arch", ARCHS)
def test_default_emit_reproduces_logits(arch, direction, emitted, checked):
    emitted_script(emitted, arch, direction)
    assert_reproduces(arch, checked[(arch, direction)])


# A stand-in for a generated script, to show that the check above can pass and can fail
# whatever padiff-gen does today: it copies with the hand copy, optionally spoiled.
STAND_IN = """
import importlib
from tests_llm import harness, pairs, reference

BASE_SPEC = {{"framework": "torch", "target": "tests_llm.pairs.hf_model", "kwargs": {{"arch": {arch!r}}}}}
RAW_SPEC = {{"framework": "paddle", "target": "tests_llm.pairs.pf_model", "kwargs": {{"arch": {arch!r}}}}}


def build_model(spec):
    module, _, name = spec["target"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**spec["kwargs"])


def init_weights(base, raw):
    config = pairs.hf_config({arch!r})
    state = reference.hf_to_pf({arch!r}, config, harness.state_arrays(base), list(raw.state_dict()))
    if {spoil!r}:
        name = {spoil!r}
        state[name] = state[name][:, ::-1].copy()
    harness.load_arrays(raw, state)
"""


def test_the_check_passes_a_correct_copy_and_fails_a_wrong_one(tmp_path):
    arch, jobs = "qwen2", []
    for spoil in ("", "model.layers.1.self_attn.qkv_proj.weight"):
        script = tmp_path / f"stand_in_{len(jobs)}.py"
        script.write_text(STAND_IN.format(arch=arch, spoil=spoil))
        jobs.append({"script": str(script), "arch": arch, "direction": "hf_to_pf"})
    correct, spoiled = check_jobs(jobs, tmp_path)
    assert_reproduces(arch, correct)
    with pytest.raises(AssertionError):
        assert_reproduces(arch, spoiled)
    assert spoiled["reference_mismatches"] == [
        "model.layers.1.self_attn.qkv_proj.weight"
    ]
    assert spoiled["logits"]["relative"] > 1e-2


def _run_standalone(script: str, *arguments: str) -> subprocess.CompletedProcess:
    """`python init_weights.py ARGS` with padiff_gen unimportable."""
    program = (
        "import runpy, sys; sys.modules['padiff_gen'] = None; "
        f"sys.argv = [{script!r}] + sys.argv[1:]; "
        f"runpy.run_path({script!r}, run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", program, *arguments],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("arch", CHECKPOINT_ARCHS)
def test_sharded_hf_checkpoint_converts(arch, emitted, tmp_path):
    import paddle

    script = emitted_script(emitted, arch, "hf_to_pf")
    hf = pairs.hf_model(arch)
    harness.randomize(hf, 5)
    checkpoint = tmp_path / "hf"
    hf.save_pretrained(checkpoint, max_shard_size="40KB")
    index = checkpoint / "model.safetensors.index.json"
    assert index.exists() and len(list(checkpoint.glob("*.safetensors"))) > 1
    output = tmp_path / "raw.pdparams"
    done = _run_standalone(script, "--base-ckpt", str(index), "-o", str(output))
    assert done.returncode == 0, done.stderr[-3000:]

    spec = pairs.ARCHITECTURES[arch]
    ids = harness.token_ids(pairs.hf_config(arch).vocab_size)
    expected = harness.logits(hf, ids)
    pf = pairs.pf_model(arch)
    missing, unexpected = pf.set_state_dict(paddle.load(str(output)))
    assert not missing and not unexpected, (missing, unexpected)
    result = harness.difference(
        expected, harness.logits(pf, ids, bool(spec.pf_train_mode))
    )
    assert result["relative"] < TOLERANCE, result

    # PaddleFormers' own loader reads what its own save_pretrained wrote from them.
    folder = tmp_path / "pf"
    pf.save_pretrained(str(folder))
    model_class = getattr(pairs._PF_MODULES[arch], spec.pf_model)
    loaded = model_class.from_pretrained(str(folder), dtype="float32")
    assert_round_trip(arch, harness.state_arrays(pf), harness.state_arrays(loaded))


def _bfloat16_rounded(name: str, arch: str) -> bool:
    """Tensors that PaddleFormers' own save_pretrained rounds to bfloat16.

    Its `_gen_inv_aoa_config` (qwen2_moe, qwen3_moe, qwen3_next, deepseek_v3, glm4_moe)
    writes the MoE router as `... -> model.layers.$LAYER_ID.mlp.gate.weight,
    dtype='bfloat16'` (e.g. `qwen3_moe/modeling.py` l.870): a PaddleFormers round trip
    of a float32 model changes these by up to 2^-8 of their values.
    """
    return arch in (
        "qwen2_moe",
        "qwen3_moe",
        "qwen3_next",
        "deepseek_v3",
        "glm4_moe",
    ) and (name.endswith("mlp.gate.weight"))


def assert_round_trip(arch: str, saved: dict, loaded: dict) -> None:
    assert set(saved) == set(loaded)
    for name, value in saved.items():
        if _bfloat16_rounded(name, arch):
            bound = np.abs(value) * 2.0**-8 + 1e-30
            assert (np.abs(loaded[name] - value) <= bound).all(), name
        else:
            np.testing.assert_array_equal(loaded[name], value, err_msg=name)


@pytest.mark.parametrize("arch", CHECKPOINT_ARCHS)
@pytest.mark.parametrize("direction", ["pf_to_hf"])  # (which scripts to emit)
def test_sharded_torch_output_loads_with_transformers_from_pretrained(
    arch, direction, emitted, tmp_path
):
    """PaddleFormers -> Hugging Face: the script's sharded safetensors output (`-o
    folder/ --max-shard-size`), with the Hugging Face config saved beside it, is what
    transformers' from_pretrained reads: the model it loads computes the PaddleFormers
    model's logits."""
    import paddle
    import torch

    spec = pairs.ARCHITECTURES[arch]
    script = emitted_script(emitted, arch, direction)
    base, raw = pairs.pf_model(arch), pairs.hf_model(arch)
    harness.randomize(base, 8)
    checkpoint = tmp_path / "base.pdparams"
    paddle.save(base.state_dict(), str(checkpoint))
    output = tmp_path / "converted"
    done = _run_standalone(
        script,
        "--base-ckpt",
        str(checkpoint),
        "-o",
        f"{output}/",
        "--max-shard-size",
        "40KB",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(list(output.glob("model-*.safetensors"))) > 1
    raw.config.save_pretrained(str(output))
    loaded = type(raw).from_pretrained(str(output), dtype=torch.float32).eval()
    ids = harness.token_ids(pairs.hf_config(arch).vocab_size)
    result = harness.difference(
        harness.logits(base, ids, bool(spec.pf_train_mode)), harness.logits(loaded, ids)
    )
    assert result["relative"] < TOLERANCE, result


@pytest.mark.parametrize("arch", CHECKPOINT_ARCHS)
def test_paddleformers_own_loader_agrees_with_the_conversion(arch, emitted, tmp_path):
    """PaddleFormers' from_pretrained reads Hugging Face's layout (its AOA config
    converts on load; its save_pretrained writes that layout too), so a PaddleFormers
    model is loaded with from_pretrained from the Hugging Face checkpoint itself, and
    the script's output is its state dict (set_state_dict). Both routes give the model
    the same tensors: PaddleFormers' own converter checks the script's layouts."""
    import paddle

    spec = pairs.ARCHITECTURES[arch]
    script = emitted_script(emitted, arch, "hf_to_pf")
    hf = pairs.hf_model(arch)
    harness.randomize(hf, 9)
    checkpoint = tmp_path / "hf"
    hf.save_pretrained(checkpoint, max_shard_size="40KB")
    output = tmp_path / "raw.pdparams"
    index = checkpoint / "model.safetensors.index.json"
    done = _run_standalone(script, "--base-ckpt", str(index), "-o", str(output))
    assert done.returncode == 0, done.stderr[-3000:]
    converted = pairs.pf_model(arch)
    missing, unexpected = converted.set_state_dict(paddle.load(str(output)))
    assert not missing and not unexpected, (missing, unexpected)
    model_class = getattr(pairs._PF_MODULES[arch], spec.pf_model)
    loaded = model_class.from_pretrained(str(checkpoint), dtype="float32")
    assert_round_trip(
        arch, harness.state_arrays(converted), harness.state_arrays(loaded)
    )


# ---------------------------------------------------------------- published sizes (issue 16)

PUBLISHED = list(published.CONFIGS)


def _selected_published(session) -> list[tuple[str, str]]:
    wanted = []
    for item in session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.name.startswith("test_published") and "arch" in params:
            pair = (params["arch"], params["direction"])
            if pair not in wanted:
                wanted.append(pair)
    return wanted


def _emit_published(arch: str, direction: str, folder: str) -> dict:
    kwargs = json.dumps(published.kwargs(arch))
    hf = ["torch:tests_llm.pairs.hf_model", kwargs]
    pf = ["paddle:tests_llm.pairs.pf_model", kwargs]
    base, raw = (hf, pf) if direction == "hf_to_pf" else (pf, hf)
    script = os.path.join(folder, f"published_{arch}_{direction}.py")
    command = [sys.executable, "-m", "padiff_gen", "emit", "--base", base[0]]
    command += ["--base-kwargs", base[1], "--raw", raw[0], "--raw-kwargs", raw[1]]
    done = subprocess.run(
        command + ["-o", script],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    start = done.stderr.find("padiff-gen: ")
    message = done.stderr[start:] if start >= 0 else done.stderr[-3000:]
    return {"returncode": done.returncode, "script": script, "stderr": message}


@pytest.fixture(scope="session")
def published_emitted(request, tmp_path_factory) -> dict:
    folder = str(tmp_path_factory.mktemp("published"))
    wanted = _selected_published(request.session)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = pool.map(lambda pair: _emit_published(*pair, folder), wanted)
    return dict(zip(wanted, results))


def _composite_rows(script: str) -> dict[str, tuple]:
    """Raw tensor -> (base tensors, transform, comment) of the composite table rows
    (folded rows written out)."""
    from padiff_gen.plan import fold

    rows = {}
    for row in fold.table_in(open(script).read(), "TENSOR_TABLE"):
        if row.value[2] not in ("copy", "transpose", "reshape"):
            rows[row.value[1]] = (row.value[0], row.value[2], row.comment)
    return rows


def _shape_free(rows: dict[str, tuple]) -> dict[tuple, tuple]:
    """The rows without sizes, group counts, layer and expert indices: what a layout
    is, whatever the width and the number of experts. (raw path, base paths, transform)
    with every number N, alike rows once -> the rows' comments."""
    import re

    def free(text: str) -> str:
        return re.sub(r"\d+", "N", text)

    found: dict[tuple, tuple] = {}
    for path, (sources, transform, comment) in rows.items():
        names = sources if isinstance(sources, tuple) else (sources,)
        collapsed = []
        for name in map(free, names):
            if name not in collapsed:
                collapsed.append(name)
        key = (free(path), tuple(collapsed), free(transform))
        found[key] = found.get(key, ()) + (comment,)
    return found


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("arch", PUBLISHED)
def test_published_configuration_decides_every_layout(
    arch, direction, published_emitted, emitted
):
    """At the published widths and head counts (two layers), the default emit decides
    every layout, names the block that decided what shapes did not, and decides what
    the tiny pair (whose script reproduces the logits) decides: the same parts in the
    same order, grouped per KV head where the tiny one is (sizes, group counts and
    expert counts aside)."""
    result = published_emitted[(arch, direction)]
    assert result["returncode"] == 0, result["stderr"]
    tiny = _shape_free(_composite_rows(emitted_script(emitted, arch, direction)))
    real = _shape_free(_composite_rows(result["script"]))
    assert real.keys() == tiny.keys()
    said = [c for comments in real.values() for c in comments if "(found by" in c]
    assert all("(found by running `" in c for c in said), said  # a block, named


@pytest.mark.parametrize(
    "arch, direction",
    [("qwen2", "hf_to_pf"), ("qwen3_moe", "pf_to_hf"), ("deepseek_v3", "hf_to_pf")],
)
def test_published_blocks_tell_every_other_layout_apart(arch, direction):
    """The negative control of the evidence at real size: on the block that decides,
    the layout chosen agrees to float32 noise, and every other candidate (another
    order, another grouping, gate and up swapped) misses by more than a hundred times
    as much."""
    done = subprocess.run(
        [sys.executable, "-m", "tests_llm.block_evidence", arch, direction],
        cwd=ROOT,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("[")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    kinds = json.loads(lines[-1])
    assert kinds
    for kind in kinds:
        assert kind["choice"] is not None, kind["remark"]
        chosen = kind["differences"][kind["choice"]]
        others = [d for i, d in enumerate(kind["differences"]) if i != kind["choice"]]
        assert chosen < 1e-5, kind
        assert others and min(others) > max(100 * chosen, 1e-3), kind
