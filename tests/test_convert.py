"""Checkpoint conversion into every output format, run as users run the scripts.

Each output is loaded back with the framework's own loader (paddle.load, torch.load,
safetensors' load_file) into a raw model that must then compute what the base model
computes. The conversion never builds either model with its weights: a test measures the
bytes of tensors in flight while the model doubles. Mistakes with -o are refused before
any work, and a failed conversion leaves nothing behind.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import paddle
import pytest
import torch

from bench.models import PaddleLlama, TorchLlama
from conftest import ROOT, assert_outputs_match, subprocess_env
from examples.compare import output_difference, randomize
from padiff_gen.api import emit
from test_checkpoint import SMALL, TOKENS, bits, load_table, run_script

CUSTOM = (
    "torch:examples.custom_layers.TorchBlock",
    "paddle:examples.custom_layers.PaddleBlock",
)


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("convert")


@pytest.fixture(scope="module")
def scripts(work) -> dict:
    """The Llama-shaped pair's scripts, both directions."""
    made = {}
    for name, base, raw in (
        ("t2p", "torch:bench.models.TorchLlama", "paddle:bench.models.PaddleLlama"),
        ("p2t", "paddle:bench.models.PaddleLlama", "torch:bench.models.TorchLlama"),
    ):
        made[name] = work / f"init_{name}.py"
        emit(base, raw, made[name], base_kwargs=SMALL, raw_kwargs=SMALL)
    return made


@pytest.fixture(scope="module")
def models(work) -> dict:
    """Base models with random weights, and their checkpoints."""
    torch_model, paddle_model = TorchLlama(**SMALL), PaddleLlama(**SMALL)
    randomize(torch_model, seed=3)
    randomize(paddle_model, seed=4)
    torch.save(torch_model.state_dict(), work / "base.pt")
    paddle.save(paddle_model.state_dict(), str(work / "base.pdparams"))
    return {
        "t2p": (torch_model, work / "base.pt"),
        "p2t": (paddle_model, work / "base.pdparams"),
    }


def load_output(path: Path, framework: str) -> dict:
    """The state dict in a converted output, read by the framework's own loaders."""
    if path.is_dir():
        index = json.loads((path / "model.safetensors.index.json").read_text())
        state = {}
        for name in sorted(set(index["weight_map"].values())):
            state.update(load_output(path / name, framework))
        assert index["metadata"]["total_size"] == sum(
            tensor_bytes(value) for value in state.values()
        )
        assert set(index["weight_map"]) == set(state)
        return state
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            expected = "pt" if framework == "torch" else "np"
            assert handle.metadata() == {"format": expected}
        if framework == "torch":
            from safetensors.torch import load_file
        else:
            from safetensors.paddle import load_file
        return load_file(str(path))
    if framework == "paddle":
        return paddle.load(str(path))
    return torch.load(path, weights_only=True)


def run_probe(probe: str, *args: str) -> subprocess.CompletedProcess:
    """Run `probe` (Python source) in a fresh interpreter with `args` as sys.argv[1:]."""
    return subprocess.run(
        [sys.executable, "-c", probe, *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )


def tensor_bytes(tensor) -> int:
    view = tensor if isinstance(tensor, torch.Tensor) else torch.from_dlpack(tensor)
    return view.numel() * view.element_size()


def raw_model_with(state: dict, framework: str, dtype: str = "float32"):
    if framework == "paddle":
        model = PaddleLlama(**SMALL, dtype=dtype)
        missing, unexpected = model.set_state_dict(state)
        assert not missing and not unexpected, (missing, unexpected)
        return model
    model = TorchLlama(**SMALL, dtype=dtype)
    model.load_state_dict(state, strict=True)
    return model


OUTPUTS = {
    "t2p": ["raw.pdparams", "raw.safetensors", "sharded/"],
    "p2t": ["raw.pt", "raw.bin", "raw.safetensors", "sharded/"],
}
CASES = [(direction, name) for direction, names in OUTPUTS.items() for name in names]


@pytest.mark.parametrize("direction, name", CASES, ids=[f"{d}-{n}" for d, n in CASES])
def test_each_output_loads_with_the_frameworks_own_loader_and_computes_like_the_base(
    direction, name, scripts, models, tmp_path
):
    base, checkpoint = models[direction]
    raw_framework = "paddle" if direction == "t2p" else "torch"
    output = tmp_path / name
    options = ["--max-shard-size", "200KB"] if name.endswith("/") else []

    result = run_script(
        scripts[direction], "--base-ckpt", checkpoint, "-o", output, *options
    )

    assert result.returncode == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir()] == [output.name]  # no leftovers
    state = load_output(output, raw_framework)
    raw = raw_model_with(state, raw_framework)
    if output.suffix in (".pdparams", ".pt", ".bin"):
        assert list(state) == list(raw.state_dict()), "not in the raw model's key order"
    assert_outputs_match(output_difference(base, raw, TOKENS))
    if name.endswith("/"):
        shards = sorted(p.name for p in output.iterdir())
        assert len(shards) > 2 and shards[-1] == "model.safetensors.index.json"
        assert shards[0] == f"model-00001-of-{len(shards) - 1:05d}.safetensors"


