"""[tool.padiff-gen] in pyproject.toml: the schema, finding it, and emit/check without flags."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import assert_outputs_match, check_script, run_cli
from padiff_gen.cli.cli import build_parser
from padiff_gen.cli.config import Target, find_config, load_config
from padiff_gen.errors import UsageError
from padiff_gen.load.plugins import init_module_origin
from padiff_gen.special_init import SpecialInitPool
from padiff_gen.cli.targets import registrations_for, select_targets

FULL = """
[project]
name = "my-models"

[tool.padiff-gen]
init-modules = ["shared.inits"]
layer-map = "none"

[[tool.padiff-gen.targets]]
name = "resnet"
output = "weights/init_resnet.py"
base = "torch:models.ResNet"
raw = "paddle:models.ResNet"
base-kwargs = { num_classes = 10, widths = [1, 2] }
raw-kwargs = { num_classes = 10 }
maps = ["fc=head.fc", ["attn", "attention"]]
init-modules = ["resnet.inits", "shared.inits"]

[[tool.padiff-gen.targets]]
output = "./init_mlp.py"
base = "paddle:models.MLP"
raw = "torch:models.MLP"
layer-map = "auto"
"""


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "pyproject.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_the_full_schema(tmp_path):
    config = load_config(write(tmp_path, FULL))
    resnet, mlp = config.targets
    assert resnet == Target(
        name="resnet",
        output="weights/init_resnet.py",
        base="torch:models.ResNet",
        raw="paddle:models.ResNet",
        base_kwargs={"num_classes": 10, "widths": [1, 2]},
        raw_kwargs={"num_classes": 10},
        maps=("fc=head.fc", "attn=attention"),
        layer_map="none",
        init_modules=("shared.inits", "resnet.inits"),  # shared first, no repeats
    )
    assert resnet.argv() == [
        "--base",
        "torch:models.ResNet",
        "--raw",
        "paddle:models.ResNet",
        "--base-kwargs",
        '{"num_classes":10,"widths":[1,2]}',
        "--raw-kwargs",
        '{"num_classes":10}',
        "--map",
        "fc=head.fc",
        "--map",
        "attn=attention",
        "--layer-map",
        "none",
        "--init-module",
        "shared.inits",
        "--init-module",
        "resnet.inits",
        "-o",
        "weights/init_resnet.py",
    ]
    assert (mlp.name, mlp.output, mlp.layer_map) == ("init_mlp", "init_mlp.py", "auto")
    assert mlp.argv()[-2:] == ["-o", "init_mlp.py"]
    assert config.root == tmp_path
    assert config.target_for(tmp_path / "weights" / "init_resnet.py") is resnet
    assert config.target_for(tmp_path / "init_resnet.py") is None


@pytest.mark.parametrize(
    "text, message",
    [
        (
            '[[tool.padiff-gen.targets]]\noutput = "a.py"\nbase = "torch:m.A"\n'
            'raw = "paddle:m.A"\ninit_modules = ["x"]\n',
            r"has an unknown key `init_modules`. Did you mean `init-modules`\?",
        ),
        (
            '[[tool.padiff-gen.targets]]\noutput = "a.py"\nbase = "torch:m.A"\n',
            r"target 1 \(\[\[tool.padiff-gen.targets\]\]\) in .*pyproject.toml has no `raw`",
        ),
        (
            '[tool.padiff-gen]\nlayer-map = "sometimes"\n',
            r"`layer-map` of \[tool.padiff-gen\] in .* is 'sometimes'. Use \"auto\" or \"none\"",
        ),
        (
            '[[tool.padiff-gen.targets]]\noutput = "a.py"\nbase = "torch:m.A"\n'
            'raw = "paddle:m.A"\n[[tool.padiff-gen.targets]]\noutput = "a.py"\n'
            'base = "torch:m.B"\nraw = "paddle:m.B"\n',
            r"Two targets in \[tool.padiff-gen\] of .* have the name 'a'",
        ),
        (
            '[[tool.padiff-gen.targets]]\noutput = "../a.py"\nbase = "torch:m.A"\n'
            'raw = "paddle:m.A"\n',
            r"`output` of target 1 .* is '../a.py', which leaves the project folder",
        ),
        (
            '[[tool.padiff-gen.targets]]\noutput = "a.py"\nbase = "torch:m.A"\n'
            'raw = "paddle:m.A"\nmaps = ["fc"]\n',
            r"`maps` of target 1 .* has the entry 'fc'. Write each pair as",
        ),
        (
            '[[tool.padiff-gen.targets]]\noutput = "a.py"\nbase = "torch:m.A"\n'
            'raw = "paddle:m.A"\nbase-kwargs = "x=1"\n',
            r"`base-kwargs` of target 1 .* must be a table of keyword arguments, got str",
        ),
        ('[tool.padiff-gen\noutput = "a.py"\n', r"pyproject.toml is not valid TOML"),
    ],
    ids=[
        "unknown-key",
        "missing-raw",
        "bad-layer-map",
        "duplicate",
        "output-outside",
        "bad-map",
        "bad-kwargs",
        "bad-toml",
    ],
)
def test_schema_mistakes_name_the_key_and_the_file(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(UsageError, match=message) as caught:
        load_config(path)
    assert str(path) in caught.value.message


def test_find_config_walks_up_to_the_checkout_top(tmp_path):
    write(tmp_path / "repo", FULL)
    write(tmp_path / "repo" / "sub", '[project]\nname = "unrelated"\n')
    deep = tmp_path / "repo" / "sub" / "deeper"
    deep.mkdir()
    assert find_config(deep).path == tmp_path / "repo" / "pyproject.toml"
    # A checkout below the configured folder does not see the configuration above it.
    (tmp_path / "repo" / "sub" / ".git").mkdir()
    assert find_config(deep) is None


def _args(*argv: str):
    return build_parser().parse_args(["emit", *argv])


def test_select_targets_and_overrides(tmp_path):
    config = load_config(write(tmp_path, FULL))
    everything = select_targets(config, _args())
    assert [t.name for t in everything] == ["resnet", "init_mlp"]
    [picked] = select_targets(
        config, _args("--target", "init_mlp", "--layer-map", "none")
    )
    assert (picked.name, picked.layer_map) == ("init_mlp", "none")
    [by_output] = select_targets(
        config, _args("-o", str(tmp_path / "init_mlp.py"), "--raw-kwargs", '{"a": 1}')
    )
    assert (by_output.name, by_output.raw_kwargs) == ("init_mlp", {"a": 1})
    assert by_output.base_kwargs == {}  # not given, so the configured value stands
    # Both models given and no target picked: a one-off run that ignores the file.
    assert (
        select_targets(config, _args("--base", "torch:x.A", "--raw", "paddle:x.A"))
        is None
    )
    assert select_targets(None, _args()) is None
    with pytest.raises(UsageError, match="--base describes one target's models, but 2"):
        select_targets(config, _args("--base", "torch:x.A"))
    with pytest.raises(
        UsageError, match="no target named 'vgg' \\(its targets: resnet, init_mlp\\)"
    ):
        select_targets(config, _args("--target", "vgg"))
    with pytest.raises(UsageError, match="-o other.py is not the output of a target"):
        select_targets(config, _args("-o", "other.py"))


def test_registrations_for_hides_other_init_modules():
    pool = SpecialInitPool()

    def builtin(base, raw):
        pass

    def from_a(base, raw):
        pass

    def from_b(base, raw):
        pass

    pool.add("torch", "Norm", "paddle", "Norm", builtin, origin="built-in")
    with pool.origin(init_module_origin("a")):
        pool.add("torch", "Norm", "paddle", "Norm", from_a)  # replaces the built-in
        pool.add("torch", "Packed", "paddle", "Split", from_a)
    with pool.origin(init_module_origin("b")):
        pool.add("torch", "Gain", "paddle", "Scale", from_b)

    def active():
        return {(e.key.base_class, e.func.__name__) for e in pool.entries()}

    everything = active()
    with registrations_for(["b"], pool):
        assert active() == {("Norm", "builtin"), ("Gain", "from_b")}
    with registrations_for([], pool):
        assert active() == {("Norm", "builtin")}
    with registrations_for(["a", "b"], pool):
        assert active() == everything
    assert active() == everything


# ---------------------------------------------------------------- through the CLI

TWO_TARGETS = """
[[tool.padiff-gen.targets]]
name = "forward"
output = "weights/init_mlp.py"
base = "torch:examples.mlp.TorchMLP"
raw = "paddle:examples.mlp.PaddleMLP"

