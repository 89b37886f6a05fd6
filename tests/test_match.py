"""Name-aware matching: models whose layers are defined in a different order.

Scripts are generated the way users do (the CLI, default flags unless a test is about
a flag) and run standalone with `check_script`, which compares forward outputs in eval
mode.
"""

from __future__ import annotations

import re

import pytest

from conftest import assert_outputs_match, check_script, run_cli
from padiff_gen import api
from padiff_gen.cli.cli import derive, main
from padiff_gen.errors import MappingError, UsageError
from padiff_gen.analysis.match import match_by_name, normalize_class, normalize_path
from padiff_gen.plan.plan import TensorRef, Unit

TORCH = "torch:examples.reordered.TorchReordered"
PADDLE = "paddle:examples.reordered.PaddleReordered"
SWAPPED = "paddle:examples.reordered.PaddleSwapped"
RENAMED = "paddle:tests.match_models.PaddleRenamed"
UNDERSCORED = "paddle:tests.match_models.PaddleUnderscored"
WIDER = "torch:tests.match_models.TorchWider"
IMAGES = [["float32", [2, 3, 8, 8]]]
NAME_COMMENT = "# matched by name"


def emit(capsys, tmp_path, *args: str, name: str = "init_weights.py"):
    """`padiff-gen emit ARGS -o tmp/NAME`, in-process: (exit code, stderr, path)."""
    output = tmp_path / name
    code = main(["emit", *args, "-o", str(output), "--quiet"])
    return code, capsys.readouterr().err, output


def rows_marked(text: str) -> dict[str, bool]:
    """Each TENSOR_TABLE / SPECIAL_INITS row's base path -> marked "matched by name"."""
    marked = {}
    for line in text.splitlines():
        found = re.match(
            r'\s+\("([\w.]+)", "[\w.]+", ("copy"|"transpose"|"init_)', line
        )
        if found:
            marked[found.group(1)] = line.endswith(NAME_COMMENT)
    return marked


@pytest.mark.parametrize(
    "base, raw",
    [(TORCH, PADDLE), (PADDLE, TORCH), (TORCH, UNDERSCORED)],
    ids=["torch_to_paddle", "paddle_to_torch", "underscored_names"],
)
def test_reordered_layers_pair_by_name_by_default(capsys, tmp_path, base, raw):
    code, err, script = emit(capsys, tmp_path, "--base", base, "--raw", raw)
    assert code == 0, err
    text = script.read_text()
    marked = rows_marked(text)
    # Definition order: stem norm query key head vs head key query norm stem. Only
    # `query` sits at the same position on both sides.
    assert marked == {
        "stem.weight": True,
        "stem.bias": True,
        "query.weight": False,
        "query.bias": False,
        "key.weight": True,
        "key.bias": True,
        "head.weight": True,
        "head.bias": True,
        "norm": True,  # the BatchNorm layer-map pair takes part too
    }
    header = " ".join(text.split('"""')[1].split())
    assert "4 layer pairs are not paired in definition order: 4 matched by name" in (
        header
    ), header
    assert "--match" not in text.splitlines()[2]  # the default needs no flag
    assert_outputs_match(check_script(script, IMAGES))


def test_same_shape_swap_is_not_left_to_order(capsys, tmp_path):
    """Order pairs `query` with `key` without any error (equal shapes); auto sees that
    every layer pairs by path, differently, and trusts the paths."""
    code, err, script = emit(capsys, tmp_path, "--base", TORCH, "--raw", SWAPPED)
    assert code == 0, err
    marked = rows_marked(script.read_text())
    assert [path for path, by_name in marked.items() if by_name] == [
        "query.weight",
        "query.bias",
        "key.weight",
        "key.bias",
    ]
    assert_outputs_match(check_script(script, IMAGES))

    # The same pair forced into definition order copies query into key: outputs differ,
    # which is what auto matching prevents.
    forced = ("--base", TORCH, "--raw", SWAPPED, "--match", "order")
    code, err, ordered = emit(capsys, tmp_path, *forced, name="ordered.py")
    assert code == 0, err
    assert NAME_COMMENT not in ordered.read_text()
    outcome = check_script(ordered, IMAGES)
    assert outcome["max_abs_diff"] > 0.01 * outcome["scale"], outcome


