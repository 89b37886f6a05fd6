"""The catalogue of bad inputs (docs/errors.md): each one, run the way a user runs it.

For every mistake: a non-zero exit code (2 usage, 1 mapping), one paragraph that names the
culprit (with dotted paths on both sides where models are involved) and the fix, no Python
traceback, and nothing lost: no output written, an existing output untouched byte for byte,
and a raw model unchanged when its init fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import ROOT, run_cli, subprocess_env
from examples.script_worker import ScriptWorker
from padiff_gen.write.write import GENERATED_MARKER

MLP = (
    "--base",
    "torch:examples.mlp.TorchMLP",
    "--raw",
    "paddle:examples.mlp.PaddleMLP",
)
BLOCK = (
    "--base",
    "torch:examples.custom_layers.TorchBlock",
    "--raw",
    "paddle:examples.custom_layers.PaddleBlock",
)
FIXTURES = "tests.fixtures.models"
USAGE, MAPPING, INTERNAL = 2, 1, 3


@dataclass(frozen=True)
class Bad:
    """One mistake: the arguments to `padiff-gen emit`, the exit code, what it must say."""

    name: str
    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]


CATALOGUE = (
    Bad(
        "module-not-found",
        ("--base", "torch:no_such_package.models.Net", *MLP[2:]),
        USAGE,
        ("'no_such_package'", "--base torch:no_such_package.models.Net", "PYTHONPATH"),
    ),
    Bad(
        "attribute-not-found",
        ("--base", "torch:examples.mlp.TorchMPL", *MLP[2:]),
        USAGE,
        ("'examples.mlp' has no attribute 'TorchMPL'", "Did you mean TorchMLP?"),
    ),
    Bad(
        "module-typo",
        ("--base", "torch:examples.mpl.TorchMLP", *MLP[2:]),
        USAGE,
        ("'examples' has no module or attribute 'mpl'", "Did you mean examples.mlp?"),
    ),
    Bad(
        "top-level-module-typo",
        ("--base", "torch:exampels.mlp.TorchMLP", *MLP[2:]),
        USAGE,
        ("Cannot import module 'exampels'", "Did you mean examples?"),
    ),
    Bad(
        "framework-word-unknown",
        ("--base", "tf:examples.mlp.TorchMLP", *MLP[2:]),
        USAGE,
        (
            "unknown framework 'tf'",
            "examples.mlp.TorchMLP is a torch model: write torch:examples.mlp.TorchMLP",
        ),
    ),
    Bad(
        "framework-word-misspelt",
        ("--base", "tourch:no_such_package.Net", *MLP[2:]),
        USAGE,
        ("unknown framework 'tourch'", "Did you mean torch:no_such_package.Net?"),
    ),
    Bad(
        "framework-differs-from-spec",
        (*MLP[:2], "--raw", "torch:examples.mlp.PaddleMLP"),
        USAGE,
        ("torch:examples.mlp.PaddleMLP is a paddle model class", "Write paddle:"),
    ),
    Bad(
        "not-a-model-class",
        ("--base", f"torch:{FIXTURES}.NotAModule", *MLP[2:]),
        USAGE,
        (
            f"{FIXTURES}.NotAModule, which is not a torch.nn.Module",
            "Name a model class",
        ),
    ),
    Bad(
        "not-a-model-value",
        ("--base", f"torch:{FIXTURES}.NOT_A_MODEL", *MLP[2:]),
        USAGE,
        (f"torch:{FIXTURES}.NOT_A_MODEL is an int", "Name a model class"),
    ),
    Bad(
        "factory-returns-no-model",
        ("--base", f"torch:{FIXTURES}.make_list", *MLP[2:]),
        USAGE,
        ("gave a builtins.list, which is not a torch.nn.Module", "factory returning"),
    ),
    Bad(
        "constructor-needs-arguments",
        ("--base", f"torch:{FIXTURES}.NeedsWidth", *MLP[2:]),
        USAGE,
        (
            "missing a required argument: 'width'",
            """--base-kwargs '{"width": "..."}'""",
        ),
    ),
    Bad(
        "constructor-unknown-argument",
        (*MLP, "--base-kwargs", '{"size": [16, 4]}'),
        USAGE,
        (
            "unexpected keyword argument 'size'",
            "Did you mean `sizes`?",
            "It takes: sizes",
            """Write --base-kwargs '{"sizes": [16, 4]}'""",
        ),
    ),
    Bad(
        "kwargs-invalid-json",
        (*MLP, "--base-kwargs", "{sizes: [16, 4]}"),
        USAGE,
        ("--base-kwargs is not valid JSON", "--base-kwargs '{\"num_classes\": 10}'"),
    ),
    Bad(
        "kwargs-not-an-object",
        (*MLP, "--raw-kwargs", "[16, 4]"),
        USAGE,
        ("--raw-kwargs must be a JSON object", "got list"),
    ),
    Bad(
        "constructor-raises",
        ("--base", f"torch:{FIXTURES}.RaisesInInit", *MLP[2:]),
        USAGE,
        ("raised ValueError: the config file model.yaml is missing", "--debug"),
    ),
    Bad(
        "unit-counts-differ",
        (*MLP, "--raw-kwargs", '{"sizes": [16, 32, 32]}'),
        MAPPING,
        (
            "Constructor arguments were given for the raw model only (--raw-kwargs "
            """'{"sizes": [16, 32, 32]}'); the base model was built with its defaults""",
            "give them to the base model too (--base-kwargs)",
            "3 units with weights but the raw model has 2",
            "base `layers.2` (Linear)",
            "last pair was base `layers.1` / raw `layers.1`",
            "Add the missing layers to the raw model",
        ),
    ),
    Bad(
        "tensor-counts-differ",
        (
            "--base",
            f"torch:{FIXTURES}.TorchBiased",
            "--raw",
            f"paddle:{FIXTURES}.PaddleUnbiased",
        ),
        MAPPING,
        (
            "base `encoder.1` (Linear, [4, 8], [4]) has 2 tensors",
            "raw `encoder.1` (Linear, [8, 4]) has 1",
            "Make the layers hold the same tensors",
        ),
    ),
    Bad(
        "shapes-differ",
        (*MLP, "--raw-kwargs", '{"sizes": [16, 32, 24, 4]}'),
        MAPPING,
        (
            "base `layers.1.weight` [32, 32]",
            "raw `layers.1.weight` [32, 24]",
            "Make the layer sizes agree",
        ),
    ),
    Bad(
        "no-registered-initializer",
        (
            "--base",
            "torch:examples.lstm.TorchTagger",
            "--raw",
            f"paddle:{FIXTURES}.PaddleGRUTagger",
        ),
        MAPPING,
        (
            "No special initializer is registered for torch LSTM -> paddle GRU",
            "base `lstm` / raw `lstm`",
            "Near matches: ",
            "torch LSTM -> paddle LSTM (init_rnn_torch_to_paddle)",
            "--init-module",
        ),
    ),
    Bad(
        "map-path-not-found",
        (*MLP, "--map", "layers.7=layers.0"),
        USAGE,
        ("the base model has no sub-layer 'layers.7'", "Close matches: layers.2"),
    ),
    Bad(
        "map-not-a-pair",
        (*MLP, "--map", "layers.0"),
        USAGE,
        (
            "--map 'layers.0' is not of the form BASE_PATH=RAW_PATH",
            "--map encoder.attn=",
        ),
    ),
    Bad(
        "init-module-not-found",
        (*BLOCK, "--init-module", "tests.fixtures.no_such_inits"),
        USAGE,
        (
            "--init-module tests.fixtures.no_such_inits failed to import",
            "ModuleNotFoundError",
        ),
    ),
    Bad(
        "init-module-raises",
        (*BLOCK, "--init-module", "tests.fixtures.init_broken"),
        USAGE,
        (
            "--init-module tests.fixtures.init_broken failed to import",
            "NameError",
            "--debug",
        ),
    ),
    Bad(
        "initializer-is-a-lambda",
        (*BLOCK, "--init-module", "tests.fixtures.init_lambda"),
        USAGE,
        (
            "base `proj` (PackedProjection) / raw `proj` (SplitProjection)",
            "it is a lambda",
            "plain top-level `def`",
        ),
    ),
    Bad(
        "initializer-is-a-closure",
        (*BLOCK, "--init-module", "tests.fixtures.init_closure"),
        USAGE,
        (
            "base `proj` (PackedProjection) / raw `proj`",
            "closure",
            "plain top-level `def`",
        ),
    ),
    Bad(
        "initializer-is-a-builtin",
        (*BLOCK, "--init-module", "tests.fixtures.init_builtin"),
        USAGE,
        (
            "base `proj` (PackedProjection) / raw `proj`",
            "builtins.print",
            "plain top-level",
        ),
    ),
    Bad(
        "unexpected-internal-error",
        ("--base", f"torch:{FIXTURES}.ChildrenRaise", *MLP[2:]),
        INTERNAL,
        (
            "internal error: RuntimeError: named_children is broken in this model",
            "Rerun with --debug",
        ),
    ),
)


def assert_explains(result: subprocess.CompletedProcess, code: int, says=()) -> None:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    # One paragraph, at the end (a note about a fallback build may come before it).
    assert result.stderr.count("padiff-gen: ") == 1, result.stderr
    start = result.stderr.find("padiff-gen: ")
    assert start == 0 or result.stderr[start - 1] == "\n", result.stderr
    message = " ".join(result.stderr[start:].split())  # undo the line wrapping
    for fragment in says:
        assert fragment in message, f"{fragment!r} not in {message!r}"


@pytest.fixture
def existing_output(tmp_path) -> Path:
    """An output file padiff-gen made earlier (so emit may replace it when it succeeds)."""
    path = tmp_path / "out" / "init_weights.py"
    path.parent.mkdir()
    path.write_text(f"{GENERATED_MARKER} 0.0.1. Do not edit by hand.\nSENTINEL = 1\n")
    return path


@pytest.mark.parametrize("bad", CATALOGUE, ids=[bad.name for bad in CATALOGUE])
def test_bad_input_is_explained_and_loses_nothing(bad, existing_output):
    before = existing_output.read_bytes()
    result = run_cli("emit", *bad.args, "-o", str(existing_output))
    assert_explains(result, bad.code, bad.says)
    assert existing_output.read_bytes() == before
    assert os.listdir(existing_output.parent) == [
        "init_weights.py"
    ]  # no temporary left


def test_a_failed_emit_creates_no_file(tmp_path):
    output = tmp_path / "init_weights.py"
    result = run_cli(
        "emit", *MLP, "--raw-kwargs", '{"sizes": [16, 8]}', "-o", str(output)
    )
    assert_explains(result, MAPPING, ("Shape mismatch",))
    assert os.listdir(tmp_path) == []


def test_debug_shows_the_traceback_before_or_after_the_command(tmp_path):
    args = ("--base", f"torch:{FIXTURES}.RaisesInInit", *MLP[2:])
    for argv in (("--debug", "emit", *args), ("emit", "--debug", *args)):
        result = run_cli(*argv)
        assert result.returncode == USAGE, result.stderr
        assert (
            "Traceback" in result.stderr
            and "ValueError: the config file" in result.stderr
        )
        assert "padiff-gen: error: Building" in result.stderr
    internal = run_cli(
        "--debug", "emit", "--base", f"torch:{FIXTURES}.ChildrenRaise", *MLP[2:]
    )
    assert internal.returncode == INTERNAL
    assert (
        "Traceback" in internal.stderr and "The traceback is above" in internal.stderr
    )


@pytest.mark.parametrize(
    "argv, wrong",
    [
        (("emit", "--targte", "mlp"), "--targte"),
        (("check", "--colour", "never"), "--colour"),
        (("inspect", *MLP, "--jsn"), "--jsn"),
        (("list-inits", "--init-modules", "x"), "--init-modules"),
        (("verify", *MLP, "--input", "2,16", "--seeds", "3"), "--seeds"),
    ],
    ids=lambda value: value[0] if isinstance(value, tuple) else "",
)
def test_an_unknown_flag_shows_the_commands_usage(argv, wrong, capsys):
    from padiff_gen.cli.cli import build_parser

    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(list(argv))
    assert caught.value.code == USAGE
    stderr = capsys.readouterr().err
    command = argv[0]
    assert stderr.startswith(f"usage: padiff-gen {command} "), stderr
    assert f"padiff-gen {command}: error: unrecognized arguments: {wrong}" in stderr
    assert "COMMAND" not in stderr  # not the top-level usage
    assert "(did you mean --" in stderr


def test_kwargs_on_both_sides_are_not_blamed(tmp_path):
    """The remark about one-sided constructor arguments comes only when it can be the
    cause: with arguments on both sides, the mismatch speaks for itself."""
    both = run_cli(
        "emit",
        *MLP,
        "--base-kwargs",
        '{"sizes": [16, 32, 32, 4]}',
        "--raw-kwargs",
        '{"sizes": [16, 32, 32]}',
    )
    assert_explains(both, MAPPING, ("3 units with weights but the raw model has 2",))
    assert "Constructor arguments were given" not in both.stderr


def test_framework_aliases_mean_the_framework():
    """pytorch/pt and paddlepaddle/pd are what people write; the script records the
    standard words, so it is the same script."""
    from padiff_gen.cli.cli import derive

    standard = derive(["--base", "torch:examples.mlp.TorchMLP", *MLP[2:]])
    for base, raw in (("pytorch", "pd"), ("PT", "paddlepaddle")):
        aliased = derive(
            ["--base", f"{base}:examples.mlp.TorchMLP", "--raw", f"{raw}:{MLP[3][7:]}"]
        )
        assert aliased == standard


# ---------------------------------------------------------------- the output path


def test_output_directory_missing(tmp_path):
    output = tmp_path / "missing" / "init_weights.py"
    result = run_cli("emit", *MLP, "-o", str(output))
    assert_explains(result, USAGE, (f"'{output.parent}' does not exist", "mkdir -p"))
    assert not output.parent.exists()


def test_output_directory_not_writable(tmp_path):
    directory = tmp_path / "read_only"
    directory.mkdir()
    directory.chmod(0o555)
    if os.access(directory, os.W_OK):  # root ignores permissions; /proc/sys refuses it
        directory = Path("/proc/sys")
    try:
        result = run_cli("emit", *MLP, "-o", str(directory / "init_weights.py"))
        assert_explains(result, USAGE, (f"'{directory}' is not writable", "another -o"))
        assert not (directory / "init_weights.py").exists()
    finally:
        (tmp_path / "read_only").chmod(0o755)


def test_output_that_is_a_directory(tmp_path):
    result = run_cli("emit", *MLP, "-o", str(tmp_path))
    assert_explains(result, USAGE, (f"'{tmp_path}' is a directory", "Name a .py file"))


def test_refuses_to_overwrite_a_file_it_did_not_generate_unless_forced(tmp_path):
    mine = tmp_path / "convert.py"
    mine.write_text("# my own conversion script\nprint('hello')\n")
    before = mine.read_bytes()
    result = run_cli("emit", *MLP, "-o", str(mine))
    assert_explains(
        result,
        USAGE,
        (f"Refusing to overwrite '{mine}'", "not generated by padiff-gen", "--force"),
    )
    assert mine.read_bytes() == before
    forced = run_cli("emit", *MLP, "-o", str(mine), "--force")
    assert forced.returncode == 0, forced.stderr
    assert mine.read_text().startswith(GENERATED_MARKER)


def test_check_on_a_file_without_header(tmp_path):
    plain = tmp_path / "plain.py"
    plain.write_text("print('not generated')\n")
    result = run_cli("check", str(plain))
    assert_explains(result, USAGE, (str(plain),))


# ---------------------------------------------------------------- the Python API


def test_layer_maps_of_different_lengths():
    from examples.custom_layers import PaddleBlock, TorchBlock
    from padiff_gen import create_model, emit
    from padiff_gen.errors import UsageError

    base, raw = create_model(TorchBlock()), create_model(PaddleBlock())
    base.set_layer_map([base.model.proj, base.model.out])
    raw.set_layer_map([raw.model.proj])
    with pytest.raises(UsageError) as caught:
        emit(base, raw)
    text = caught.value.text
    assert "2 base sub-layers (proj, out) and 1 raw sub-layers (proj)" in text
    assert "one entry per pair" in text


def test_initializer_defined_in_main_cannot_be_inlined(tmp_path):
    script = tmp_path / "convert.py"
    output = tmp_path / "init_weights.py"
    script.write_text(f"""