def test_a_folder_without_a_shard_size_gets_five_gb_shards(scripts, models, tmp_path):
    output = tmp_path / "converted"
    output.mkdir()  # an empty folder is used as it is
    result = run_script(
        scripts["t2p"], "--base-ckpt", models["t2p"][1], "-o", output, "--quiet"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert sorted(p.name for p in output.iterdir()) == [
        "model-00001-of-00001.safetensors",
        "model.safetensors.index.json",
    ]


@pytest.mark.parametrize("dtype", ("bfloat16", "float16"))
def test_dtype_casts_every_floating_tensor_as_the_framework_does(
    dtype, scripts, models, tmp_path
):
    output = tmp_path / "raw.safetensors"
    result = run_script(
        scripts["t2p"], "--base-ckpt", models["t2p"][1], "-o", output, "--dtype", dtype
    )
    assert result.returncode == 0, result.stderr
    state = load_output(output, "paddle")
    assert {str(value.dtype) for value in state.values()} == {f"paddle.{dtype}"}
    base_state = models["t2p"][0].state_dict()
    for base_path, raw_path, transform, _, _ in load_table(scripts["t2p"]):
        source = base_state[base_path]
        source = source.t() if transform == "transpose" else source
        expected = paddle.cast(paddle.to_tensor(source.contiguous().numpy()), dtype)
        assert torch.equal(bits(state[raw_path]), bits(expected)), raw_path
    rounded = copy.deepcopy(models["t2p"][0]).to(getattr(torch, dtype)).float()
    raw = raw_model_with(state, "paddle", dtype)
    raw.float()
    assert_outputs_match(output_difference(rounded, raw, TOKENS))


def test_a_torch_output_keeps_tied_weights_in_one_storage(tmp_path):
    tied = dict(SMALL, tie_embeddings=True)
    script = tmp_path / "init_tied.py"
    emit(
        "torch:bench.models.TorchLlama",
        "torch:bench.models.TorchLlama",
        script,
        base_kwargs=tied,
        raw_kwargs=tied,
    )
    model = TorchLlama(**tied)
    randomize(model, seed=9)
    torch.save(model.state_dict(), tmp_path / "base.pt")
    output = tmp_path / "raw.pt"

    result = run_script(script, "--base-ckpt", tmp_path / "base.pt", "-o", output)

    assert result.returncode == 0, result.stderr
    state = torch.load(output, weights_only=True, mmap=True)
    assert state["lm_head.weight"].data_ptr() == state["embed_tokens.weight"].data_ptr()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key


# ------------------------------------------------------------------ memory


MEMORY_PROBE = """
import json, runpy, sys
sys.modules["padiff_gen"] = None
found = {}
for name, script, checkpoint, output in json.loads(sys.argv[1]):
    namespace = runpy.run_path(script)
    target = namespace["plan_output"](output, None, None, "paddle", checkpoint)
    found[name] = namespace["convert_checkpoint"](checkpoint, target)
print(json.dumps(found))
"""


def test_conversion_holds_a_few_tensors_however_large_the_model(tmp_path):
    """The peak bytes of tensors in flight (made or read, still referenced) are the
    same for a model twice as deep: they depend on the largest tensors, not the model.
    """
    jobs = []
    for layers in (2, 4):
        sizes = dict(SMALL, num_layers=layers, vocab_size=64)
        script = tmp_path / f"init_{layers}.py"
        emit(
            "torch:bench.models.TorchLlama",
            "paddle:bench.models.PaddleLlama",
            script,
            base_kwargs=sizes,
            raw_kwargs=sizes,
        )
        model = TorchLlama(**sizes)
        torch.save(model.state_dict(), tmp_path / f"base_{layers}.pt")
        checkpoint, output = (
            tmp_path / f"base_{layers}.pt",
            tmp_path / f"{layers}.pdparams",
        )
        jobs.append((layers, str(script), str(checkpoint), str(output)))
    result = run_probe(MEMORY_PROBE, json.dumps(jobs))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.strip().splitlines()[-1])
    small, large = found["2"], found["4"]
    assert large["bytes"] > 1.7 * small["bytes"]
    assert large["peak_in_flight"] == small["peak_in_flight"]
    # A transposed [176, 64] weight read from the checkpoint and its fresh copy: the two
    # largest tensors, nothing else.
    largest = 176 * 64 * 4
    assert small["peak_in_flight"] <= 2 * largest