def test_match_names_is_recorded_and_reproducible(capsys, tmp_path, in_root):
    code, err, script = emit(
        capsys, tmp_path, "--base", PADDLE, "--raw", TORCH, "--match", "names"
    )
    assert code == 0, err
    text = script.read_text()
    command = text.splitlines()[2].removeprefix("#   ")
    assert command.split()[:2] == ["padiff-gen", "emit"]
    assert "--match names" in command
    argv = command.split()[2:]
    argv[argv.index("-o") + 1] = str(script)
    assert derive(argv) == text
    assert_outputs_match(check_script(script, IMAGES))


def test_order_mode_refuses_reordered_models_and_shows_both_trees(capsys, tmp_path):
    code, err, script = emit(
        capsys, tmp_path, "--base", TORCH, "--raw", PADDLE, "--match", "order"
    )
    assert code == 1
    assert not script.exists()
    assert "Traceback" not in err
    assert "base `stem.weight`" in err and "raw `head.weight`" in err
    lines = err.splitlines()
    table = lines[next(i for i, l in enumerate(lines) if "base: torch" in l) :]
    assert "| raw: paddle PaddleReordered" in table[0]
    assert table[1].startswith(">> 0  stem  Conv2d")
    assert table[1].rstrip().endswith("| head  Linear  [8,10] [10]")
    assert table[5].startswith("   4  head  Linear") and "| stem  Conv2D" in table[5]
    # The two sides line up in columns.
    assert len({line.index("|") for line in table}) == 1


def test_unresolvable_mismatch_shows_both_trees_with_first_divergence(tmp_path):
    """Neither order nor names pair `head` with `classifier`: a real CLI run, exit 1."""
    output = tmp_path / "init_weights.py"
    result = run_cli("emit", "--base", TORCH, "--raw", RENAMED, "-o", str(output))
    assert result.returncode == 1
    assert not output.exists()
    assert "Traceback" not in result.stderr
    paragraph, _, trees = result.stderr.partition("\n\n")
    paragraph = " ".join(paragraph.split())
    assert paragraph.startswith(
        "padiff-gen: error: The models do not pair in definition"
    )
    assert "base `head` (Linear) and raw `classifier` (Linear)" in paragraph
    assert "same attribute names" in paragraph  # the fix
    lines = trees.strip("\n").splitlines()
    assert (
        "base: torch TorchReordered" in lines[0]
        and "raw: paddle PaddleRenamed" in lines[0]
    )
    marked = [line for line in lines if line.startswith(">>")]
    assert len(marked) == 1
    assert re.match(r">> 4  head  Linear  \[10,8\] \[10\] +\| -$", marked[0])
    assert re.search(r"\|\s+classifier\s+Linear", lines[-1])