[[tool.padiff-gen.targets]]
name = "back"
output = "weights/init_back.py"
base = "paddle:examples.mlp.PaddleMLP"
raw = "torch:examples.mlp.TorchMLP"
"""


def test_emit_without_flags_writes_every_target(tmp_path):
    write(tmp_path, TWO_TARGETS)
    (tmp_path / "weights").mkdir()
    (tmp_path / "sub").mkdir()
    result = run_cli("emit", cwd=tmp_path / "sub")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "wrote ../weights/init_mlp.py",
        "wrote ../weights/init_back.py",
    ]
    forward = tmp_path / "weights" / "init_mlp.py"
    # Recorded relative to the configuration's folder, wherever emit ran.
    assert forward.read_text().splitlines()[2] == (
        "#   padiff-gen emit --base torch:examples.mlp.TorchMLP "
        "--raw paddle:examples.mlp.PaddleMLP -o weights/init_mlp.py"
    )
    assert_outputs_match(check_script(forward, [["float32", [4, 16]]]))
    assert_outputs_match(
        check_script(tmp_path / "weights" / "init_back.py", [["float32", [4, 16]]])
    )
    stamp = forward.stat().st_mtime_ns
    again = run_cli("emit", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "weights/init_mlp.py is up to date" in again.stderr
    assert forward.stat().st_mtime_ns == stamp


def test_flags_override_one_target_and_leave_the_others(tmp_path):
    write(tmp_path, TWO_TARGETS)
    (tmp_path / "weights").mkdir()
    result = run_cli(
        "emit",
        "-o",
        "weights/init_mlp.py",
        "--raw-kwargs",
        '{"sizes": [16, 32, 32, 4]}',
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "weights" / "init_back.py").exists()
    header = (tmp_path / "weights" / "init_mlp.py").read_text().splitlines()[2]
    assert "--raw-kwargs '{\"sizes\":[16,32,32,4]}' -o weights/init_mlp.py" in header
    ambiguous = run_cli("emit", "--base", "torch:examples.mlp.TorchMLP", cwd=tmp_path)
    assert ambiguous.returncode == 2
    assert "Pick one with --target NAME or -o PATH." in ambiguous.stderr
    assert "Traceback" not in ambiguous.stderr


def test_emit_writes_all_targets_or_none(tmp_path):
    write(
        tmp_path,
        TWO_TARGETS.replace(
            'raw = "torch:examples.mlp.TorchMLP"',
            'raw = "torch:examples.mlp.TorchMLP"\nraw-kwargs = { sizes = [16, 32, 32] }',
        ),
    )
    (tmp_path / "weights").mkdir()
    result = run_cli("emit", cwd=tmp_path)
    assert result.returncode == 1
    assert "The base model has 3 units with weights but the raw model has 2" in (
        result.stderr.replace("\n", " ")
    )
    assert list((tmp_path / "weights").iterdir()) == []


def test_a_configured_output_folder_is_created_when_every_target_succeeds(tmp_path):
    """The configuration names its folders on purpose (unlike a mistyped -o folder, which
    is refused): emit creates them, but only once every script has been made."""
    write(tmp_path, TWO_TARGETS.replace("weights/init_back.py", "other/deep/back.py"))
    result = run_cli("emit", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "created the folder other/deep" in result.stderr
    assert (tmp_path / "weights" / "init_mlp.py").is_file()
    assert (tmp_path / "other" / "deep" / "back.py").is_file()
    failing = tmp_path / "failing"
    write(
        failing,
        TWO_TARGETS.replace(
            'raw = "torch:examples.mlp.TorchMLP"',
            'raw = "torch:examples.mlp.TorchMLP"\nraw-kwargs = { sizes = [16, 32, 32] }',
        ),
    )
    result = run_cli("emit", cwd=failing)
    assert result.returncode == 1
    assert sorted(p.name for p in failing.iterdir()) == ["pyproject.toml"]


def test_a_typo_in_a_target_names_the_target_the_file_and_the_key(tmp_path):
    """Mistakes in [tool.padiff-gen] are answered in its terms: the key, the target and
    the file, and the fix written as TOML (not as a command-line flag)."""
    write(
        tmp_path,
        TWO_TARGETS.replace(
            'raw = "torch:examples.mlp.TorchMLP"',
            'raw = "torch:examples.mlp.TorchMLP"\nraw-kwargs = { size = [16, 4] }',
        ).replace(
            'base = "torch:examples.mlp.TorchMLP"',
            'base = "torch:examples.mpl.TorchMLP"',
        ),
    )

    def error(*argv: str) -> str:
        result = run_cli(*argv, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        return " ".join(result.stderr.split())

    kwargs = error("emit", "--target", "back")
    assert (
        "raw = \"torch:examples.mlp.TorchMLP\" in target 'back' of pyproject.toml cannot "
        "be called with {\"size\": [16, 4]}: got an unexpected keyword argument 'size'. "
        "Did you mean `sizes`? It takes: sizes. Write raw-kwargs = { sizes = [16, 4] } "
        "in target 'back' of pyproject.toml." in kwargs
    )
    assert "--raw-kwargs" not in kwargs
    spec = error("inspect", "--target", "forward")
    assert (
        "'examples' has no module or attribute 'mpl' (from base = "
        "\"torch:examples.mpl.TorchMLP\" in target 'forward' of pyproject.toml). Did you "
        "mean examples.mlp?" in spec
    )
    # A value given on the command line is named as the flag it came from.
    flag = error("emit", "--target", "back", "--raw-kwargs", '{"size": [16, 4]}')
    assert """Write --raw-kwargs '{"sizes": [16, 4]}'.""" in flag


TWINS = '''
import paddle
import torch

from examples.custom_layers import PackedProjection


class SplitProjection(paddle.nn.Layer):
    """Named like the example's paddle layer, but it keeps one packed weight."""

    def __init__(self, dim=8):
        super().__init__()
        self.qkv = self.create_parameter([3 * dim, dim])


