"""Small torch/paddle model pairs, one per layer configuration, for tests/test_layers.py.

Generated scripts record their models as specs, so every pair is reached through two
factories that take the case name::

    torch:tests.layer_pairs.torch_model   {"case": "bn2d"}
    paddle:tests.layer_pairs.paddle_model {"case": "bn2d"}

A case's models compute the same function once their weights agree. Each case names the
directions that must copy faithfully; every other direction must be refused when the
script is made, with a message containing ``refusal``. Input specs are ``[dtype, shape]``
(or ``[dtype, shape, high]`` for integer tokens), as examples/compare.py takes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import paddle
import torch

TORCH_TO_PADDLE = "torch_to_paddle"
PADDLE_TO_TORCH = "paddle_to_torch"
BOTH = (TORCH_TO_PADDLE, PADDLE_TO_TORCH)


@dataclass(frozen=True)
class Case:
    """One layer configuration: how each framework builds it, and inputs that exercise it."""

    torch: Callable[[], torch.nn.Module]
    paddle: Callable[[], paddle.nn.Layer]
    inputs: tuple = ()
    select: Optional[int] = None  # compare only this output (attention weights differ)
    directions: tuple[str, ...] = BOTH  # the directions that copy faithfully
    refusal: str = ""  # part of the emit-time error for the other directions
    # A setting that is not a weight differs: emit copies and notes it, in both directions.
    differs: str = ""
    prepare: Optional[str] = None  # a function here, applied to the randomized base


def f32(*shape: int) -> tuple:
    return ("float32", shape)


def tokens(high: int, *shape: int) -> tuple:
    return ("int64", shape, high)


class PaddleSyncBatchNormOnCPU(paddle.nn.Layer):
    """A real paddle SyncBatchNorm, evaluated with batch_norm on its own tensors.

    paddle has no CPU kernel for sync_batch_norm; in eval mode it computes exactly
    batch_norm with the running statistics, so this checks the copied tensors on CPU.
    """

    def __init__(self, num_features: int, **kwargs) -> None:
        super().__init__()
        self.norm = paddle.nn.SyncBatchNorm(num_features, **kwargs)

    def forward(self, x):
        norm = self.norm
        return paddle.nn.functional.batch_norm(
            x,
            norm._mean,
            norm._variance,
            weight=norm.weight,
            bias=norm.bias,
            training=False,
            epsilon=norm._epsilon,
        )


class PaddleRNNByCells(paddle.nn.Layer):
    """A real one-layer paddle RNN, run cell by cell (paddle.nn.RNN over its cell).

    paddle 3.3 builds an RNN with bias_ih_attr=False, bias_hh_attr=False (fixed zero
    biases) but crashes running it with its fused kernel; the cell loop computes the same.
    """

    def __init__(self, rnn: paddle.nn.Layer) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return self.rnn[0](x)  # (outputs, final states without the layer axis)


def _seq_torch(*layers: torch.nn.Module) -> torch.nn.Module:
    return torch.nn.Sequential(*layers)


def _seq_paddle(*layers: paddle.nn.Layer) -> paddle.nn.Layer:
    return paddle.nn.Sequential(*layers)


# ---------------------------------------------------------------- prepare functions
# Random weights go everywhere, also where a real model keeps a fixed value; these put the
# fixed values back, as a trained model has them.


def zero_padding_rows(model) -> None:
    """torch keeps an Embedding's padding_idx row at zero unless it is set by hand."""
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            for layer in model.modules():
                if (
                    isinstance(layer, torch.nn.Embedding)
                    and layer.padding_idx is not None
                ):
                    layer.weight[layer.padding_idx] = 0.0