def test_shape_mismatch_at_the_same_path_is_named(capsys, tmp_path):
    code, err, _ = emit(capsys, tmp_path, "--base", WIDER, "--raw", PADDLE)
    assert code == 1
    assert "base `key.weight` [12, 8] (Linear) vs raw `key.weight` [8, 8]" in " ".join(
        err.split()
    )
    marked = [line for line in err.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and re.match(
        r">> 3  key  Linear .*\| key  Linear", marked[0]
    )


def test_manual_map_pairs_reordered_layer_map_entries(capsys, tmp_path):
    code, err, script = emit(
        capsys, tmp_path, "--base", TORCH, "--raw", PADDLE, "--map", "norm=norm"
    )
    assert code == 0, err
    assert (
        '("norm", "norm", "init_batchnorm_torch_to_paddle"),  # matched by --map'
        in (script.read_text())
    )
    assert_outputs_match(check_script(script, IMAGES))


def test_api_match_option(in_root):
    with pytest.raises(MappingError) as raised:
        api.make_plan(TORCH, PADDLE, match="order")
    assert ">> 0  stem" in str(raised.value)  # API users see the trees too
    plan = api.make_plan(TORCH, PADDLE, match="names")
    assert {p.base.path: p.matched_by for p in plan.pairs} == {
        "stem": "name",
        "norm": "name",
        "query": "order",
        "key": "name",
        "head": "name",
    }
    with pytest.raises(UsageError, match="--match takes 'auto', 'order', 'names'"):
        api.make_plan(TORCH, PADDLE, match="name")


def test_assign_weight_matches_by_name_in_process(in_root):
    from examples.compare import output_difference, randomize
    from examples.reordered import PaddleSwapped, TorchReordered

    base, raw = TorchReordered(), PaddleSwapped()
    randomize(base)
    plan = api.assign_weight(base, raw)
    assert any(pair.matched_by == "name" for pair in plan.pairs)
    assert_outputs_match(output_difference(base, raw, IMAGES))


# The kinds padiff_gen.knowledge.layer_kinds gives these framework classes.
KINDS = {"Linear": "linear", "Conv2D": "conv"}


def unit(path: str, class_name: str = "Linear", special: bool = False) -> Unit:
    return Unit(
        path,
        class_name,
        (TensorRef(f"{path}.weight", (4, 4), "float32"),),
        special,
        kind=KINDS.get(class_name, ""),
    )


def never(base: Unit, raw: Unit) -> bool:
    return False


def test_normalisation():
    assert normalize_path("_conv1._batch_norm") == normalize_path("conv1.batch_norm")
    assert normalize_path("Block.0.FC") == "block.0.fc"
    assert normalize_class("Conv2d") == normalize_class("Conv2D")
    assert normalize_class("MultiheadAttention") == normalize_class(
        "MultiHeadAttention"
    )
    assert normalize_class("ConvTranspose2d") == normalize_class("Conv2DTranspose")
    assert normalize_class("RNN") == normalize_class("SimpleRNN")
    assert normalize_class("BatchNorm2d") != normalize_class("BatchNorm")
    assert normalize_class("Conv2d") != normalize_class("ConvTranspose2d")


def test_name_matching_prefers_exact_paths_and_never_guesses():
    base = [unit("conv"), unit("_conv"), unit("fc"), unit("_head")]
    raw = [unit("head"), unit("_conv"), unit("fc"), unit("conv")]
    match = match_by_name(base, raw, {}, never)
    pairs = {b.path: r.path for b, r in match.pairs}
    assert pairs == {"conv": "conv", "_conv": "_conv", "fc": "fc", "_head": "head"}
    assert match.complete

    # Two base units normalise to the raw `conv`: neither is picked.
    match = match_by_name([unit("_conv_"), unit("__conv")], [unit("conv")], {}, never)
    assert match.pairs == ()
    assert [u.path for u in match.unmatched_base] == ["_conv_", "__conv"]


def test_name_matching_requires_corresponding_classes():
    base = [unit("a", "Linear"), unit("b", "BatchNorm2d", special=True)]
    raw = [unit("a", "Conv2D"), unit("b", "BatchNorm", special=True)]
    assert match_by_name(base, raw, {}, never).pairs == ()
    registered = lambda b, r: (b.class_name, r.class_name) == (
        "BatchNorm2d",
        "BatchNorm",
    )
    match = match_by_name(base, raw, {}, registered)
    assert [(b.path, r.path) for b, r in match.pairs] == [("b", "b")]
    # A layer-map unit never pairs with a plain one.
    plain = [unit("b", "BatchNorm2D")]
    assert match_by_name(base[1:], plain, {}, registered).pairs == ()


def test_name_matching_lets_tensors_speak_when_class_names_differ():
    """Phi3RMSNorm ~ RMSNorm: no class name in common, but the same path, the same
    tensor names and shapes."""
    base = [unit("norm", "Phi3RMSNorm"), unit("head", "Linear")]
    raw = [unit("head", "Linear"), unit("norm", "RMSNorm")]
    match = match_by_name(base, raw, {}, never)
    assert [(b.path, r.path) for b, r in match.pairs] == [
        ("norm", "norm"),
        ("head", "head"),
    ]
    other = Unit("norm", "RMSNorm", (TensorRef("norm.scale", (4, 4), "float32"),))
    assert match_by_name(base[:1], [other], {}, never).pairs == ()


def test_inserted_layer_is_named_not_a_pair_its_shift_made_by_path(in_root):
    """Inserting a Linear at the front of a block shifts the later layers by one, so
    `enc.2` in one model is `enc.3` in the other: paths pair two different layers. The
    order (nothing moved, one unit more) is the news, not that accidental pair's sizes.
    (Found by test_properties in CI.)"""

    def linear(width_in, width_out):
        return {"kind": "linear", "in": width_in, "out": width_out}

    def tree(block):
        enc = {"kind": "seq", "children": block}
        middle = [linear(4, 4), enc, linear(6, 4)]
        return {
            "kind": "custom",
            "names": ["stem"],
            "children": [
                {"kind": "dict", "names": ["stem", "enc", "mid"], "children": middle}
            ],
        }

    attention = {"kind": "attention", "c": 4, "heads": 1}
    block = [attention, linear(4, 4), linear(4, 6)]
    for framework in ("torch", "paddle"):
        with pytest.raises(MappingError) as raised:
            api.make_plan(
                "torch:examples.random_models.build_torch",
                f"{framework}:examples.random_models.build_{framework}",
                base_kwargs={"tree": tree([linear(4, 4)] + block)},
                raw_kwargs={"tree": tree(block)},
            )
        error = raised.value
        assert error.base.path == "stem.enc.0", error.text
        assert error.text.startswith(
            "The raw model lacks base `stem.enc.0` (Linear, [4, 4], [4]): without it "
            "the rest pairs in order."
        ), error.text


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_a_tied_head_of_models_built_with_weights_is_checked_by_running(scale):
    """torch ties its LM head to the embedding; paddle computes the head with a matmul
    on the embedding's weight in forward code, outside the embedding's call. Models a
    program built with their weights: the run that checks the head must compute with
    the probe's tensor there too (it once read the model's own, and claimed outputs
    differ). The same computation pairs and copies right; another (``scale`` 2, the
    negative control) is refused, naming the tie."""
    import paddle
    import torch
    from examples.compare import output_difference, randomize

    class TorchTied(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.lm_head = torch.nn.Linear(4, 10, bias=False)
            self.lm_head.weight = self.embed.weight

        def forward(self, ids):
            return self.lm_head(self.embed(ids))

    class PaddleMatmul(paddle.nn.Layer):
        def __init__(self):
            super().__init__()
            self.embed = paddle.nn.Embedding(10, 4)

        def forward(self, ids):
            logits = paddle.matmul(self.embed(ids), self.embed.weight, transpose_y=True)
            return logits * scale

    base, raw = TorchTied(), PaddleMatmul()
    randomize(base)
    if scale != 1.0:
        with pytest.raises(MappingError) as raised:
            api.assign_weight(base, raw)
        text = " ".join(str(raised.value).split())
        assert (
            "base `lm_head` (Linear) only holds a tied tensor (`lm_head.weight` is "
            "`embed.weight`)" in text
        ), text
        assert "made their outputs differ by" in text
        assert "Give the raw model a layer that holds the tied tensor" in text
        return
    plan = api.assign_weight(base, raw)
    [head] = [pair for pair in plan.pairs if pair.matched_by == "tied"]
    assert "checked by running `<root>` alone in both models" in head.layout
    assert_outputs_match(output_difference(base, raw, [["int64", [2, 5], 10]]))