class TorchTwin(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = PackedProjection(8)


class PaddleTwin(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.proj = SplitProjection(8)
'''


def test_a_target_sees_only_its_own_init_modules(tmp_path):
    """examples.custom_inits registers PackedProjection -> SplitProjection for the first
    target; the second target does not name it, so its layers are copied as plain tensors,
    exactly as when it is emitted alone."""
    (tmp_path / "twins.py").write_text(TWINS)
    write(
        tmp_path,
        """
        [[tool.padiff-gen.targets]]
        output = "init_custom.py"
        base = "torch:examples.custom_layers.TorchBlock"
        raw = "paddle:examples.custom_layers.PaddleBlock"
        init-modules = ["examples.custom_inits"]

        [[tool.padiff-gen.targets]]
        output = "init_twins.py"
        base = "torch:twins.TorchTwin"
        raw = "paddle:twins.PaddleTwin"
        """,
    )
    result = run_cli("emit", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    custom = (tmp_path / "init_custom.py").read_text()
    twins = (tmp_path / "init_twins.py").read_text()
    assert '("proj", "proj", "init_packed_projection"),' in custom
    assert "SPECIAL_INITS = ()" in twins
    assert '("proj.qkv", "proj.qkv", "copy", (24, 8), (24, 8)),' in twins
    # Outside the project (no configuration there); inside it, `check` would check this
    # script too, and one process cannot import two different `twins` modules.
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    elsewhere.mkdir()
    (elsewhere / "twins.py").write_text(TWINS)
    alone = run_cli(
        "emit",
        "--base",
        "torch:twins.TorchTwin",
        "--raw",
        "paddle:twins.PaddleTwin",
        "-o",
        "init_twins.py",
        cwd=elsewhere,
    )
    assert alone.returncode == 0, alone.stderr
    assert (elsewhere / "init_twins.py").read_text() == twins
    both = run_cli("check", cwd=tmp_path)
    assert both.returncode == 0, both.stdout + both.stderr


def test_match_is_configurable_recorded_and_overridable(tmp_path):
    config = load_config(
        write(
            tmp_path,
            """
            [tool.padiff-gen]
            match = "names"

            [[tool.padiff-gen.targets]]
            output = "a.py"
            base = "torch:m.A"
            raw = "paddle:m.A"

            [[tool.padiff-gen.targets]]
            output = "b.py"
            base = "torch:m.B"
            raw = "paddle:m.B"
            match = "order"
            """,
        )
    )
    first, second = config.targets
    assert (first.match, second.match) == ("names", "order")
    assert first.argv()[-4:] == ["--match", "names", "-o", "a.py"]
    [picked] = select_targets(config, _args("--target", "b", "--match", "auto"))
    assert picked.match == "auto" and "--match" not in picked.argv()
    with pytest.raises(UsageError, match=r"`match` of .* is 'sideways'"):
        load_config(write(tmp_path / "bad", '[tool.padiff-gen]\nmatch = "sideways"\n'))


def test_verify_of_a_target_runs_on_its_configured_inputs(tmp_path):
    """`verify --target NAME` without --input takes the target's `inputs`; without
    either it says what is missing (it demanded --input, whatever the target said)."""
    write(
        tmp_path,
        TWO_TARGETS.replace(
            'raw = "paddle:examples.mlp.PaddleMLP"\n',
            'raw = "paddle:examples.mlp.PaddleMLP"\ninputs = ["3,16"]\n',
        ),
    )
    done = run_cli("verify", "--target", "forward", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "the outputs match" in done.stdout
    missing = run_cli("verify", "--target", "back", cwd=tmp_path)
    assert missing.returncode == 2
    assert "target back configures none" in " ".join(missing.stderr.split())