# ------------------------------------------------------------------ -o mistakes


@pytest.mark.parametrize(
    "direction, output, extra, says",
    [
        ("t2p", "raw.pt", [], "the raw model is a paddle model; name it"),
        ("p2t", "raw.pdparams", [], "the raw model is a torch model; name it"),
        ("t2p", "raw.pdparams", ["--format", "safetensors"], "name it"),
        ("t2p", "raw", [], "cannot tell which format"),
        ("t2p", "raw.safetensors", ["--max-shard-size", "1GB"], "give a folder"),
        ("t2p", "raw/", ["--max-shard-size", "lots"], "is not a size"),
    ],
    ids=[
        "pt-for-paddle",
        "pdparams-for-torch",
        "format-differs",
        "no-suffix",
        "file-and-shards",
        "bad-size",
    ],
)
def test_an_output_that_does_not_fit_is_refused_before_any_work(
    direction, output, extra, says, scripts, models, tmp_path
):
    result = run_script(
        scripts[direction],
        "--base-ckpt",
        models[direction][1],
        "-o",
        tmp_path / output,
        *extra,
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_right_names_are_suggested(scripts, models, tmp_path):
    result = run_script(
        scripts["t2p"], "--base-ckpt", models["t2p"][1], "-o", tmp_path / "weights.pt"
    )
    assert (
        f"name it {tmp_path / 'weights.pdparams'} or {tmp_path / 'weights.safetensors'}"
        in result.stderr
    )


def test_a_folder_that_holds_files_is_refused(scripts, models, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    result = run_script(
        scripts["t2p"], "--base-ckpt", models["t2p"][1], "-o", tmp_path / "model"
    )
    assert result.returncode == 1
    assert "is not empty" in result.stderr
    assert [p.name for p in (tmp_path / "model").iterdir()] == ["config.json"]


def test_a_conversion_that_fails_midway_leaves_nothing(tmp_path):
    """The initializer raises after writing part of its layer; the shards written
    so far are removed with the temporary folder."""
    script = tmp_path / "scripts" / "init_custom.py"
    script.parent.mkdir()
    emit(
        *CUSTOM,
        script,
        init_modules=["tests.fixtures.init_fails_midway"],
        base_kwargs={"dim": 16},
        raw_kwargs={"dim": 16},
    )
    model = __import__("examples.custom_layers", fromlist=["TorchBlock"]).TorchBlock(16)
    torch.save(model.state_dict(), tmp_path / "base.pt")
    out = tmp_path / "out"
    out.mkdir()
    result = run_script(
        script,
        "--base-ckpt",
        tmp_path / "base.pt",
        "-o",
        out / "sharded",
        "--max-shard-size",
        "100B",
    )
    assert result.returncode != 0
    assert "simulated failure after writing q and k" in result.stderr
    assert list(out.iterdir()) == []


BLOCKS_PROBE = """
import json, runpy, sys
sys.modules["padiff_gen"] = None
script, checkpoint, output, raw_framework, sabotage = json.loads(sys.argv[1])
namespace = runpy.run_path(script)
runtime = namespace["convert_checkpoint"].__globals__
runtime["SOURCE_BLOCK_BYTES"] = 65536  # a sixteenth of the LM head
if sabotage:  # the negative control: the last block comes out zero
    blocks = runtime["transpose_by_blocks"]
    runtime["transpose_by_blocks"] = lambda dst, src, step, copied: (
        blocks(dst, src, step, copied),
        dst[:, -step:].zero_(),  # a torch tensor: the scripts make tensors in torch
    )
target = namespace["plan_output"](output, None, None, raw_framework, checkpoint)
print(json.dumps(namespace["convert_checkpoint"](checkpoint, target)))
"""
# Embedding and LM head of 1 MiB: .pdparams stores arrays that large outside the
# pickle's frames, where the script's reader maps them.
WIDE_VOCABULARY = dict(SMALL, vocab_size=4096)


@pytest.mark.parametrize("direction", ["t2p", "p2t"])
def test_the_largest_transpose_is_made_in_blocks_and_copies_pass_straight_through(
    direction, tmp_path
):
    """The LM head, the one tensor that made whole would hold its source and its copy
    (twice what the embedding copied as it is needs), is transposed a block of rows at
    a time, its source's pages let go after each; tensors copied as they are go from
    the mapped checkpoint (.pt, or .pdparams mapped by the script's own reader)
    straight to the output. The tensors in flight peak well below a tensor and its
    copy, and the output still computes what the base model computes. A block left
    uncopied is caught by the same comparison."""
    frameworks = ("torch", "paddle") if direction == "t2p" else ("paddle", "torch")
    classes = {"torch": TorchLlama, "paddle": PaddleLlama}
    script = tmp_path / "init.py"
    emit(
        *(f"{name}:bench.models.{classes[name].__name__}" for name in frameworks),
        script,
        base_kwargs=WIDE_VOCABULARY,
        raw_kwargs=WIDE_VOCABULARY,
    )
    base = classes[frameworks[0]](**WIDE_VOCABULARY)
    randomize(base, seed=11)
    if direction == "t2p":
        checkpoint = tmp_path / "base.pt"
        torch.save(base.state_dict(), checkpoint)
    else:
        checkpoint = tmp_path / "base.pdparams"
        paddle.save(base.state_dict(), str(checkpoint))
    outcomes = {}
    for sabotage in (False, True):
        output = tmp_path / f"{sabotage}.{'pdparams' if direction == 't2p' else 'pt'}"
        job = [str(script), str(checkpoint), str(output), frameworks[1], sabotage]
        result = run_probe(BLOCKS_PROBE, json.dumps(job))
        assert result.returncode == 0, result.stderr
        done = json.loads(result.stdout.strip().splitlines()[-1])
        raw = classes[frameworks[1]](**WIDE_VOCABULARY)
        state = load_output(output, frameworks[1])
        if direction == "t2p":
            raw.set_state_dict(state)
        else:
            raw.load_state_dict(state, strict=True)
        outcomes[sabotage] = (done, output_difference(base, raw, TOKENS))
    done, outcome = outcomes[False]
    largest = 4096 * 64 * 4
    assert done["made_in_blocks"] == 1, done  # the LM head
    assert done["passed_through"] >= 1, done  # the embedding, the norms
    assert done["peak_in_flight"] < 1.5 * largest, done
    assert_outputs_match(outcome)
    wrong = outcomes[True][1]
    assert wrong["max_abs_diff"] > 100 * max(outcome["max_abs_diff"], 1e-6), wrong


DURABILITY_PROBE = """
import os, runpy, sys
sys.modules["padiff_gen"] = None
events, sys.argv = sys.argv[1], sys.argv[2:]
fsync, replace = os.fsync, os.replace


def record(*words):
    with open(events, "a") as log:
        log.write(" ".join(words) + "\\n")


def recording_fsync(descriptor):
    record("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{descriptor}")))
    fsync(descriptor)


def recording_replace(source, target):
    record("replace", os.path.basename(source), os.path.basename(target))
    replace(source, target)


os.fsync, os.replace = recording_fsync, recording_replace
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("name", ["raw.pdparams", "sharded/"])
def test_the_output_is_on_disk_before_it_takes_its_name(
    name, scripts, models, tmp_path
):
    """After a crash the output is whole or absent: every file written is fsynced
    before the temporary file or folder is renamed to the output's name, and the
    folder that holds the name is fsynced after the rename."""
    folder = tmp_path / "out"
    folder.mkdir()
    output, events = folder / name.rstrip("/"), tmp_path / "events.txt"
    options = ["--max-shard-size", "200KB"] if name.endswith("/") else []
    result = run_probe(
        DURABILITY_PROBE,
        str(events),
        str(scripts["t2p"]),
        "--base-ckpt",
        str(models["t2p"][1]),
        "-o",
        str(output),
        *options,
    )
    assert result.returncode == 0, result.stderr
    log = [line.split() for line in events.read_text().splitlines()]
    renames = [i for i, event in enumerate(log) if event[0] == "replace"]
    assert len(renames) == 1 and log[renames[0]][2] == output.name, log
    temporary = log[renames[0]][1]
    synced_before = {event[1] for event in log[: renames[0]] if event[0] == "fsync"}
    written = [p.name for p in output.iterdir()] if output.is_dir() else []
    assert synced_before >= {temporary, *written}, log
    if written:
        assert len(written) > 2  # shards and their index
    assert ["fsync", folder.name] in log[renames[0] + 1 :], log


INTERRUPT_PROBE = """
import os, runpy, sys
sys.modules["padiff_gen"] = None


def interrupted(*args):
    raise KeyboardInterrupt  # Ctrl-C at the worst moment: all written, not yet renamed


os.replace, sys.argv = interrupted, sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("name", ["raw.pdparams", "sharded/"])
def test_ctrl_c_says_one_line_and_leaves_nothing(name, scripts, models, tmp_path):
    """Ctrl-C is not a bug: one line, exit status 130 as a shell reports it, no
    traceback, and neither the output nor its temporary is left."""
    folder = tmp_path / "out"
    folder.mkdir()
    output = folder / name.rstrip("/")
    options = ["--max-shard-size", "200KB"] if name.endswith("/") else []
    result = run_probe(
        INTERRUPT_PROBE,
        str(scripts["t2p"]),
        "--base-ckpt",
        str(models["t2p"][1]),
        "-o",
        str(output),
        *options,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert f"interrupted: {output} takes its name only when whole" in result.stderr
    assert list(folder.iterdir()) == []


def test_a_killed_run_s_temporary_is_named_not_removed(scripts, models, tmp_path):
    """A run killed by SIGKILL cannot clean up: the next run to the same output names
    what it left (it may be as large as the output) and leaves it, since another run
    may be writing it; a temporary of another output is not named."""
    output = tmp_path / "raw.pdparams"
    leftover = tmp_path / ".raw.pdparams.x1y2z3.partial"
    leftover.write_bytes(b"\0" * 3_000_000)
    other = tmp_path / ".other.pdparams.a1b2c3.partial"
    other.write_bytes(b"\0")
    result = run_script(scripts["t2p"], "--base-ckpt", models["t2p"][1], "-o", output)
    assert result.returncode == 0, result.stderr
    assert f"note: {leftover} (3 MB) was left by a run of this script" in result.stderr
    assert other.name not in result.stderr
    assert leftover.exists() and output.exists()
