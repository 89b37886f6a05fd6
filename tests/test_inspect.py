"""`padiff-gen inspect`: the paired table, as text (plain or coloured) and as JSON."""

from __future__ import annotations

import json
import re

from conftest import ROOT, run_cli
from padiff_gen.term import align, paint, use_color
from terminal import run_cli_in_terminal

CNN = (
    "--base",
    "torch:examples.cnn.TorchCNN",
    "--raw",
    "paddle:examples.cnn.PaddleCNN",
)
# The raw MLP has one more hidden layer: layers.2 differ in shape, raw layers.3 is left over.
MISMATCHED = (
    "--base",
    "torch:examples.mlp.TorchMLP",
    "--raw",
    "paddle:examples.mlp.PaddleMLP",
    "--raw-kwargs",
    '{"sizes": [16, 32, 32, 32, 4]}',
)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _row(text: str, base_path: str) -> str:
    return next(
        line for line in text.splitlines() if re.search(rf"\s{base_path}\s", line)
    )


def test_inspect_prints_every_pair_plain_when_piped(tmp_path):
    before = sorted(ROOT.rglob("*.py"))
    result = run_cli("inspect", *CNN)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert not ANSI.search(out), "piped output must carry no colour codes"
    assert "base: torch:examples.cnn.TorchCNN (torch TorchCNN)" in out
    conv = _row(out, r"features\.0")
    assert re.search(
        r"Conv2d\s+\[8,3,3,3\] \[8\]\s+features\.0\s+Conv2D\s+\[8,3,3,3\] \[8\]\s+copy$",
        conv,
    )
    batchnorm = _row(out, r"features\.1")
    assert "BatchNorm2d" in batchnorm and "BatchNorm2D" in batchnorm
    assert batchnorm.endswith("init_batchnorm_torch_to_paddle (built-in)")
    head = _row(out, "head")
    assert re.search(
        r"\[10,16\] \[10\]\s+head\s+Linear\s+\[16,10\] \[10\]\s+transpose weight$", head
    )
    # Columns are aligned: every cell starts where its header word starts.
    header = next(line for line in out.splitlines() if line.lstrip().startswith("#"))
    starts = [m.start() for m in re.finditer(r"(?<= )\S", header)]
    rows = [line for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 5 and len(starts) == 8
    for row in rows:
        assert all(row[p - 1] == " " and row[p] != " " for p in starts), (header, row)
    assert "Everything pairs." in out
    assert sorted(ROOT.rglob("*.py")) == before, "inspect must write nothing"


def test_inspect_marks_the_first_mismatch_and_lists_leftovers():
    result = run_cli("inspect", *MISMATCHED)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    # The first two Linear layers pair; the third meets a raw layer of another size.
    assert _row(out, r"layers\.0").lstrip().startswith("1")
    marked = [line for line in out.splitlines() if re.match(r">\s+\d+\s", line)]
    assert len(marked) == 1 and "layers.2" in marked[0] and "MISMATCH" in marked[0]
    assert "left over on the raw side (1):" in out
    assert re.search(r"^\s+layers\.3\s+Linear\s+\[32,4\] \[4\]$", out, re.M)
    assert "first mismatch, at #3:" in out
    said = " ".join(out.split())
    # the raw model's extra layer is named first, then the pair it shifts
    assert "The base model lacks raw `layers.2` (Linear, [32, 32], [32])" in said
    assert "Shape mismatch: base `layers.2.weight` [4, 32]" in said
    assert "Traceback" not in result.stderr


def test_inspect_json_holds_the_same_table():
    result = run_cli("inspect", "--json", *MISMATCHED)
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert data["base"] == {
        "framework": "torch",
        "class": "TorchMLP",
        "spec": "torch:examples.mlp.TorchMLP",
        "kwargs": {},
    }
    assert data["raw"]["kwargs"] == {"sizes": [16, 32, 32, 32, 4]}
    assert [p["how"] for p in data["pairs"]] == ["transpose", "transpose", "mismatch"]
    first = data["pairs"][0]
    assert first["base"]["tensors"][0] == {
        "path": "layers.0.weight",
        "shape": [32, 16],
        "dtype": "float32",
    }
    assert first["raw"]["tensors"][0]["shape"] == [16, 32]
    assert first["copies"][0] == {
        "base": "layers.0.weight",
        "raw": "layers.0.weight",
        "transform": "transpose",
        "note": None,
        "condition": None,
    }
    assert data["first_mismatch"]["index"] == 3
    assert data["first_mismatch"]["where"] == "pair"
    assert "layers.2.weight" in data["first_mismatch"]["message"]
    assert data["leftovers"]["base"] == []
    assert [u["path"] for u in data["leftovers"]["raw"]] == ["layers.3"]


def test_inspect_json_shows_initializers():
    result = run_cli("inspect", "--json", *CNN)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True and data["first_mismatch"] is None
    special = [p for p in data["pairs"] if p["how"] == "initializer"]
    assert [p["base"]["path"] for p in special] == ["features.1", "features.4"]
    assert special[0]["initializer"] == {
        "name": "init_batchnorm_torch_to_paddle",
        "origin": "built-in",
    }
    # The torch side of a BatchNorm holds num_batches_tracked too (shape []).
    assert [t["shape"] for t in special[0]["base"]["tensors"]][-1] == []


def test_inspect_colours_on_a_terminal_and_not_with_color_never():
    coloured = run_cli_in_terminal("inspect", *MISMATCHED, stderr_tty=False)
    assert coloured.returncode == 1, coloured.piped
    assert "\x1b[31;1m>" in coloured.terminal  # the first mismatch, red and bold
    plain_text = ANSI.sub("", coloured.terminal)
    assert "first mismatch, at #3:" in plain_text
    plain = run_cli_in_terminal(
        "inspect", *MISMATCHED, "--color", "never", stderr_tty=False
    )
    assert plain.returncode == 1
    assert not ANSI.search(plain.terminal)


def test_inspect_without_models_is_a_usage_error(tmp_path):
    result = run_cli("inspect", "--base", "torch:examples.cnn.TorchCNN", cwd=tmp_path)
    assert result.returncode == 2
    assert "inspect needs --base and --raw" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- pure helpers


def test_align_pads_all_but_the_last_column():
    rows = align([["a", "bbb", "x"], ["cccc", "d", "yyyy"]])
    assert ["".join(r) for r in rows] == ["a     bbb  x", "cccc  d    yyyy"]


def test_paint_and_use_color(monkeypatch):
    assert paint("x", False, "red") == "x"
    assert paint("x", True, "red", "bold") == "\x1b[31;1mx\x1b[0m"

    class Tty:
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert use_color(Tty()) is True
    assert use_color(Tty(), "never") is False
    assert use_color(object(), "always") is True
    assert use_color(object()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_color(Tty()) is False


def test_inspect_and_list_inits_read_the_configuration(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        "[[tool.padiff-gen.targets]]\n"
        'output = "init_cnn.py"\n'
        'base = "torch:examples.cnn.TorchCNN"\n'
        'raw = "paddle:examples.cnn.PaddleCNN"\n'
        "\n"
        "[[tool.padiff-gen.targets]]\n"
        'name = "custom"\n'
        'output = "init_custom.py"\n'
        'base = "torch:examples.custom_layers.TorchBlock"\n'
        'raw = "paddle:examples.custom_layers.PaddleBlock"\n'
        'init-modules = ["examples.custom_inits"]\n'
    )
    which = run_cli("inspect", cwd=tmp_path)
    assert which.returncode == 2
    assert "configures 2 targets (init_cnn, custom); inspect shows one." in which.stderr
    custom = run_cli("inspect", "--target", "custom", cwd=tmp_path)
    assert custom.returncode == 0, custom.stderr
    assert re.search(
        r"proj\s+PackedProjection\s+\[24,8\]\s+proj\s+SplitProjection\s+3x\[8,8\]"
        r"\s+init_packed_projection \(--init-module examples.custom_inits\)$",
        custom.stdout,
        re.M,
    ), custom.stdout
    listed = run_cli("list-inits", cwd=tmp_path)  # imports the configured init-modules
    assert listed.returncode == 0, listed.stderr
    assert re.search(
        r"^torch\s+PackedProjection\s+->\s+paddle\s+SplitProjection\s+"
        r"init_packed_projection\s+--init-module examples.custom_inits$",
        listed.stdout,
        re.M,
    ), listed.stdout
    assert list(tmp_path.iterdir()) == [tmp_path / "pyproject.toml"]


# ---------------------------------------------------------------- on a terminal


def _deep_pairing():
    """A pairing with long paths, a scalar tensor and rows paired by name."""
    from padiff_gen.plan.plan import (
        ModelInfo,
        Pairing,
        TensorCopy,
        TensorRef,
        Unit,
        UnitPair,
    )

    def unit(path, cls, *shapes):
        tensors = tuple(
            TensorRef(f"{path}.t{i}", shape, "float32")
            for i, shape in enumerate(shapes)
        )
        return Unit(path, cls, tensors)

    pairs = []
    for block in range(3):
        path = f"encoder.layers.{block}.self_attention.query_key_value_projection"
        base = unit(path, "Linear", (96, 32), (96,))
        raw = unit(path, "Linear", (32, 96), (96,))
        copies = tuple(
            TensorCopy(b, r, "transpose" if i == 0 else "copy")
            for i, (b, r) in enumerate(zip(base.tensors, raw.tensors))
        )
        pairs.append(
            UnitPair(base, raw, copies, matched_by="name" if block else "order")
        )
    norm = unit("encoder.final_layer_norm", "BatchNorm1d", (32,), (32,), ())
    raw_norm = unit("encoder.final_layer_norm", "BatchNorm1D", (32,), (32,))
    pairs.append(UnitPair(norm, raw_norm, ()))
    units = tuple(p.base for p in pairs), tuple(p.raw for p in pairs)
    return Pairing(
        ModelInfo("torch", "Encoder"),
        ModelInfo("paddle", "Encoder"),
        *units,
        tuple(pairs),
    )


def test_inspect_fits_the_terminal_width_keeping_the_ends_of_paths():
    from padiff_gen.codegen.report import format_pairing

    pairing = _deep_pairing()
    wide = format_pairing(pairing)
    assert max(len(line) for line in wide.splitlines()) > 120  # so fitting has work
    text = format_pairing(pairing, width=100)
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 100, text
    rows = [line for line in lines if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 4
    # Paths lose their head, so the distinguishing end stays readable.
    assert re.search(r"  \.\.\.ection  ", rows[0]), rows[0]
    assert (
        "layers.1" not in text
    )  # cut off with the head: the row number tells them apart
    assert all("..." in row for row in rows[:3])
    # The rows paired by name are marked in a column of their own.
    header = next(line for line in lines if line.lstrip().startswith("#"))
    assert "paired" in header.split()
    assert ["by name" in row for row in rows] == [False, True, True, False]
    assert "2 pairs were matched by name or --map" in " ".join(text.split())
    # A scalar tensor (BatchNorm's num_batches_tracked) reads as such, not as [].
    assert "2x[32] scalar" in format_pairing(pairing) and "[]" not in wide


def test_inspect_reads_the_width_from_columns():
    from conftest import subprocess_env
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "padiff_gen",
            "inspect",
            "--base",
            "torch:examples.reordered.TorchReordered",
            "--raw",
            "paddle:examples.reordered.PaddleReordered",
        ],
        cwd=ROOT,
        env=subprocess_env(COLUMNS="90"),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 90, result.stdout
    rows = [line for line in lines if re.match(r"\s+\d+\s", line)]
    assert sum("by name" in row for row in rows) == 4
    assert "4x[8]" in rows[1]


# ---------------------------------------------------------------- leftovers


FUSED = (
    "torch:tests.fixtures.chains.TorchFusedBlock",
    "paddle:tests.fixtures.chains.PaddleSplitBlock",
)


def test_leftovers_are_exactly_the_units_without_a_partner():
    """Fused qkv against separate q, k, v whose sizes do not add up to it (so no fused
    layout explains them): matched by path, the MLP and the head pair, and qkv / q, k,
    v are what is left over (not the last units by count)."""
    from padiff_gen.api import pair_models
    from padiff_gen.codegen.report import format_pairing, pairing_data

    pairing = pair_models(*FUSED, match="names", raw_kwargs={"kv_width": 4})[0]
    data = pairing_data(pairing)
    assert [(p["base"]["path"], p["raw"]["path"]) for p in data["pairs"]] == [
        ("proj", "proj"),
        ("mlp.0", "mlp.0"),
        ("mlp.2", "mlp.2"),
        ("head", "head"),
    ]
    assert all(p["matched_by_name"] for p in data["pairs"])
    assert [u["path"] for u in data["leftovers"]["base"]] == ["qkv"]
    assert [u["path"] for u in data["leftovers"]["raw"]] == ["q", "k", "v"]
    assert data["first_mismatch"]["where"] == "leftovers"
    text = format_pairing(pairing)
    assert re.search(r"^\s+1\s+proj\s.*by name\s+transpose weight$", text, re.M)
    left = text[text.index("left over on the base side (1):") :]
    assert re.search(r"qkv\s+Linear", left) and not re.search(r"\shead\s", left)
    assert "left over on the raw side (3):" in text


def test_every_unit_is_in_one_row_or_left_over():
    from padiff_gen.api import pair_models
    from padiff_gen.codegen.report import leftovers, paired

    for match in ("auto", "order", "names"):
        pairing = pair_models(*FUSED, match=match, raw_kwargs={"kv_width": 4})[0]
        rows = paired(pairing)
        base_left, raw_left = leftovers(pairing)
        base_paths = [p.base.path for p in rows] + [u.path for u in base_left]
        raw_paths = [p.raw.path for p in rows] + [u.path for u in raw_left]
        assert sorted(base_paths) == sorted(u.path for u in pairing.base_units), match
        assert sorted(raw_paths) == sorted(u.path for u in pairing.raw_units), match