import sys
from padiff_gen import PadiffGenError, add_special_init, emit

def init_projection(base_model, raw_model):
    pass

add_special_init("torch", "PackedProjection", "paddle", "SplitProjection", init_projection)
try:
    emit("torch:examples.custom_layers.TorchBlock",
         "paddle:examples.custom_layers.PaddleBlock", {str(output)!r})
except PadiffGenError as error:
    print(error.text)
    sys.exit(error.exit_code)
""")
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    assert result.returncode == USAGE, result.stderr
    assert (
        "base `proj` (PackedProjection) / raw `proj` (SplitProjection)" in result.stdout
    )
    assert "defined in the __main__ script" in result.stdout
    assert "importable module" in result.stdout
    assert not output.exists()


# ---------------------------------------------------------------- generated scripts


@pytest.fixture(scope="module")
def worker(tmp_path_factory):
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with ScriptWorker(env=subprocess_env(), log=log) as running:
        yield running


def run_script(
    script: Path, *args: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *says: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert (
        len(errors) == 1 and errors[0] == result.stderr.strip().splitlines()[-1]
    ), result.stderr
    for fragment in says:
        assert fragment in errors[0], errors[0]


MODELS_V1 = """
import torch, paddle

class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Linear(8, 2))

class PaddleNet(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.body = paddle.nn.Sequential(paddle.nn.Linear(4, 8), paddle.nn.Linear(8, 2))
"""


def test_script_refuses_models_that_no_longer_match(tmp_path):
    """The user changed the raw model after generating the script."""
    (tmp_path / "models.py").write_text(MODELS_V1)
    emitted = run_cli(
        "emit",
        "--base",
        "torch:models.TorchNet",
        "--raw",
        "paddle:models.PaddleNet",
        "-o",
        "init_weights.py",
        cwd=tmp_path,
    )
    assert emitted.returncode == 0, emitted.stderr
    changed = MODELS_V1.replace("paddle.nn.Linear(8, 2))", "paddle.nn.Linear(8, 3))")
    changed = changed.replace(
        "self.body = paddle",
        "self.extra = paddle.nn.LayerNorm(4)\n        self.body = paddle",
    )
    (tmp_path / "models.py").write_text(changed)
    result = run_script(
        tmp_path / "init_weights.py",
        "-o",
        "raw.pdparams",
        "--base-as-built",
        cwd=tmp_path,
    )
    assert_one_line_error(
        result,
        "raw `body.1.weight` has shape [8, 3], expected [8, 2]",
        "raw `extra.weight` is not in this script's tables",
        "Nothing was copied",
        "regenerate the script: padiff-gen emit --base torch:models.TorchNet",
    )
    assert not (tmp_path / "raw.pdparams").exists()


@pytest.mark.parametrize(
    "raw_sizes, says",
    [
        ([16, 32, 32, 8], "raw `layers.2.weight` has shape [32, 8], expected [32, 4]"),
        ([16, 32, 32, 4, 4], "raw `layers.3.weight` is not in this script's tables"),
    ],
    ids=["resized", "grown"],
)
def test_init_weights_leaves_a_raw_model_that_no_longer_matches_unchanged(
    worker, raw_sizes, says
):
    result = worker.request(
        {
            "op": "apply",
            "script": str(ROOT / "generated_examples" / "mlp_torch_to_paddle.py"),
            "base_spec": {
                "framework": "torch",
                "target": "examples.mlp.TorchMLP",
                "kwargs": {},
            },
            "raw_spec": {
                "framework": "paddle",
                "target": "examples.mlp.PaddleMLP",
                "kwargs": {"sizes": raw_sizes},
            },
        }
    )
    assert result["error"] == "WeightMismatchError"
    assert says in result["message"]
    assert result["raw_changed"] == []


def test_a_special_initializer_failing_midway_is_rolled_back(tmp_path, worker):
    """The initializer copies `small` fully and half of `large`, then raises."""
    script = tmp_path / "init_weights.py"
    emitted = run_cli(
        "emit",
        "--base",
        f"torch:{FIXTURES}.TorchTwoProjections",
        "--raw",
        f"paddle:{FIXTURES}.PaddleTwoProjections",
        "--init-module",
        "tests.fixtures.init_fails_midway",
        "-o",
        str(script),
    )
    assert emitted.returncode == 0, emitted.stderr
    recorded = {
        side: {"framework": fw, "target": f"{FIXTURES}.{cls}", "kwargs": {}}
        for side, fw, cls in (
            ("base_spec", "torch", "TorchTwoProjections"),
            ("raw_spec", "paddle", "PaddleTwoProjections"),
        )
    }
    result = worker.request({"op": "apply", "script": str(script), **recorded})
    assert result["error"] == "RuntimeError"
    assert "simulated failure after writing q and k" in result["message"]
    assert result["raw_changed"] == []
    # From the command line too: nothing is saved.
    run = run_script(script, "-o", str(tmp_path / "raw.pdparams"), "--base-as-built")
    assert run.returncode != 0
    assert not (tmp_path / "raw.pdparams").exists()


# ---------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> Path:
    """Good and bad checkpoints of examples.mlp.TorchMLP and examples.cnn.PaddleCNN."""
    import paddle
    import torch

    from examples.cnn import PaddleCNN
    from examples.mlp import TorchMLP

    directory = tmp_path_factory.mktemp("checkpoints")
    torch_state = TorchMLP().state_dict()
    torch.save(torch_state, directory / "mlp.pt")
    torch.save([1, 2, 3], directory / "list.pt")
    torch.save(
        {**torch_state, "layers.0.weight": torch.zeros(3, 3)}, directory / "resized.pt"
    )
    torch.save({"encoder.weight": torch.zeros(2)}, directory / "other_model.pt")
    paddle_state = PaddleCNN().state_dict()
    paddle.save(paddle_state, str(directory / "cnn.pdparams"))
    paddle.save(
        {**paddle_state, "head.weight": paddle.zeros([3, 3])},
        str(directory / "resized.pdparams"),
    )
    for name in ("mlp.pt", "cnn.pdparams"):
        data = (directory / name).read_bytes()
        stem, suffix = name.split(".")
        (directory / f"{stem}_truncated.{suffix}").write_bytes(data[: len(data) // 2])
    shutil.copy(directory / "cnn.pdparams", directory / "paddle_file.pt")
    shutil.copy(directory / "mlp.pt", directory / "torch_file.pdparams")
    return directory


TORCH_SCRIPT = ROOT / "generated_examples" / "mlp_torch_to_paddle.py"
PADDLE_SCRIPT = ROOT / "generated_examples" / "cnn_paddle_to_torch.py"


@pytest.mark.parametrize(
    "script, checkpoint, says",
    [
        (TORCH_SCRIPT, "missing.pt", "does not exist"),
        (TORCH_SCRIPT, "mlp_truncated.pt", "cannot read"),
        (
            TORCH_SCRIPT,
            "paddle_file.pt",
            "not a torch checkpoint (a paddle .pdparams?)",
        ),
        (TORCH_SCRIPT, "list.pt", "holds a list, not a state dict"),
        (TORCH_SCRIPT, "resized.pt", "`layers.0.weight` is [3, 3] in the checkpoint"),
        (TORCH_SCRIPT, "other_model.pt", "does not fit the base model: it lacks"),
        (PADDLE_SCRIPT, "missing.pdparams", "does not exist"),
        (PADDLE_SCRIPT, "cnn_truncated.pdparams", "cannot read"),
        (PADDLE_SCRIPT, "torch_file.pdparams", "is a torch checkpoint (written by"),
        (
            PADDLE_SCRIPT,
            "resized.pdparams",
            "`head.weight` is [3, 3] in the checkpoint but [16, 10] in the base model",
        ),
    ],
    ids=lambda value: value.stem if isinstance(value, Path) else str(value)[:24],
)
def test_bad_checkpoint_is_one_line_and_saves_nothing(
    script, checkpoint, says, checkpoints, tmp_path
):
    output = tmp_path / ("raw.pdparams" if script == TORCH_SCRIPT else "raw.pt")
    path = checkpoints / checkpoint
    result = run_script(script, "--base-ckpt", str(path), "-o", str(output))
    assert_one_line_error(result, str(path), says)
    assert not output.exists()
    assert os.listdir(tmp_path) == []
