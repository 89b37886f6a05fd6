"""Checkpoint conversion by generated scripts (`--base-ckpt`), run as users run them.

Each script runs in a subprocess where padiff_gen cannot be imported. Converted tensors
must equal the base tensors exactly (transposed where the table says, cast only where the
raw model's dtype differs, and then equal to the raw framework's own cast). Mistakes must
end in one `error: ...` line, exit status 1, no traceback, and no file written.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import paddle
import pytest
import torch
from safetensors.torch import save_file

from conftest import ROOT, assert_outputs_match, subprocess_env
from bench.models import PaddleLlama, TorchLlama
from examples.compare import output_difference, randomize
from padiff_gen.api import emit

SMALL = dict(
    vocab_size=96, hidden_size=64, intermediate_size=176, num_layers=2, num_heads=4
)
TOKENS = [("int64", (2, 7), SMALL["vocab_size"])]
INTEGER_OF_WIDTH = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}

# Runs a generated script as `python SCRIPT ARGS` would, with padiff_gen unimportable.
STANDALONE = (
    "import runpy, sys; sys.modules['padiff_gen'] = None; "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_script(script: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", STANDALONE, str(script), *map(str, args)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        **kwargs,
    )


def make_script(
    directory: Path, base: str, raw: str, base_kwargs=None, raw_kwargs=None
):
    directory.mkdir(exist_ok=True)
    name = f"init_{base.split(':')[0]}_{raw.split(':')[0]}_{len(list(directory.iterdir()))}.py"
    path = directory / name
    emit(base, raw, path, base_kwargs=base_kwargs or {}, raw_kwargs=raw_kwargs or {})
    return path


def load_table(script: Path) -> tuple:
    """The script's TENSOR_TABLE, plus a plain-copy row for each embedding it initializes.

    The Llama pair's embedding has no padding_idx, so it is a table row; an Embedding
    initializer's row (a paddle padding_idx) is read as the plain copy it makes.
    """
    namespace: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    rows = list(namespace["TENSOR_TABLE"])
    for base_path, raw_path, initializer in namespace["SPECIAL_INITS"]:
        assert initializer.startswith("init_embedding_"), initializer
        rows.append((f"{base_path}.weight", f"{raw_path}.weight", "copy", None, None))
    return tuple(rows)


def bits(tensor) -> torch.Tensor:
    if not isinstance(tensor, torch.Tensor):
        tensor = torch.from_dlpack(tensor.detach())
    return tensor.contiguous().view(INTEGER_OF_WIDTH[tensor.element_size()])


def assert_converted(table, base_state, raw_state, cast) -> None:
    """Every raw tensor equals cast(base tensor, transposed per the table), bit for bit."""
    assert len(raw_state) == len(table)
    for base_path, raw_path, transform, _, _ in table:
        source = base_state[base_path]
        source = source.t() if transform == "transpose" else source
        expected = cast(source, raw_state[raw_path])
        assert torch.equal(bits(raw_state[raw_path]), bits(expected)), raw_path


def keep(source, raw_tensor):
    return source


def save_sharded(
    state: dict, directory: Path, save, suffix: str, index_name: str
) -> Path:
    keys = list(state)
    shards = {
        f"part-00001{suffix}": keys[: len(keys) // 2],
        f"part-00002{suffix}": keys[len(keys) // 2 :],
    }
    for name, names in shards.items():
        save({key: state[key] for key in names}, directory / name)
    index = {
        "metadata": {"total_size": 0},
        "weight_map": {key: name for name, names in shards.items() for key in names},
    }
    path = directory / index_name
    path.write_text(json.dumps(index))
    return path


def save_safetensors(state, path):
    save_file({key: value.contiguous() for key, value in state.items()}, str(path))


FORMATS = {
    "pt": lambda s, d: _save(torch.save, s, d / "base.pt"),
    "pt-legacy": lambda s, d: _save(
        lambda st, p: torch.save(st, p, _use_new_zipfile_serialization=False),
        s,
        d / "legacy.pth",
    ),
    "bin": lambda s, d: _save(torch.save, s, d / "pytorch_model.bin"),
    "safetensors": lambda s, d: _save(save_safetensors, s, d / "model.safetensors"),
    "sharded-safetensors": lambda s, d: save_sharded(
        s, d, save_safetensors, ".safetensors", "model.safetensors.index.json"
    ),
    "sharded-bin": lambda s, d: save_sharded(
        s, d, torch.save, ".bin", "pytorch_model.bin.index.json"
    ),
}


def _save(save, state, path: Path) -> Path:
    save(state, path)
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("checkpoints")


@pytest.fixture(scope="module")
def torch_to_paddle(work) -> Path:
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    return make_script(
        scripts,
        "torch:bench.models.TorchLlama",
        "paddle:bench.models.PaddleLlama",
        SMALL,
        SMALL,
    )


@pytest.fixture(scope="module")
def paddle_to_torch(work) -> Path:
    scripts = work / "scripts"
    scripts.mkdir(exist_ok=True)
    return make_script(
        scripts,
        "paddle:bench.models.PaddleLlama",
        "torch:bench.models.TorchLlama",
        SMALL,
        SMALL,
    )


@pytest.fixture(scope="module")
def base_state(work) -> dict:
    model = TorchLlama(**SMALL)
    randomize(model, seed=3)  # RMSNorm weights of 1 would hide a forgotten copy
    return {key: value.clone() for key, value in model.state_dict().items()}


@pytest.mark.parametrize("kind", list(FORMATS))
def test_every_torch_format_converts_exactly(
    kind, work, torch_to_paddle, base_state, tmp_path
):
    directory = work / kind
    directory.mkdir()
    checkpoint = FORMATS[kind](base_state, directory)
    output = tmp_path / "raw.pdparams"

    result = run_script(torch_to_paddle, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    assert_converted(
        load_table(torch_to_paddle), base_state, paddle.load(str(output)), keep
    )
    assert ("legacy format" in result.stderr) == (kind == "pt-legacy")


def test_converted_model_computes_what_the_base_computes(
    work, torch_to_paddle, base_state, tmp_path
):
    checkpoint = FORMATS["pt"](base_state, tmp_path)
    output = tmp_path / "raw.pdparams"
    assert (
        run_script(torch_to_paddle, "--base-ckpt", checkpoint, "-o", output).returncode
        == 0
    )
    base, raw = TorchLlama(**SMALL), PaddleLlama(**SMALL)
    base.load_state_dict(base_state)
    raw.set_state_dict(paddle.load(str(output)))
    assert_outputs_match(output_difference(base, raw, TOKENS))


def test_round_trip_torch_paddle_torch_is_exact(
    torch_to_paddle, paddle_to_torch, base_state, tmp_path
):
    checkpoint = FORMATS["pt"](base_state, tmp_path)
    there, back = tmp_path / "raw.pdparams", tmp_path / "back.pt"
    assert (
        run_script(torch_to_paddle, "--base-ckpt", checkpoint, "-o", there).returncode
        == 0
    )
    result = run_script(paddle_to_torch, "--base-ckpt", there, "-o", back)
    assert result.returncode == 0, result.stderr
    returned = torch.load(back)
    assert list(returned) == list(base_state)
    for key, value in base_state.items():
        assert torch.equal(returned[key], value), key


def save_paddle_sharded(state: dict, directory: Path) -> Path:
    return save_sharded(
        state,
        directory,
        lambda part, path: paddle.save(part, str(path)),
        ".pdparams",
        "model_state.pdparams.index.json",
    )


def save_paddle_safetensors(state: dict, path: Path) -> Path:
    from safetensors.paddle import save_file as save_paddle_file

    save_paddle_file(state, str(path))
    return path


PADDLE_FORMATS = {
    "pdparams": lambda s, d: _save(
        lambda st, p: paddle.save(st, str(p)), s, d / "a.pdparams"
    ),
    "pdparams-protocol-2": lambda s, d: _save(
        lambda st, p: paddle.save(st, str(p), protocol=2), s, d / "b.pdparams"
    ),
    "sharded-pdparams": save_paddle_sharded,
    "safetensors": lambda s, d: save_paddle_safetensors(s, d / "model.safetensors"),
}


@pytest.mark.parametrize("kind", list(PADDLE_FORMATS))
def test_every_paddle_format_converts_exactly(kind, paddle_to_torch, tmp_path):
    """The reverse direction reads paddle's formats, bfloat16 tensors included.

    paddle.save's default pickle (protocol 4) is read one array at a time; protocol 2
    stores bytes otherwise, and such a file is read whole by paddle.load, with a note.
    """
    model = PaddleLlama(**SMALL)
    randomize(model, seed=5)
    state = {key: value.astype("bfloat16") for key, value in model.state_dict().items()}
    checkpoint = PADDLE_FORMATS[kind](state, tmp_path)
    output = tmp_path / "raw.pt"

    result = run_script(paddle_to_torch, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    assert ("is read whole" in result.stderr) == (kind == "pdparams-protocol-2")
    raw_state = torch.load(output)
    assert all(value.dtype == torch.float32 for value in raw_state.values())
    base = {
        key: torch.from_dlpack(value.astype("float32").detach())
        for key, value in state.items()
    }
    # bfloat16 -> float32 widens exactly.
    assert_converted(load_table(paddle_to_torch), base, raw_state, keep)


@pytest.mark.parametrize("dtype", ("bfloat16", "float16", "float64"))
def test_raw_dtype_is_kept_and_equals_paddles_own_cast(
    dtype, work, base_state, tmp_path
):
    scripts = work / "scripts"
    script = make_script(
        scripts,
        "torch:bench.models.TorchLlama",
        "paddle:bench.models.PaddleLlama",
        SMALL,
        dict(SMALL, dtype=dtype),
    )
    checkpoint = FORMATS["safetensors"](base_state, tmp_path)
    output = tmp_path / "raw.pdparams"

    result = run_script(script, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    raw_state = paddle.load(str(output))
    assert {str(v.dtype) for v in raw_state.values()} == {f"paddle.{dtype}"}

    def paddle_cast(source, raw_tensor):
        return paddle.cast(paddle.to_tensor(source.contiguous().numpy()), dtype)

    assert_converted(load_table(script), base_state, raw_state, paddle_cast)


@pytest.mark.parametrize(
    "base,raw",
    [
        ("torch:examples.cnn.TorchCNN", "paddle:examples.cnn.PaddleCNN"),
        ("paddle:examples.cnn.PaddleCNN", "torch:examples.cnn.TorchCNN"),
        ("paddle:examples.cnn.PaddleCNN", "paddle:examples.cnn.PaddleCNN"),
        ("torch:examples.cnn.TorchCNN", "torch:examples.cnn.TorchCNN"),
        ("paddle:examples.lstm.PaddleTagger", "torch:examples.lstm.TorchTagger"),
    ],
    ids=[
        "batchnorm-torch-to-paddle",
        "batchnorm-paddle-to-torch",
        "cnn-paddle-to-paddle",
        "cnn-torch-to-torch",
        "lstm-paddle-to-torch",
    ],
)
def test_conversions_with_layers_of_every_kind(base, raw, work, tmp_path):
    """Special initializers (BatchNorm, LSTM) read their layers from the checkpoint, and
    same-framework scripts (paddle's own copy kernel included) stream as well.

    paddle's LSTM cannot be built under LazyGuard: the script says so and builds the base
    model normally, and the result is the same.
    """
    suffix = {"torch": "pt", "paddle": "pdparams"}
    save = {"torch": torch.save, "paddle": paddle.save}
    base_framework, raw_framework = base.split(":")[0], raw.split(":")[0]
    script = make_script(work / "scripts", base, raw)
    namespace: dict = {}
    exec(compile(script.read_text(), str(script), "exec"), namespace)
    base_model = namespace["build_model"](namespace["BASE_SPEC"])
    randomize(base_model, seed=7)
    checkpoint = tmp_path / f"base.{suffix[base_framework]}"
    save[base_framework](base_model.state_dict(), str(checkpoint))
    output = tmp_path / f"raw.{suffix[raw_framework]}"

    result = run_script(script, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    assert ("cannot be built without weights" in result.stderr) == ("lstm" in base)
    raw_model = namespace["build_model"](namespace["RAW_SPEC"])
    if raw_framework == "paddle":
        raw_model.set_state_dict(paddle.load(str(output)))
    else:
        raw_model.load_state_dict(torch.load(output))
    inputs = [("int64", (3, 7), 50)] if "lstm" in base else [("float32", (2, 3, 8, 8))]
    assert_outputs_match(output_difference(base_model, raw_model, inputs))


# ------------------------------------------------------------------ mistakes


def truncated(path: Path, keep_fraction: float = 0.6) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep_fraction)])
    return path


def bad_checkpoints(base_state: dict, directory: Path) -> dict:
    """name -> (checkpoint path, script direction, words the message must contain)."""
    other = TorchLlama(**dict(SMALL, hidden_size=32, intermediate_size=88)).state_dict()
    fewer = {k: v for k, v in base_state.items() if not k.startswith("lm_head")}
    more = dict(base_state, extra=torch.zeros(3))
    pdparams = directory / "model.pdparams"
    paddle.save(
        {k: paddle.to_tensor(v.numpy()) for k, v in base_state.items()}, str(pdparams)
    )
    garbage = directory / "garbage.pt"
    garbage.write_bytes(os.urandom(4096))
    sharded = save_sharded(
        base_state, directory, torch.save, ".bin", "pytorch_model.bin.index.json"
    )
    (directory / "part-00002.bin").unlink()
    return {
        "missing-file": (directory / "nowhere.pt", "t2p", ["does not exist"]),
        "directory": (directory, "t2p", ["is a directory"]),
        "truncated-pt": (
            truncated(_save(torch.save, base_state, directory / "cut.pt")),
            "t2p",
            ["cannot read", "truncated"],
        ),
        "truncated-safetensors": (
            truncated(
                _save(save_safetensors, base_state, directory / "cut.safetensors")
            ),
            "t2p",
            ["cannot read", "safetensors"],
        ),
        "truncated-pdparams": (
            truncated(pdparams_copy(pdparams, directory)),
            "p2t",
            ["cannot read", "paddle"],
        ),
        "garbage": (garbage, "t2p", ["cannot read", "torch"]),
        "pdparams-for-torch": (pdparams, "t2p", ["not a torch checkpoint"]),
        "pt-for-paddle": (
            _save(torch.save, base_state, directory / "for_paddle.pt"),
            "p2t",
            ["is a torch checkpoint"],
        ),
        "other-size": (
            _save(torch.save, other, directory / "other.pt"),
            "t2p",
            [
                "does not fit",
                "is [96, 32] in the checkpoint but [96, 64] in the base model",
            ],
        ),
        "missing-keys": (
            _save(torch.save, fewer, directory / "fewer.pt"),
            "t2p",
            ["does not fit", "lacks `lm_head.weight`"],
        ),
        "unexpected-keys": (
            _save(torch.save, more, directory / "more.pt"),
            "t2p",
            ["does not fit", "has no `extra`"],
        ),
        "missing-shard": (sharded, "t2p", ["part-00002.bin", "missing"]),
    }


def pdparams_copy(source: Path, directory: Path) -> Path:
    target = directory / "cut.pdparams"
    target.write_bytes(source.read_bytes())
    return target


@pytest.fixture(scope="module")
def mistakes(work, base_state) -> dict:
    directory = work / "mistakes"
    directory.mkdir()
    return bad_checkpoints(base_state, directory)


MISTAKES = [
    "missing-file",
    "directory",
    "truncated-pt",
    "truncated-safetensors",
    "truncated-pdparams",
    "garbage",
    "pdparams-for-torch",
    "pt-for-paddle",
    "other-size",
    "missing-keys",
    "unexpected-keys",
    "missing-shard",
]


@pytest.mark.parametrize("name", MISTAKES)
def test_bad_checkpoints_fail_in_one_line_and_write_nothing(
    name, mistakes, torch_to_paddle, paddle_to_torch, tmp_path
):
    checkpoint, direction, words = mistakes[name]
    script = torch_to_paddle if direction == "t2p" else paddle_to_torch
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / ("raw.pdparams" if direction == "t2p" else "raw.pt")

    result = run_script(script, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert list(out_dir.iterdir()) == [], "a failed conversion left files behind"


def test_output_problems_are_found_before_any_work(
    torch_to_paddle, base_state, tmp_path
):
    checkpoint = FORMATS["pt"](base_state, tmp_path)
    missing_dir = run_script(
        torch_to_paddle,
        "--base-ckpt",
        checkpoint,
        "-o",
        tmp_path / "no" / "raw.pdparams",
    )
    assert missing_dir.returncode == 1
    assert "error: the output directory of" in missing_dir.stderr
    assert f"mkdir -p {tmp_path / 'no'}" in missing_dir.stderr
    missing_parent = run_script(
        torch_to_paddle,
        "--base-ckpt",
        checkpoint,
        "-o",
        f"{tmp_path / 'none' / 'sharded'}/",
    )
    assert missing_parent.returncode == 1
    assert f"({tmp_path / 'none'}) does not exist" in missing_parent.stderr
    same = FORMATS["safetensors"](base_state, tmp_path)
    before = same.read_bytes()
    onto_input = run_script(torch_to_paddle, "--base-ckpt", same, "-o", same)
    assert onto_input.returncode == 1
    assert "is the checkpoint being read" in onto_input.stderr
    assert same.read_bytes() == before


# ------------------------------------------------------------------ progress


def test_progress_shows_on_a_terminal_only(torch_to_paddle, base_state, tmp_path):
    checkpoint = FORMATS["pt"](base_state, tmp_path)
    output = tmp_path / "raw.pdparams"

    piped = run_script(torch_to_paddle, "--base-ckpt", checkpoint, "-o", output)
    assert piped.returncode == 0
    assert "\r" not in piped.stderr and "converting weights" not in piped.stderr
    assert "converted 21 tensors" in piped.stderr

    quiet = run_script(
        torch_to_paddle, "--base-ckpt", checkpoint, "-o", output, "--quiet"
    )
    assert quiet.returncode == 0
    assert quiet.stderr.strip() == ""

    terminal = run_on_terminal(torch_to_paddle, "--base-ckpt", checkpoint, "-o", output)
    assert "\rconverting weights: 100%" in terminal
    assert "converted 21 tensors" in terminal


def run_on_terminal(script: Path, *args) -> str:
    """Run with stderr on a pseudo-terminal; return what it showed there."""
    main, secondary = pty.openpty()
    chunks: list[bytes] = []

    def drain():
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        process = subprocess.run(
            [sys.executable, "-c", STANDALONE, str(script), *map(str, args)],
            cwd=ROOT,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=secondary,
            timeout=300,
        )
    finally:
        os.close(secondary)
        reader.join(timeout=10)
        os.close(main)
    assert process.returncode == 0
    return b"".join(chunks).decode(errors="replace")


def test_script_functions_work_from_python(torch_to_paddle, base_state, tmp_path):
    """load_base_checkpoint fills a raw model the caller built (here in bfloat16), and
    init_weights refuses a base model built on the meta device instead of copying
    nothing."""
    checkpoint = FORMATS["safetensors"](base_state, tmp_path)
    output = tmp_path / "raw.pdparams"
    code = f"""
import runpy, sys
sys.modules["padiff_gen"] = None
script = runpy.run_path({str(torch_to_paddle)!r})
import paddle, torch
spec = dict(script["RAW_SPEC"], kwargs=dict(script["RAW_SPEC"]["kwargs"], dtype="bfloat16"))
raw = script["build_model"](spec)
assert script["load_base_checkpoint"]({str(checkpoint)!r}, raw) is raw
paddle.save(raw.state_dict(), {str(output)!r})
with torch.device("meta"):
    base = script["build_model"](script["BASE_SPEC"])
try:
    script["init_weights"](base, raw)
except script["WeightMismatchError"] as error:
    print("refused:", error)
"""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("refused: base `")
    assert "base `layers.0.input_layernorm.weight`" in result.stdout
    assert "have no data" in result.stdout

    def paddle_cast(source, raw_tensor):
        return paddle.cast(paddle.to_tensor(source.contiguous().numpy()), "bfloat16")

    raw_state = paddle.load(str(output))
    assert_converted(load_table(torch_to_paddle), base_state, raw_state, paddle_cast)


@pytest.mark.parametrize("dropped", ("lm_head.weight", "embed_tokens.weight"))
def test_tied_weights_need_only_one_of_their_names(dropped, work, tmp_path):
    """safetensors files (as Hugging Face writes them) keep a tied tensor once."""
    tied = dict(SMALL, tie_embeddings=True)
    script = make_script(
        work / "scripts",
        "torch:bench.models.TorchLlama",
        "torch:bench.models.TorchLlama",
        tied,
        tied,
    )
    model = TorchLlama(**tied)
    randomize(model, seed=11)
    state = model.state_dict()
    assert state["lm_head.weight"].data_ptr() == state["embed_tokens.weight"].data_ptr()
    checkpoint = tmp_path / "tied.safetensors"
    save_safetensors({k: v for k, v in state.items() if k != dropped}, checkpoint)
    output = tmp_path / "raw.pt"

    result = run_script(script, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    raw_state = torch.load(output)
    for key, value in state.items():
        assert torch.equal(raw_state[key], value), key


# ------------------------------------------------------------------ wrapped checkpoints


def other_weights(state: dict) -> dict:
    return {key: value + 1 for key, value in state.items()}


WRAPPINGS = {
    # name: (what torch.save writes, extra script options, the note, which state wins)
    "training-checkpoint": (
        lambda s: {"model": s, "epoch": 3, "optimizer": {"lr": 0.1}},
        [],
        "holds a dict (`model`, `epoch`, `optimizer`); using the state dict under "
        "`model`",
        "base",
    ),
    "lightning": (
        lambda s: {"state_dict": s, "global_step": 7},
        [],
        "`state_dict`",
        "base",
    ),
    "ddp": (
        lambda s: {f"module.{k}": v for k, v in s.items()},
        [],
        "every key in",
        "base",
    ),
    "wrapped-and-ddp": (
        lambda s: {"module": {f"module.{k}": v for k, v in s.items()}, "epoch": 1},
        [],
        "starts with `module.`",
        "base",
    ),
    "picked-key": (
        lambda s: {"model": s, "ema": other_weights(s)},
        ["--ckpt-key", "ema"],
        "",
        "other",
    ),
    "explicit-prefix": (
        lambda s: {f"model.{k}": v for k, v in s.items()},
        ["--strip-prefix", "model."],
        "",
        "base",
    ),
}


@pytest.mark.parametrize("name", list(WRAPPINGS))
def test_wrapped_and_prefixed_checkpoints_are_read_and_said(
    name, torch_to_paddle, base_state, tmp_path
):
    wrap, options, note, winner = WRAPPINGS[name]
    checkpoint = tmp_path / "saved.pt"
    torch.save(wrap(base_state), checkpoint)
    output = tmp_path / "raw.pdparams"

    result = run_script(
        torch_to_paddle, "--base-ckpt", checkpoint, "-o", output, *options
    )

    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert (note in "\n".join(notes)) if note else notes == [], result.stderr
    expected = base_state if winner == "base" else other_weights(base_state)
    assert_converted(
        load_table(torch_to_paddle), expected, paddle.load(str(output)), keep
    )


def test_a_wrapped_paddle_checkpoint_is_read_too(paddle_to_torch, tmp_path):
    model = PaddleLlama(**SMALL)
    randomize(model, seed=5)
    checkpoint = tmp_path / "saved.pdparams"
    paddle.save({"model": model.state_dict(), "step": 10}, str(checkpoint))
    output = tmp_path / "raw.pt"

    result = run_script(paddle_to_torch, "--base-ckpt", checkpoint, "-o", output)

    assert result.returncode == 0, result.stderr
    assert "using the state dict under `model`" in result.stderr
    base = {k: torch.from_dlpack(v.detach()) for k, v in model.state_dict().items()}
    assert_converted(load_table(paddle_to_torch), base, torch.load(output), keep)


@pytest.mark.parametrize(
    "saved, says",
    [
        (
            lambda s: {"model": s, "ema": other_weights(s)},
            "`model` (21 tensors), `ema` (21 tensors), and more than one fits the base "
            "model; pick one with --ckpt-key KEY",
        ),
        (
            lambda s: {"encoder": {"w": torch.zeros(2)}, "epoch": 1},
            "`encoder` (1 tensors), and none fits the base model",
        ),
        (lambda s: {"model": s}, "has no entry `weights` (--ckpt-key)"),
    ],
    ids=["two-fit", "none-fits", "no-such-key"],
)
def test_wrappings_that_evidence_cannot_settle_are_refused(
    saved, says, torch_to_paddle, base_state, tmp_path
):
    checkpoint = tmp_path / "saved.pt"
    torch.save(saved(base_state), checkpoint)
    options = (
        ["--ckpt-key", "weights"] if "no such" in says or "--ckpt-key)" in says else []
    )
    out = tmp_path / "out"
    out.mkdir()

    result = run_script(
        torch_to_paddle, "--base-ckpt", checkpoint, "-o", out / "raw.pdparams", *options
    )

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and says in errors[0], result.stderr
    assert list(out.iterdir()) == []