def reset_fixed_tensors(model) -> None:
    """paddle layers built with weight_attr/bias_attr=False keep fixed tensors: scale 1 and
    shift 0 (SyncBatchNorm), zero biases (RNN cells)."""
    if not isinstance(model, paddle.nn.Layer):
        return
    for layer in model.sublayers(include_self=True):
        if isinstance(layer, paddle.nn.SyncBatchNorm) and layer._weight_attr is False:
            layer.weight.set_value(paddle.ones_like(layer.weight))
            layer.bias.set_value(paddle.zeros_like(layer.bias))
        for name in ("bias_ih", "bias_hh"):
            bias = getattr(layer, name, None)
            if bias is not None and bias.stop_gradient:
                bias.set_value(paddle.zeros_like(bias))


tnn, pnn = torch.nn, paddle.nn

# Attention and Transformer sizes, kept small: embed 16, 4 heads.
E, HEADS, FF = 16, 4, 32


def _torch_transformer_kwargs(**extra):
    return dict(dropout=0.0, batch_first=True, **extra)


CASES: dict[str, Case] = {
    # ------------------------------------------------------------ BatchNorm
    "bn1d": Case(
        lambda: tnn.BatchNorm1d(6), lambda: pnn.BatchNorm1D(6), (f32(4, 6, 5),)
    ),
    "bn1d_flat_input": Case(
        lambda: tnn.BatchNorm1d(6), lambda: pnn.BatchNorm1D(6), (f32(4, 6),)
    ),
    "bn2d": Case(
        lambda: tnn.BatchNorm2d(6), lambda: pnn.BatchNorm2D(6), (f32(2, 6, 4, 4),)
    ),
    "bn3d": Case(
        lambda: tnn.BatchNorm3d(6), lambda: pnn.BatchNorm3D(6), (f32(2, 6, 3, 4, 4),)
    ),
    "bn2d_paddle_legacy_class": Case(
        lambda: tnn.BatchNorm2d(6), lambda: pnn.BatchNorm(6), (f32(2, 6, 4, 4),)
    ),
    "bn2d_no_affine": Case(
        lambda: tnn.BatchNorm2d(6, affine=False),
        lambda: pnn.BatchNorm2D(6, weight_attr=False, bias_attr=False),
        (f32(2, 6, 4, 4),),
    ),
    "bn2d_paddle_legacy_class_no_affine": Case(
        lambda: tnn.BatchNorm2d(6, affine=False),
        lambda: pnn.BatchNorm(6, param_attr=False, bias_attr=False),
        (f32(2, 6, 4, 4),),
    ),
    "bn2d_batch_stats": Case(
        lambda: tnn.BatchNorm2d(6, track_running_stats=False),
        lambda: pnn.BatchNorm2D(6, use_global_stats=False),
        (f32(2, 6, 4, 4),),
    ),
    "bn1d_no_affine_batch_stats": Case(
        lambda: tnn.BatchNorm1d(6, affine=False, track_running_stats=False),
        lambda: pnn.BatchNorm1D(
            6, weight_attr=False, bias_attr=False, use_global_stats=False
        ),
        (f32(4, 6, 5),),
    ),
    # torch's affine=False becomes paddle's learnable scale 1 and shift 0; the other way
    # paddle's learned values would be lost.
    "bn2d_torch_no_affine_paddle_affine": Case(
        lambda: tnn.BatchNorm2d(6, affine=False),
        lambda: pnn.BatchNorm2D(6),
        (f32(2, 6, 4, 4),),
        directions=(TORCH_TO_PADDLE,),
        refusal="paddle learns a weight but torch was built with affine=False",
    ),
    "bn2d_torch_affine_paddle_no_affine": Case(
        lambda: tnn.BatchNorm2d(6),
        lambda: pnn.BatchNorm2D(6, weight_attr=False, bias_attr=False),
        (f32(2, 6, 4, 4),),
        directions=(PADDLE_TO_TORCH,),
        refusal="torch learns a weight (affine=True) but paddle was built without one",
    ),
    "bn2d_stats_mismatch": Case(
        lambda: tnn.BatchNorm2d(6, track_running_stats=False),
        lambda: pnn.BatchNorm2D(6),
        directions=(),
        refusal="torch has track_running_stats=False (batch statistics in eval mode)",
    ),
    "bn2d_epsilon_mismatch": Case(
        lambda: tnn.BatchNorm2d(6, eps=1e-3),
        lambda: pnn.BatchNorm2D(6),
        (f32(2, 6, 4, 4),),
        directions=(),
        differs="torch eps=0.001, paddle epsilon=1e-05",
    ),
    "sync_bn": Case(
        lambda: tnn.SyncBatchNorm(6),
        lambda: PaddleSyncBatchNormOnCPU(6),
        (f32(2, 6, 4, 4),),
    ),
    # paddle keeps a fixed scale 1 and shift 0 when built without them.
    "sync_bn_no_affine": Case(
        lambda: tnn.SyncBatchNorm(6, affine=False),
        lambda: PaddleSyncBatchNormOnCPU(6, weight_attr=False, bias_attr=False),
        (f32(2, 6, 4, 4),),
        prepare="reset_fixed_tensors",
    ),
    "sync_bn_and_bn2d": Case(
        lambda: tnn.SyncBatchNorm(6), lambda: pnn.BatchNorm2D(6), (f32(2, 6, 4, 4),)
    ),
    # ------------------------------------------------------------ InstanceNorm
    # torch's default has no scale/shift; paddle's default learns them (set to 1 / 0).
    "in1d_defaults": Case(
        lambda: tnn.InstanceNorm1d(6),
        lambda: pnn.InstanceNorm1D(6),
        (f32(2, 6, 7),),
        directions=(TORCH_TO_PADDLE,),
        refusal="paddle learns a scale and shift (its default) but torch has affine=False",
    ),
    "in2d_defaults": Case(
        lambda: tnn.InstanceNorm2d(6),
        lambda: pnn.InstanceNorm2D(6),
        (f32(2, 6, 4, 5),),
        directions=(TORCH_TO_PADDLE,),
        refusal="paddle learns a scale and shift (its default) but torch has affine=False",
    ),
    "in3d_defaults": Case(
        lambda: tnn.InstanceNorm3d(6),
        lambda: pnn.InstanceNorm3D(6),
        (f32(2, 6, 3, 4, 4),),
        directions=(TORCH_TO_PADDLE,),
        refusal="paddle learns a scale and shift (its default) but torch has affine=False",
    ),
    "in1d_affine": Case(
        lambda: tnn.InstanceNorm1d(6, affine=True),
        lambda: pnn.InstanceNorm1D(6),
        (f32(2, 6, 7),),
    ),
    "in2d_affine": Case(
        lambda: tnn.InstanceNorm2d(6, affine=True),
        lambda: pnn.InstanceNorm2D(6),
        (f32(2, 6, 4, 5),),
    ),
    "in3d_affine": Case(
        lambda: tnn.InstanceNorm3d(6, affine=True),
        lambda: pnn.InstanceNorm3D(6),
        (f32(2, 6, 3, 4, 4),),
    ),
    "in2d_no_affine": Case(
        lambda: _seq_torch(tnn.Conv2d(3, 6, 1), tnn.InstanceNorm2d(6)),
        lambda: _seq_paddle(
            pnn.Conv2D(3, 6, 1),
            pnn.InstanceNorm2D(6, weight_attr=False, bias_attr=False),
        ),
        (f32(2, 3, 4, 5),),
    ),
    "in2d_torch_affine_paddle_no_affine": Case(
        lambda: tnn.InstanceNorm2d(6, affine=True),
        lambda: pnn.InstanceNorm2D(6, weight_attr=False, bias_attr=False),
        (f32(2, 6, 4, 5),),
        directions=(PADDLE_TO_TORCH,),
        refusal="torch learns a scale and shift (affine=True) but paddle was built without",
    ),
    "in2d_running_stats": Case(
        lambda: tnn.InstanceNorm2d(6, affine=True, track_running_stats=True),
        lambda: pnn.InstanceNorm2D(6),
        directions=(),
        refusal="torch has track_running_stats=True, so in eval mode it normalises with "
        "running statistics",
    ),
    # The same refusal for a layer deep inside a model: the message names its path.
    "in2d_running_stats_nested": Case(
        lambda: _seq_torch(
            _seq_torch(
                tnn.Conv2d(3, 6, 1),
                tnn.InstanceNorm2d(6, affine=True, track_running_stats=True),
            )
        ),
        lambda: _seq_paddle(_seq_paddle(pnn.Conv2D(3, 6, 1), pnn.InstanceNorm2D(6))),
        directions=(),
        refusal="torch has track_running_stats=True",
    ),
    # ------------------------------------------------------------ other norms
    "layer_norm": Case(
        lambda: tnn.LayerNorm(8), lambda: pnn.LayerNorm(8), (f32(3, 5, 8),)
    ),
    # paddle flattens the scale and shift of a LayerNorm over several dimensions.
    "layer_norm_over_2_dims": Case(
        lambda: tnn.LayerNorm([5, 8]), lambda: pnn.LayerNorm([5, 8]), (f32(3, 5, 8),)
    ),
    "layer_norm_no_bias": Case(
        lambda: tnn.LayerNorm(8, bias=False),
        lambda: pnn.LayerNorm(8, bias_attr=False),
        (f32(3, 5, 8),),
    ),
    "layer_norm_no_affine": Case(
        lambda: _seq_torch(
            tnn.Linear(6, 8), tnn.LayerNorm(8, elementwise_affine=False)
        ),
        lambda: _seq_paddle(
            pnn.Linear(6, 8), pnn.LayerNorm(8, weight_attr=False, bias_attr=False)
        ),
        (f32(3, 6),),
    ),
    "group_norm": Case(
        lambda: tnn.GroupNorm(3, 6), lambda: pnn.GroupNorm(3, 6), (f32(2, 6, 4, 4),)
    ),
    "group_norm_no_affine": Case(
        lambda: _seq_torch(tnn.Conv2d(2, 6, 1), tnn.GroupNorm(2, 6, affine=False)),
        lambda: _seq_paddle(
            pnn.Conv2D(2, 6, 1), pnn.GroupNorm(2, 6, weight_attr=False, bias_attr=False)
        ),
        (f32(2, 2, 4, 4),),
    ),
    # ------------------------------------------------------------ activations, lookups
    "prelu_shared": Case(lambda: tnn.PReLU(), lambda: pnn.PReLU(), (f32(2, 6, 4),)),
    "prelu_per_channel": Case(
        lambda: tnn.PReLU(6), lambda: pnn.PReLU(6), (f32(2, 6, 4, 4),)
    ),
    # [20, 8] is never transposed, though it has the shape of a Linear weight.
    "embedding": Case(
        lambda: _seq_torch(tnn.Embedding(20, 8), tnn.Linear(8, 3)),
        lambda: _seq_paddle(pnn.Embedding(20, 8), pnn.Linear(8, 3)),
        (tokens(20, 3, 7),),
    ),
    # paddle outputs zeros at padding_idx; torch outputs the row, which it keeps at zero.
    "embedding_padding_idx": Case(
        lambda: _seq_torch(tnn.Embedding(20, 8, padding_idx=0), tnn.Linear(8, 3)),
        lambda: _seq_paddle(pnn.Embedding(20, 8, padding_idx=0), pnn.Linear(8, 3)),
        (tokens(20, 3, 7),),
        prepare="zero_padding_rows",
    ),
    # torch's padding_idx changes only training: paddle without one looks the row up too.
    "embedding_torch_padding_idx_paddle_none": Case(
        lambda: _seq_torch(tnn.Embedding(20, 8, padding_idx=0), tnn.Linear(8, 3)),
        lambda: _seq_paddle(pnn.Embedding(20, 8), pnn.Linear(8, 3)),
        (tokens(20, 3, 7),),
    ),
    # paddle outputs zeros at a padding_idx torch does not have: torch -> paddle would
    # turn a row torch looks up into zeros.
    "embedding_padding_idx_only_in_paddle": Case(
        lambda: _seq_torch(tnn.Embedding(20, 8), tnn.Linear(8, 3)),
        lambda: _seq_paddle(pnn.Embedding(20, 8, padding_idx=0), pnn.Linear(8, 3)),
        (tokens(20, 3, 7),),
        directions=(PADDLE_TO_TORCH,),
        refusal="paddle outputs zeros for index 0 (its padding_idx)",
    ),
    # ------------------------------------------------------------ Linear, Bilinear
    "linear": Case(
        lambda: _seq_torch(tnn.Linear(6, 8), tnn.Tanh(), tnn.Linear(8, 8)),
        lambda: _seq_paddle(pnn.Linear(6, 8), pnn.Tanh(), pnn.Linear(8, 8)),
        (f32(4, 6),),
    ),
    "linear_no_bias": Case(
        lambda: _seq_torch(tnn.Linear(6, 8, bias=False), tnn.Linear(8, 3, bias=False)),
        lambda: _seq_paddle(
            pnn.Linear(6, 8, bias_attr=False), pnn.Linear(8, 3, bias_attr=False)
        ),
        (f32(4, 6),),
    ),
    # paddle's Bilinear bias is a row, [1, out]; torch's is [out].
    "bilinear": Case(
        lambda: tnn.Bilinear(5, 6, 7),
        lambda: pnn.Bilinear(5, 6, 7),
        (f32(4, 5), f32(4, 6)),
    ),
    "bilinear_no_bias": Case(
        lambda: tnn.Bilinear(5, 6, 7, bias=False),
        lambda: pnn.Bilinear(5, 6, 7, bias_attr=False),
        (f32(4, 5), f32(4, 6)),
    ),
    "bilinear_torch_no_bias_paddle_bias": Case(
        lambda: tnn.Bilinear(5, 6, 7, bias=False),
        lambda: pnn.Bilinear(5, 6, 7),
        (f32(4, 5), f32(4, 6)),
        directions=(TORCH_TO_PADDLE,),
        refusal="the base layer has a bias but the raw layer has none",
    ),
    # ------------------------------------------------------------ convolutions
    "conv1d": Case(
        lambda: tnn.Conv1d(4, 6, 3, padding=2, dilation=2, groups=2),
        lambda: pnn.Conv1D(4, 6, 3, padding=2, dilation=2, groups=2),
        (f32(2, 4, 9),),
    ),
    "conv2d": Case(
        lambda: tnn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2, bias=False),
        lambda: pnn.Conv2D(4, 6, 3, stride=2, padding=1, groups=2, bias_attr=False),
        (f32(2, 4, 7, 7),),
    ),
    "conv2d_dilated": Case(
        lambda: tnn.Conv2d(3, 4, (3, 2), padding=(2, 1), dilation=(2, 1)),
        lambda: pnn.Conv2D(3, 4, (3, 2), padding=(2, 1), dilation=(2, 1)),
        (f32(2, 3, 6, 6),),
    ),
    "conv2d_depthwise": Case(
        lambda: tnn.Conv2d(4, 8, 3, padding=1, groups=4),
        lambda: pnn.Conv2D(4, 8, 3, padding=1, groups=4),
        (f32(2, 4, 5, 5),),
    ),
    "conv3d": Case(
        lambda: tnn.Conv3d(2, 4, 3, padding=2, dilation=2, groups=2),
        lambda: pnn.Conv3D(2, 4, 3, padding=2, dilation=2, groups=2),
        (f32(2, 2, 4, 5, 5),),
    ),
    "conv_transpose1d": Case(
        lambda: tnn.ConvTranspose1d(4, 6, 3, stride=2, groups=2, dilation=2),
        lambda: pnn.Conv1DTranspose(4, 6, 3, stride=2, groups=2, dilation=2),
        (f32(2, 4, 5),),
    ),
    "conv_transpose2d": Case(
        lambda: tnn.ConvTranspose2d(
            4, 6, 3, stride=2, padding=1, output_padding=1, groups=2
        ),
        lambda: pnn.Conv2DTranspose(
            4, 6, 3, stride=2, padding=1, output_padding=1, groups=2
        ),
        (f32(2, 4, 4, 4),),
    ),
    "conv_transpose2d_dilated_no_bias": Case(
        lambda: tnn.ConvTranspose2d(3, 5, (2, 3), dilation=(2, 1), bias=False),
        lambda: pnn.Conv2DTranspose(3, 5, (2, 3), dilation=(2, 1), bias_attr=False),
        (f32(2, 3, 4, 4),),
    ),
    "conv_transpose3d": Case(
        lambda: tnn.ConvTranspose3d(4, 2, 3, stride=2, groups=2, dilation=2),
        lambda: pnn.Conv3DTranspose(4, 2, 3, stride=2, groups=2, dilation=2),
        (f32(2, 4, 3, 3, 3),),
    ),
    # ------------------------------------------------------------ recurrent layers
    "lstm": Case(
        lambda: tnn.LSTM(5, 6, batch_first=True),
        lambda: pnn.LSTM(5, 6),
        (f32(3, 7, 5),),
    ),
    "lstm_2_layers_bidirectional": Case(
        lambda: tnn.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True),
        lambda: pnn.LSTM(5, 6, num_layers=2, direction="bidirect"),
        (f32(3, 7, 5),),
    ),
    "lstm_3_layers_time_major": Case(
        lambda: tnn.LSTM(5, 6, num_layers=3),
        lambda: pnn.LSTM(5, 6, num_layers=3, time_major=True),
        (f32(7, 3, 5),),
    ),
    # paddle builds a bias-free RNN with fixed zero biases, only with one layer, one
    # direction; it must run cell by cell.
    "lstm_no_bias": Case(
        lambda: tnn.LSTM(5, 6, bias=False, batch_first=True),
        lambda: PaddleRNNByCells(
            pnn.LSTM(5, 6, bias_ih_attr=False, bias_hh_attr=False)
        ),
        (f32(3, 7, 5),),
        select=0,
        prepare="reset_fixed_tensors",
    ),
    "gru_no_bias": Case(
        lambda: tnn.GRU(5, 6, bias=False, batch_first=True),
        lambda: PaddleRNNByCells(pnn.GRU(5, 6, bias_ih_attr=False, bias_hh_attr=False)),
        (f32(3, 7, 5),),
        select=0,
        prepare="reset_fixed_tensors",
    ),
    "rnn_no_bias": Case(
        lambda: tnn.RNN(5, 6, bias=False, batch_first=True),
        lambda: PaddleRNNByCells(
            pnn.SimpleRNN(5, 6, bias_ih_attr=False, bias_hh_attr=False)
        ),
        (f32(3, 7, 5),),
        select=0,
        prepare="reset_fixed_tensors",
    ),
    # paddle cannot build a bias-free RNN of several layers or directions: torch's
    # bias=False becomes zero biases.
    "lstm_no_bias_paddle_biases_2_layers_bidirectional": Case(
        lambda: tnn.LSTM(5, 6, num_layers=2, bidirectional=True, bias=False),
        lambda: pnn.LSTM(5, 6, num_layers=2, direction="bidirect", time_major=True),
        (f32(7, 3, 5),),
        directions=(TORCH_TO_PADDLE,),
        refusal="the base layer learns biases but the raw layer was built without them",
    ),
    "lstm_projection_2_layers": Case(
        lambda: tnn.LSTM(5, 6, num_layers=2, proj_size=3, batch_first=True),
        lambda: pnn.LSTM(5, 6, num_layers=2, proj_size=3),
        (f32(3, 7, 5),),
    ),
    "lstm_projection_bidirectional": Case(
        lambda: tnn.LSTM(5, 6, proj_size=3, bidirectional=True, batch_first=True),
        lambda: pnn.LSTM(5, 6, proj_size=3, direction="bidirect"),
        (f32(3, 7, 5),),
    ),
    "lstm_hidden_size_mismatch": Case(
        lambda: tnn.LSTM(5, 6),
        lambda: pnn.LSTM(5, 7),
        directions=(),
        refusal="hidden_size is",
    ),
    "gru": Case(
        lambda: tnn.GRU(5, 6, batch_first=True), lambda: pnn.GRU(5, 6), (f32(3, 7, 5),)
    ),
    "gru_2_layers_bidirectional_time_major": Case(
        lambda: tnn.GRU(5, 6, num_layers=2, bidirectional=True),
        lambda: pnn.GRU(5, 6, num_layers=2, direction="bidirectional", time_major=True),
        (f32(7, 3, 5),),
    ),
    "gru_no_bias_paddle_biases": Case(
        lambda: tnn.GRU(5, 6, bias=False, batch_first=True),
        lambda: pnn.GRU(5, 6),
        (f32(3, 7, 5),),
        directions=(TORCH_TO_PADDLE,),
        refusal="the base layer learns biases but the raw layer was built without them",
    ),
    "rnn_tanh": Case(
        lambda: tnn.RNN(5, 6, batch_first=True),
        lambda: pnn.SimpleRNN(5, 6),
        (f32(3, 7, 5),),
    ),
    "rnn_relu_2_layers_bidirectional": Case(
        lambda: tnn.RNN(
            5,
            6,
            num_layers=2,
            nonlinearity="relu",
            bidirectional=True,
            batch_first=True,
        ),
        lambda: pnn.SimpleRNN(
            5, 6, num_layers=2, activation="relu", direction="bidirect"
        ),
        (f32(3, 7, 5),),
    ),
    "rnn_no_bias_paddle_biases_time_major": Case(
        lambda: tnn.RNN(5, 6, bias=False),
        lambda: pnn.SimpleRNN(5, 6, time_major=True),
        (f32(7, 3, 5),),
        directions=(TORCH_TO_PADDLE,),
        refusal="the base layer learns biases but the raw layer was built without them",
    ),
    "rnn_nonlinearity_mismatch": Case(
        lambda: tnn.RNN(5, 6, nonlinearity="tanh"),
        lambda: pnn.SimpleRNN(5, 6, activation="relu"),
        directions=(),
        refusal="mode is",
    ),
    # ------------------------------------------------------------ attention
    "attention": Case(
        lambda: tnn.MultiheadAttention(E, HEADS, batch_first=True),
        lambda: pnn.MultiHeadAttention(E, HEADS),
        (f32(2, 5, E),) * 3,
        select=0,
    ),
    "attention_no_bias": Case(
        lambda: tnn.MultiheadAttention(E, HEADS, bias=False, batch_first=True),
        lambda: pnn.MultiHeadAttention(E, HEADS, bias_attr=False),
        (f32(2, 5, E),) * 3,
        select=0,
    ),
    # torch keeps separate q/k/v projection weights when kdim or vdim differ from E.
    "attention_kdim_vdim": Case(
        lambda: tnn.MultiheadAttention(E, HEADS, kdim=6, vdim=10, batch_first=True),
        lambda: pnn.MultiHeadAttention(E, HEADS, kdim=6, vdim=10),
        (f32(2, 5, E), f32(2, 4, 6), f32(2, 4, 10)),
        select=0,
    ),
    "attention_kdim_vdim_no_bias": Case(
        lambda: tnn.MultiheadAttention(
            E, HEADS, kdim=6, vdim=10, bias=False, batch_first=True
        ),
        lambda: pnn.MultiHeadAttention(E, HEADS, kdim=6, vdim=10, bias_attr=False),
        (f32(2, 5, E), f32(2, 4, 6), f32(2, 4, 10)),
        select=0,
    ),
    "attention_add_bias_kv": Case(
        lambda: tnn.MultiheadAttention(E, HEADS, add_bias_kv=True, batch_first=True),
        lambda: pnn.MultiHeadAttention(E, HEADS),
        directions=(),
        refusal="torch's add_bias_kv=True has no paddle counterpart",
    ),
    "attention_add_zero_attn": Case(
        lambda: tnn.MultiheadAttention(E, HEADS, add_zero_attn=True, batch_first=True),
        lambda: pnn.MultiHeadAttention(E, HEADS),
        directions=(),
        refusal="torch's add_zero_attn=True has no paddle counterpart",
    ),
    # ------------------------------------------------------------ transformers
    "transformer": Case(
        lambda: tnn.Transformer(E, HEADS, 2, 2, FF, **_torch_transformer_kwargs()),
        lambda: pnn.Transformer(E, HEADS, 2, 2, FF, dropout=0.0),
        (f32(2, 5, E), f32(2, 4, E)),
    ),
    "transformer_norm_first_gelu": Case(
        lambda: tnn.Transformer(
            E,
            HEADS,
            1,
            2,
            FF,
            **_torch_transformer_kwargs(norm_first=True, activation="gelu"),
        ),
        lambda: pnn.Transformer(
            E, HEADS, 1, 2, FF, dropout=0.0, normalize_before=True, activation="gelu"
        ),
        (f32(2, 5, E), f32(2, 4, E)),
    ),
    "transformer_encoder": Case(
        lambda: tnn.TransformerEncoder(
            tnn.TransformerEncoderLayer(E, HEADS, FF, **_torch_transformer_kwargs()),
            2,
            norm=tnn.LayerNorm(E),
            enable_nested_tensor=False,
        ),
        lambda: pnn.TransformerEncoder(
            pnn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0), 2, pnn.LayerNorm(E)
        ),
        (f32(2, 5, E),),
    ),
    "transformer_encoder_layer": Case(
        lambda: tnn.TransformerEncoderLayer(
            E, HEADS, FF, **_torch_transformer_kwargs()
        ),
        lambda: pnn.TransformerEncoderLayer(E, HEADS, FF, dropout=0.0),
        (f32(2, 5, E),),
    ),
    "transformer_encoder_layer_norm_first": Case(
        lambda: tnn.TransformerEncoderLayer(
            E, HEADS, FF, **_torch_transformer_kwargs(norm_first=True)
        ),
        lambda: pnn.TransformerEncoderLayer(
            E, HEADS, FF, dropout=0.0, normalize_before=True
        ),
        (f32(2, 5, E),),
    ),
    "transformer_decoder": Case(
        lambda: tnn.TransformerDecoder(
            tnn.TransformerDecoderLayer(E, HEADS, FF, **_torch_transformer_kwargs()),
            2,
            norm=tnn.LayerNorm(E),
        ),
        lambda: pnn.TransformerDecoder(
            pnn.TransformerDecoderLayer(E, HEADS, FF, dropout=0.0), 2, pnn.LayerNorm(E)
        ),
        (f32(2, 4, E), f32(2, 5, E)),
    ),
    "transformer_decoder_layer": Case(
        lambda: tnn.TransformerDecoderLayer(
            E, HEADS, FF, **_torch_transformer_kwargs()
        ),
        lambda: pnn.TransformerDecoderLayer(E, HEADS, FF, dropout=0.0),
        (f32(2, 4, E), f32(2, 5, E)),
    ),
}


def torch_model(case: str) -> torch.nn.Module:
    return CASES[case].torch()


def paddle_model(case: str) -> paddle.nn.Layer:
    return CASES[case].paddle()
