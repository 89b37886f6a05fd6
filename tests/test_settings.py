"""Settings that are not weights, compared on every layer through one table.

Each fact of the table is checked by running the two layers: with the weights copied by
padiff-gen, a pair the table finds different computes different outputs, and a pair it
finds alike (however differently written) computes the same ones. Then the layers without
weights are paired between the units in whole models, and emit, the script and inspect
report what differs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import paddle
import pytest
import torch

from conftest import RELATIVE_TOLERANCE, run_cli
from padiff_gen.api import assign_weight, pair_models
from padiff_gen.analysis.compare_settings import settings_note
from padiff_gen.codegen.report import format_pairing, pairing_data
from padiff_gen.knowledge.settings import KINDS, SETTINGS, compare_layers, kind_of

tnn, pnn = torch.nn, paddle.nn
TORCH_CHAIN = "torch:tests.fixtures.chains.torch_chain"
PADDLE_CHAIN = "paddle:tests.fixtures.chains.paddle_chain"


class TorchBatchNormSubclass(tnn.BatchNorm2d):
    """A library's own BatchNorm: still a BatchNorm by class hierarchy."""


class TorchRMSNorm(tnn.Module):
    """transformers-style: the eps is `variance_epsilon`."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.ones(size))
        self.variance_epsilon = eps

    def forward(self, x):
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
        return self.weight * x * scale


class PaddleRMSNorm(pnn.Layer):
    """PaddleFormers-style: the eps is `epsilon`."""

    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = self.create_parameter(
            [size], default_initializer=pnn.initializer.Constant(1.0)
        )
        self.epsilon = eps

    def forward(self, x):
        scale = paddle.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.epsilon)
        return self.weight * x * scale


@dataclass(frozen=True)
class Fact:
    torch: Callable[[], Any]
    paddle: Callable[[], Any]
    settings: tuple[str, ...]  # the rows that differ; () for a pair written apart alike
    shape: Optional[tuple[int, ...]] = (2, 3, 7, 7)  # None: the layers cannot both run
    calls: int = 1  # how many times the input is passed (attention: query, key, value)
    # The input's scale: an eps of 1e-6 against 1e-5 shows where a norm's input has a
    # small variance (as some channels of trained models do), not at variance 1.
    scale: float = 1.0


def conv(cls, *args, **kwargs):
    return lambda: cls(*args, **kwargs)


FACTS = {
    # norms
    "layernorm-eps": Fact(
        conv(tnn.LayerNorm, 8, eps=1e-6),
        conv(pnn.LayerNorm, 8),
        ("eps",),
        (4, 8),
        scale=0.01,
    ),
    "groupnorm-groups": Fact(
        conv(tnn.GroupNorm, 2, 4),
        conv(pnn.GroupNorm, 4, 4),
        ("number of groups",),
        (2, 4, 3, 3),
    ),
    "groupnorm-eps": Fact(
        conv(tnn.GroupNorm, 2, 4, eps=1e-3),
        conv(pnn.GroupNorm, 2, 4),
        ("eps",),
        (2, 4, 3, 3),
    ),
    "batchnorm-eps": Fact(
        conv(tnn.BatchNorm2d, 3, eps=1e-3), conv(pnn.BatchNorm2D, 3), ("eps",)
    ),
    # (initializers are registered by class name: the forward check waits for them)
    "batchnorm-subclass-eps": Fact(
        conv(TorchBatchNormSubclass, 3, eps=1e-3),
        conv(pnn.BatchNorm, 3),
        ("eps",),
        None,
    ),
    "batchnorm-layout": Fact(
        conv(tnn.BatchNorm2d, 3),
        conv(pnn.BatchNorm2D, 3, data_format="NHWC"),
        ("channel layout",),
        None,
    ),
    "instancenorm-eps": Fact(
        conv(tnn.InstanceNorm2d, 3, eps=1e-3, affine=True),
        conv(pnn.InstanceNorm2D, 3),
        ("eps",),
    ),
    "rmsnorm-eps": Fact(
        conv(TorchRMSNorm, 8, 1e-6),
        conv(PaddleRMSNorm, 8, 1e-5),
        ("eps",),
        (4, 8),
        scale=0.01,
    ),
    # convolutions
    "conv-stride": Fact(
        conv(tnn.Conv2d, 3, 4, 3), conv(pnn.Conv2D, 3, 4, 3, stride=2), ("stride",)
    ),
    "conv-padding": Fact(
        conv(tnn.Conv2d, 3, 4, 3), conv(pnn.Conv2D, 3, 4, 3, padding=1), ("padding",)
    ),
    "conv-dilation": Fact(
        conv(tnn.Conv2d, 3, 4, 3, dilation=2),
        conv(pnn.Conv2D, 3, 4, 3),
        ("dilation",),
    ),
    "conv-groups": Fact(
        conv(tnn.Conv2d, 4, 4, 3, groups=2),
        conv(pnn.Conv2D, 4, 4, 3),
        ("groups",),
        None,
    ),
    "conv-padding-mode": Fact(
        conv(tnn.Conv2d, 3, 4, 3, padding=1, padding_mode="reflect"),
        conv(pnn.Conv2D, 3, 4, 3, padding=1),
        ("padding mode",),
    ),
    "convtranspose-output-padding": Fact(
        conv(tnn.ConvTranspose2d, 3, 4, 3, stride=2, output_padding=1),
        conv(pnn.Conv2DTranspose, 3, 4, 3, stride=2),
        ("output padding",),
    ),
    "conv-layout": Fact(
        conv(tnn.Conv2d, 3, 4, 3),
        conv(pnn.Conv2D, 3, 4, 3, data_format="NHWC"),
        ("channel layout",),
        None,
    ),
    # pooling
    "maxpool-ceil": Fact(
        conv(tnn.MaxPool2d, 2, ceil_mode=True), conv(pnn.MaxPool2D, 2), ("ceil mode",)
    ),
    "maxpool-kernel": Fact(
        conv(tnn.MaxPool2d, 3, 2), conv(pnn.MaxPool2D, 2, 2), ("kernel size",)
    ),
    "maxpool-indices": Fact(
        conv(tnn.MaxPool2d, 2, return_indices=True),
        conv(pnn.MaxPool2D, 2),
        ("indices returned",),
        None,
    ),
    # the defaults differ: torch counts padding in averages, paddle (exclusive) not
    "avgpool-count-padding": Fact(
        conv(tnn.AvgPool2d, 3, 1, 1),
        conv(pnn.AvgPool2D, 3, 1, 1),
        ("padding counted in the average",),
    ),
    "avgpool-divisor": Fact(
        conv(tnn.AvgPool2d, 2, divisor_override=3), conv(pnn.AvgPool2D, 2), ("divisor",)
    ),
    "adaptive-output-size": Fact(
        conv(tnn.AdaptiveAvgPool2d, 2), conv(pnn.AdaptiveAvgPool2D, 1), ("output size",)
    ),
    # dropout: paddle's downscale_in_infer scales by 1 - p in eval mode
    "dropout-mode": Fact(
        conv(tnn.Dropout, 0.5),
        conv(pnn.Dropout, 0.5, mode="downscale_in_infer"),
        ("output scale in eval mode",),
    ),
    # recurrent and attention layers: the defaults differ
    "lstm-time-major": Fact(
        conv(tnn.LSTM, 4, 6, bidirectional=True),
        conv(pnn.LSTM, 4, 6, direction="bidirect"),
        ("time-major input",),
        (2, 5, 4),
    ),
    "gru-direction": Fact(
        conv(tnn.GRU, 4, 6, batch_first=True),
        conv(pnn.GRU, 4, 6, direction="bidirect"),
        ("bidirectional",),
        None,
    ),
    "attention-batch-first": Fact(
        conv(tnn.MultiheadAttention, 8, 2),
        conv(pnn.MultiHeadAttention, 8, 2),
        ("batch-first input",),
        (2, 5, 8),
        calls=3,
    ),
    "transformer-norm-first": Fact(
        conv(tnn.TransformerEncoderLayer, 8, 2, 16, batch_first=True, norm_first=True),
        conv(pnn.TransformerEncoderLayer, 8, 2, 16),
        ("norm before attention",),
        (2, 5, 8),
    ),
    "transformer-activation": Fact(
        conv(
            tnn.TransformerEncoderLayer, 8, 2, 16, batch_first=True, activation="gelu"
        ),
        conv(pnn.TransformerEncoderLayer, 8, 2, 16),
        ("activation",),
        (2, 5, 8),
    ),
    # activations
    "gelu-tanh": Fact(
        conv(tnn.GELU), conv(pnn.GELU, approximate=True), ("tanh approximation",)
    ),
    "leaky-relu-slope": Fact(
        conv(tnn.LeakyReLU, 0.2), conv(pnn.LeakyReLU), ("negative slope",)
    ),
    "elu-alpha": Fact(conv(tnn.ELU, 0.5), conv(pnn.ELU), ("alpha",)),
    "softmax-axis": Fact(conv(tnn.Softmax, dim=1), conv(pnn.Softmax), ("axis",)),
    "hardtanh-bounds": Fact(
        conv(tnn.Hardtanh, -2.0, 2.0),
        conv(pnn.Hardtanh),
        ("lower bound", "upper bound"),
    ),
    "relu6-against-hardtanh": Fact(
        conv(tnn.ReLU6), conv(pnn.Hardtanh), ("lower bound", "upper bound")
    ),
    "softplus-beta": Fact(conv(tnn.Softplus, beta=2.0), conv(pnn.Softplus), ("beta",)),
    # resampling and shapes
    "upsample-mode": Fact(
        conv(tnn.Upsample, scale_factor=2, mode="bilinear"),
        conv(pnn.Upsample, scale_factor=2),
        ("mode",),
    ),
    "upsample-align-corners": Fact(
        conv(tnn.Upsample, scale_factor=2, mode="bilinear", align_corners=True),
        conv(pnn.Upsample, scale_factor=2, mode="bilinear"),
        ("align_corners",),
    ),
    "upsample-align-mode": Fact(
        conv(tnn.Upsample, scale_factor=2, mode="bilinear"),
        conv(pnn.Upsample, scale_factor=2, mode="bilinear", align_mode=1),
        ("sampling grid",),
    ),
    "upsample-scale": Fact(
        conv(tnn.Upsample, scale_factor=2),
        conv(pnn.Upsample, scale_factor=3),
        ("scale factor",),
    ),
    "flatten-axes": Fact(conv(tnn.Flatten, 0), conv(pnn.Flatten), ("first axis",)),
    "pad-mode": Fact(conv(tnn.ReflectionPad2d, 1), conv(pnn.Pad2D, 1), ("mode",)),
    "pixel-shuffle": Fact(
        conv(tnn.PixelShuffle, 2),
        conv(pnn.PixelShuffle, 3),
        ("upscale factor",),
        (1, 36, 2, 2),
    ),
    # written apart, computing alike: no difference
    "same-padding": Fact(
        conv(tnn.Conv2d, 3, 4, 3, padding=1),
        conv(pnn.Conv2D, 3, 4, 3, padding="SAME"),
        (),
    ),
    "padding-per-side": Fact(
        conv(tnn.Conv2d, 3, 4, 3, padding=(1, 2)),
        conv(pnn.Conv2D, 3, 4, 3, padding=[1, 1, 2, 2]),
        (),
    ),
    "avgpool-without-padding": Fact(conv(tnn.AvgPool2d, 2), conv(pnn.AvgPool2D, 2), ()),
    "avgpool-agreeing": Fact(
        conv(tnn.AvgPool2d, 3, 1, 1), conv(pnn.AvgPool2D, 3, 1, 1, exclusive=False), ()
    ),
    "lstm-batch-first": Fact(
        conv(tnn.LSTM, 4, 6, batch_first=True), conv(pnn.LSTM, 4, 6), (), (2, 5, 4)
    ),
    "attention-batch-first-agreeing": Fact(
        conv(tnn.MultiheadAttention, 8, 2, batch_first=True),
        conv(pnn.MultiHeadAttention, 8, 2),
        (),
        (2, 5, 8),
        calls=3,
    ),
    "relu6": Fact(conv(tnn.ReLU6), conv(pnn.ReLU6), ()),
    "bilinear-upsampling": Fact(
        conv(tnn.UpsamplingBilinear2d, scale_factor=2),
        conv(pnn.UpsamplingBilinear2D, scale_factor=2),
        (),
    ),
    "pool-stride-default": Fact(
        conv(tnn.MaxPool2d, 2), conv(pnn.MaxPool2D, 2, stride=2), ()
    ),
    "dropout-upscale": Fact(conv(tnn.Dropout, 0.5), conv(pnn.Dropout, 0.3), ()),
    "zero-padding": Fact(conv(tnn.ZeroPad2d, 1), conv(pnn.Pad2D, 1), ()),
    "gelu-tanh-agreeing": Fact(
        conv(tnn.GELU, approximate="tanh"), conv(pnn.GELU, approximate=True), ()
    ),
    "transformer-gelu": Fact(
        conv(
            tnn.TransformerEncoderLayer, 8, 2, 16, batch_first=True, activation="gelu"
        ),
        conv(pnn.TransformerEncoderLayer, 8, 2, 16, activation="gelu"),
        (),
        (2, 5, 8),
    ),
}


def _framework(layer) -> str:
    return "torch" if isinstance(layer, tnn.Module) else "paddle"


def _differing(base, raw, copied_as_is: bool = True) -> list[str]:
    frameworks = (_framework(base), _framework(raw))
    kind = kind_of(base, frameworks[0])
    assert kind is not None and kind is kind_of(raw, frameworks[1])
    found = compare_layers(base, raw, frameworks, kind, copied_as_is)
    return [mismatch.setting.name for mismatch in found]


@pytest.mark.parametrize("name", FACTS)
def test_the_table_finds_each_difference_in_both_directions(name):
    fact = FACTS[name]
    assert _differing(fact.torch(), fact.paddle()) == list(fact.settings)
    assert _differing(fact.paddle(), fact.torch()) == list(fact.settings)


def _first_output(layer, array: np.ndarray, calls: int) -> np.ndarray:
    layer.eval()
    if _framework(layer) == "torch":
        with torch.no_grad():
            out = layer(*[torch.from_numpy(array)] * calls)
    else:
        with paddle.no_grad():
            out = layer(*[paddle.to_tensor(array)] * calls)
    while isinstance(out, (tuple, list)):
        out = out[0]
    return np.asarray(out.numpy(), dtype=np.float64)


RUNNABLE = [name for name, fact in FACTS.items() if fact.shape is not None]


@pytest.mark.parametrize("name", RUNNABLE)
def test_what_the_table_says_is_what_the_layers_compute(name):
    """With the weights copied by padiff-gen, a difference the table finds changes the
    outputs (beyond the tests' tolerance, or in shape); no difference, no change."""
    from examples.compare import randomize

    fact = FACTS[name]
    base, raw = fact.torch(), fact.paddle()
    randomize(base, seed=3)
    if base.state_dict():
        assign_weight(base, raw)
    array = np.random.default_rng(4).standard_normal(fact.shape) * fact.scale
    array = array.astype("float32")
    base_out = _first_output(base, array, fact.calls)
    raw_out = _first_output(raw, array, fact.calls)
    same_shape = base_out.shape == raw_out.shape
    scale = float(np.max(np.abs(base_out)))
    agree = same_shape and float(np.max(np.abs(base_out - raw_out))) <= (
        RELATIVE_TOLERANCE * max(1.0, scale)
    )
    assert agree == (not fact.settings), (base_out.shape, raw_out.shape)


def test_same_framework_pairs_compare_too():
    assert _differing(tnn.LayerNorm(8, eps=1e-6), tnn.LayerNorm(8)) == ["eps"]
    assert _differing(
        pnn.Dropout(0.5, mode="downscale_in_infer"), pnn.Dropout(0.5)
    ) == ["output scale in eval mode"]
    assert _differing(tnn.MaxPool2d(2), tnn.MaxPool2d(2)) == []


def test_embedding_padding_rows_matter_when_copied_as_is():
    """torch looks every row up, whatever its padding_idx; paddle outputs zeros at its
    padding_idx. Across frameworks the Embedding initializers reconcile the two."""
    assert _differing(tnn.Embedding(5, 3, padding_idx=0), tnn.Embedding(5, 3)) == []
    paddle_pair = (pnn.Embedding(5, 3, padding_idx=0), pnn.Embedding(5, 3))
    assert _differing(*paddle_pair) == ["rows output as zeros"]
    assert _differing(*paddle_pair, copied_as_is=False) == []
    cross = (tnn.Embedding(5, 3, padding_idx=0), pnn.Embedding(5, 3, padding_idx=0))
    assert _differing(*cross, copied_as_is=False) == []


def test_kinds_follow_the_class_hierarchy():
    assert kind_of(TorchBatchNormSubclass(3), "torch").name == "BatchNorm"
    assert (
        kind_of(pnn.BatchNorm(3), "paddle").name == "BatchNorm"
    )  # paddle's older class
    assert (
        kind_of(tnn.ReLU6(), "torch").name == "Hardtanh"
    )  # torch: a Hardtanh subclass
    assert kind_of(pnn.ReLU6(), "paddle").name == "Hardtanh"
    assert kind_of(tnn.AlphaDropout(0.1), "torch").name == "Dropout"
    assert kind_of(TorchRMSNorm(4, 1e-6), "torch").name == "Norm with eps"  # evidence
    assert kind_of(TorchRMSNorm(4, 1e-6), "torch", evidence=False) is None
    assert kind_of(tnn.Sequential(), "torch") is None


def test_every_row_names_a_kind_and_every_class_exists():
    names = {kind.name for kind in KINDS}
    assert {row.kind for row in SETTINGS} <= names
    from padiff_gen.knowledge.settings import _resolve

    missing = [p for kind in KINDS for p in kind.torch + kind.paddle if not _resolve(p)]
    assert missing == []


# ---------------------------------------------------------------- whole models


def _layers(*specs) -> list:
    return [[name, list(args), kwargs] for name, args, kwargs in specs]


def _pair(base_layers, raw_layers, base=TORCH_CHAIN, raw=PADDLE_CHAIN):
    return pair_models(
        base,
        raw,
        base_kwargs={"layers": base_layers},
        raw_kwargs={"layers": raw_layers},
    )[0]


LINEAR_IN = ("Linear", (8, 8), {})
LINEAR_OUT = ("Linear", (8, 4), {})
TORCH_DROPOUT = _layers(LINEAR_IN, ("Dropout", (0.5,), {}), LINEAR_OUT)
PADDLE_DOWNSCALE = _layers(
    LINEAR_IN, ("Dropout", (0.5,), {"mode": "downscale_in_infer"}), LINEAR_OUT
)


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
def test_a_dropout_between_two_linears_is_noted_by_name(direction):
    specs = [(TORCH_CHAIN, TORCH_DROPOUT), (PADDLE_CHAIN, PADDLE_DOWNSCALE)]
    if direction == "paddle_to_torch":
        specs.reverse()
    pairing = _pair(specs[0][1], specs[1][1], specs[0][0], specs[1][0])
    [note] = pairing.notes
    assert (note.base.path, note.raw.path, note.setting) == (
        "1",
        "1",
        "output scale in eval mode",
    )
    text = settings_note(pairing.notes)
    assert "(torch Dropout) has no mode (scales by 1 in eval mode)" in text
    assert "(paddle Dropout) has mode='downscale_in_infer' (scales by 0.5" in text
    assert "with mode='upscale_in_train'" in text
    assert not any(pair.difference for pair in pairing.pairs)  # not on the Linears


@pytest.mark.parametrize(
    "base_layers, raw_layers, said",
    [
        (  # LayerNorm eps 1e-6 against 1e-5
            _layers(LINEAR_IN, ("LayerNorm", (8,), {"eps": 1e-6}), LINEAR_OUT),
            _layers(LINEAR_IN, ("LayerNorm", (8,), {}), LINEAR_OUT),
            "base `1` (torch LayerNorm) has eps=1e-06 but raw `1` (paddle LayerNorm) has "
            "epsilon=1e-05, so they differ in eps: build the raw layer with epsilon=1e-06",
        ),
        (  # a conv's stride: the shapes then differ downstream, the note names the conv
            _layers(
                ("Conv2d", (3, 8, 3), {"padding": 1}),
                ("ReLU", (), {}),
                ("AdaptiveAvgPool2d", (2,), {}),
                ("Flatten", (), {}),
                ("Linear", (32, 5), {}),
            ),
            _layers(
                ("Conv2D", (3, 8, 3), {"padding": 1, "stride": 2}),
                ("ReLU", (), {}),
                ("AdaptiveAvgPool2D", (2,), {}),
                ("Flatten", (), {}),
                ("Linear", (32, 5), {}),
            ),
            "base `0` (torch Conv2d) has stride=(1, 1) but raw `0` (paddle Conv2D) has "
            "stride=[2, 2], so they differ in stride: build the raw layer with stride=1",
        ),
        (  # pooling ceil mode, between two convs
            _layers(
                ("Conv2d", (3, 4, 3), {}),
                ("MaxPool2d", (2,), {"ceil_mode": True}),
                ("Conv2d", (4, 4, 1), {}),
            ),
            _layers(
                ("Conv2D", (3, 4, 3), {}),
                ("MaxPool2D", (2,), {}),
                ("Conv2D", (4, 4, 1), {}),
            ),
            "base `1` (torch MaxPool2d) has ceil_mode=True but raw `1` (paddle MaxPool2D) "
            "has ceil_mode=False, so they differ in ceil mode",
        ),
        (  # GELU approximation
            _layers(LINEAR_IN, ("GELU", (), {}), LINEAR_OUT),
            _layers(LINEAR_IN, ("GELU", (), {"approximate": True}), LINEAR_OUT),
            "base `1` (torch GELU) has approximate='none' but raw `1` (paddle GELU) has "
            "approximate=True, so they differ in tanh approximation: build the raw layer "
            "with approximate=False (or the base layer with approximate='tanh')",
        ),
        (  # torch LSTM reads [time, batch] by default, paddle [batch, time]
            _layers(
                ("LSTM", (4, 6), {"bidirectional": True}),
                ("First", (), {}),
                ("Linear", (12, 3), {}),
            ),
            _layers(
                ("LSTM", (4, 6), {"direction": "bidirect"}),
                ("First", (), {}),
                ("Linear", (12, 3), {}),
            ),
            "base `0` (torch LSTM) has batch_first=False (reads [time, batch, features]) "
            "but raw `0` (paddle LSTM) has time_major=False (reads [batch, time, "
            "features]), so they differ in time-major input: build the raw layer with "
            "time_major=True (or the base layer with batch_first=True)",
        ),
        (  # an activation on one side only
            _layers(LINEAR_IN, ("ReLU", (), {}), LINEAR_OUT),
            _layers(LINEAR_IN, LINEAR_OUT),
            "base `1` (torch ReLU) has no counterpart among the raw model's layers "
            "(between base `0` and `2`)",
        ),
        (  # two different activations at one place
            _layers(LINEAR_IN, ("ReLU", (), {}), LINEAR_OUT),
            _layers(LINEAR_IN, ("GELU", (), {}), LINEAR_OUT),
            "base `1` (torch ReLU) and raw `1` (paddle GELU) sit at the same place "
            "(between base `0` and `2`) but compute different functions",
        ),
    ],
    ids=[
        "layernorm-eps",
        "conv-stride",
        "ceil-mode",
        "gelu",
        "lstm",
        "one-sided",
        "kind",
    ],
)
def test_emit_notes_name_both_layers_both_values_and_the_fix(
    base_layers, raw_layers, said
):
    pairing = _pair(base_layers, raw_layers)
    assert pairing.first_error is None
    assert said in " ".join(settings_note(pairing.notes).split())


def test_layers_that_change_nothing_in_eval_mode_need_no_partner():
    """A Dropout (the identity in eval mode) on one side only is no difference; nor is a
    ReLU defined elsewhere in the other model (definition order is not call order)."""
    pairing = _pair(
        _layers(LINEAR_IN, ("Dropout", (0.1,), {}), ("ReLU", (), {}), LINEAR_OUT),
        _layers(LINEAR_IN, LINEAR_OUT, ("ReLU", (), {})),
    )
    assert pairing.notes == ()


def test_an_activation_fused_into_paddles_batchnorm_pairs_with_torchs_layer():
    """paddle.vision's DenseNet writes BatchNorm(act="relu") where torchvision writes a
    BatchNorm2d and a ReLU."""
    pairing = _pair(
        _layers(("BatchNorm2d", (4,), {}), ("ReLU", (), {}), ("Conv2d", (4, 4, 1), {})),
        _layers(("BatchNorm", (4,), {"act": "relu"}), ("Conv2D", (4, 4, 1), {})),
    )
    assert pairing.notes == ()
    lacking = _pair(
        _layers(("BatchNorm2d", (4,), {}), ("Conv2d", (4, 4, 1), {})),
        _layers(("BatchNorm", (4,), {"act": "relu"}), ("Conv2D", (4, 4, 1), {})),
    )
    [note] = lacking.notes
    assert note.setting == "presence" and note.raw.fused == "act='relu'"


def test_emit_the_script_and_inspect_report_the_same_differences(tmp_path):
    """The LSTM pair: a note on stderr, `# differs:` on the table row, a row in inspect
    and its JSON; the dropout pair: the script lists it with the tables."""
    lstm = (
        _layers(("LSTM", (4, 6), {"bidirectional": True}), ("First", (), {})),
        _layers(("LSTM", (4, 6), {"direction": "bidirect"}), ("First", (), {})),
    )
    script = tmp_path / "init_weights.py"
    args = ["--base", TORCH_CHAIN, "--raw", PADDLE_CHAIN]
    kwargs = [
        "--base-kwargs",
        json.dumps({"layers": lstm[0]}),
        "--raw-kwargs",
        json.dumps({"layers": lstm[1]}),
    ]
    emitted = run_cli("emit", *args, *kwargs, "-o", str(script))
    assert emitted.returncode == 0, emitted.stderr
    assert "base `0` (torch LSTM) has batch_first=False" in " ".join(
        emitted.stderr.split()
    )
    assert re.search(
        r"\("
        + re.escape('"0", "0", "init_rnn_torch_to_paddle"')
        + r"\),  # differs: torch batch_first=False, paddle time_major=False\n",
        script.read_text(),
    )
    inspected = run_cli("inspect", "--json", *args, *kwargs)
    data = json.loads(inspected.stdout)
    assert (
        data["pairs"][0]["differs"]
        == "torch batch_first=False, paddle time_major=False"
    )
    [row] = data["settings"]
    assert row["base"]["path"] == "0" and row["raw"]["path"] == "0"
    assert row["setting"] == "time-major input" and row["unit"] is True
    assert (row["base_value"], row["raw_value"]) == (
        "batch_first=False",
        "time_major=False",
    )
    assert "time_major=True" in row["fix"]

    dropout = _pair(TORCH_DROPOUT, PADDLE_DOWNSCALE)
    text = format_pairing(dropout)
    assert "differences outside the weights (1)" in text
    assert "raw `1` (paddle Dropout) has mode='downscale_in_infer'" in " ".join(
        text.split()
    )
    assert pairing_data(dropout)["settings"][0]["unit"] is False
    from padiff_gen.api import emit_text

    code = emit_text(
        TORCH_CHAIN,
        PADDLE_CHAIN,
        base_kwargs={"layers": TORCH_DROPOUT},
        raw_kwargs={"layers": PADDLE_DOWNSCALE},
    )
    section = code[code.index("# Settings that differ") : code.index("TENSOR_TABLE")]
    assert "raw `1`\n#   (paddle Dropout) has mode='downscale_in_infer'" in section
