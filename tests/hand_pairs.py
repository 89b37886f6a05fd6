"""Model pairs as porting engineers write them, for tests/test_real_hands.py.

- ``constant_index``: an integer index computed in the constructor (Swin's
  relative_position_index), kept in the state by paddle and not by torch
  (``persistent=False``), next to a float table the index reads;
- ``constant_index_both``: the same, kept by both;
- ``compat_attention``: torch's MultiheadAttention against
  ``paddle.compat.nn.MultiheadAttention`` (what torch->paddle code converters emit),
  which keeps torch's tensors: ``in_proj_weight`` [3E, E] and an ``out_proj`` child;
- ``tied_head_against_matmul``: a torch LM head tied to the embedding against paddle
  code that computes the logits with the embedding's weight (no head layer); and a
  paddle model that computes with it otherwise, as a negative control;
- ``tied_output_layer_initializer``: an output layer of its own class sharing the
  embedding's weight, with a bias of its own, copied by an initializer
  (tests/fixtures/init_tied_layer.py) that writes the bias: the weight is the table's;
- ``stages_in_another_order``: ConvNeXt's stages and downsampling layers, defined
  interleaved in torch (timm) and all downsampling layers first in paddle (PaddleClas),
  under other names: only the order a forward pass calls them pairs them;
- ``root_tensor``: a tensor the model holds itself, under other names, defined before
  or after the layer;
- ``missing_ffn2``: an encoder whose port lost one Linear (an Identity in its place);
- ``output_layer_initializer``: four Linear blocks and an output layer of its own class
  on the paddle side (``TiedOutput``, weight [vocab, hidden]), against a torch Linear
  head, with an initializer registered for (torch Linear, paddle TiedOutput) in
  tests/fixtures/init_tied_output.py: only the head pair is the initializer's;
- ``norm_shift_only``: a modulated norm whose torch LayerNorm holds neither scale nor
  shift and whose paddle one holds a shift alone (between Linear layers, so that a norm
  left out would shift every later pair); ``norm_scale_only``: a GroupNorm holding a
  scale alone in paddle against none in torch, between convs; ``norm_without_shift``:
  torch's LayerNorm(bias=False) against paddle's with both. The side that lacks a tensor
  computes with 1 / 0; ``zero_one_sided_tensors`` makes the base's one-sided tensors
  that value, as a trained model's would have to be for the copy to be exact;
- ``port_lost_norm``: the tagger of ``two_input_port`` with a GroupNorm, its port
  without it: the lost norm is named (in call order, past the fused projection);
- ``two_input_port``: a tagger whose forward takes token ids and a mask (no input
  padiff-gen can guess), ported with every layer renamed and defined in another order,
  the fused key/value projection split in two, the model's own tensors under other
  names in another order, and an integer step counter only torch keeps.

Reached through ``torch:tests.hand_pairs.torch_model {"case": ...}`` like the other
pairs modules.
"""

from __future__ import annotations

import paddle
import torch

from tests.layer_pairs import Case, f32, tokens

tnn, pnn = torch.nn, paddle.nn
WINDOW, HEADS, EMBED, VOCAB = 3, 2, 8, 10


def _relative_index(framework: str):
    """Swin's relative position index of a WINDOW x WINDOW window: [W*W, W*W] ints."""
    coords = [(i, j) for i in range(WINDOW) for j in range(WINDOW)]
    index = [
        [(a[0] - b[0] + WINDOW - 1) * (2 * WINDOW - 1) + (a[1] - b[1] + WINDOW - 1)]
        for a in coords
        for b in coords
    ]
    flat = [row[0] for row in index]
    if framework == "torch":
        return torch.tensor(flat).view(WINDOW * WINDOW, WINDOW * WINDOW)
    return paddle.to_tensor(flat).reshape([WINDOW * WINDOW, WINDOW * WINDOW])


class TorchRelativeBias(tnn.Module):
    """scores + table[index]: the table a weight, the index a constant."""

    def __init__(self, persistent: bool = False) -> None:
        super().__init__()
        self.proj = tnn.Linear(EMBED, EMBED)
        size = (2 * WINDOW - 1) ** 2
        self.relative_position_bias_table = tnn.Parameter(torch.zeros(size, HEADS))
        self.register_buffer(
            "relative_position_index", _relative_index("torch"), persistent=persistent
        )

    def forward(self, x):  # x [b, W*W, EMBED]
        q = self.proj(x)
        scores = q @ q.transpose(-1, -2)  # [b, W*W, W*W]
        index = self.relative_position_index.reshape(-1)
        bias = self.relative_position_bias_table[index].sum(-1)
        return scores + bias.reshape(WINDOW * WINDOW, WINDOW * WINDOW)


class PaddleRelativeBias(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.proj = pnn.Linear(EMBED, EMBED)
        size = (2 * WINDOW - 1) ** 2
        self.relative_position_bias_table = self.create_parameter([size, HEADS])
        self.register_buffer("relative_position_index", _relative_index("paddle"))

    def forward(self, x):
        q = self.proj(x)
        scores = paddle.matmul(q, q, transpose_y=True)
        index = self.relative_position_index.reshape([-1])
        bias = paddle.index_select(self.relative_position_bias_table, index).sum(-1)
        return scores + bias.reshape([WINDOW * WINDOW, WINDOW * WINDOW])


class TorchAttentionModel(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = tnn.MultiheadAttention(EMBED, HEADS, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


class PaddleCompatAttentionModel(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.attn = paddle.compat.nn.MultiheadAttention(EMBED, HEADS, batch_first=True)

    def forward(self, x):
        return self.attn(x, x, x)[0]


class TiedOutput(pnn.Layer):
    """An output layer of its own class: weight [vocab, hidden], y = h @ W.T + b."""

    def __init__(self, hidden: int, vocab: int) -> None:
        super().__init__()
        self.weight = self.create_parameter([vocab, hidden])
        self.bias = self.create_parameter([vocab], is_bias=True)

    def forward(self, h):
        return paddle.matmul(h, self.weight, transpose_y=True) + self.bias


class PaddleBlocksAndOutput(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = pnn.LayerList([pnn.Linear(EMBED, EMBED) for _ in range(4)])
        self.head = TiedOutput(EMBED, VOCAB)

    def forward(self, x):
        for block in self.blocks:
            x = paddle.tanh(block(x))
        return self.head(x)


class TorchBlocksAndHead(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = tnn.ModuleList([tnn.Linear(EMBED, EMBED) for _ in range(4)])
        self.head = tnn.Linear(EMBED, VOCAB)

    def forward(self, x):
        for block in self.blocks:
            x = torch.tanh(block(x))
        return self.head(x)


class TorchEncoder(tnn.Module):
    """Three blocks of ffn1, ffn2, norm."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = tnn.ModuleList(
            [
                tnn.ModuleDict(
                    {
                        "ffn1": tnn.Linear(EMBED, 2 * EMBED),
                        "ffn2": tnn.Linear(2 * EMBED, EMBED),
                        "norm": tnn.LayerNorm(EMBED),
                    }
                )
                for _ in range(3)
            ]
        )


class PaddleEncoderMissingFfn2(pnn.Layer):
    """The same, but block 1's ffn2 replaced by an Identity (a layer lost in a port)."""

    def __init__(self) -> None:
        super().__init__()
        blocks = []
        for index in range(3):
            ffn2 = pnn.Identity() if index == 1 else pnn.Linear(2 * EMBED, EMBED)
            blocks.append(
                pnn.LayerDict(
                    {
                        "ffn1": pnn.Linear(EMBED, 2 * EMBED),
                        "ffn2": ffn2,
                        "norm": pnn.LayerNorm(EMBED),
                    }
                )
            )
        self.encoder = pnn.LayerList(blocks)


class TorchTiedLM(tnn.Module):
    """embed -> proj -> lm_head, the head's weight the embedding's (one tensor)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = tnn.Embedding(VOCAB, EMBED)
        self.proj = tnn.Linear(EMBED, EMBED)
        self.lm_head = tnn.Linear(EMBED, VOCAB, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        return self.lm_head(torch.tanh(self.proj(self.embed(ids))))


class PaddleMatmulLM(pnn.Layer):
    """The style of many paddle LM ports: no head layer, the logits computed with the
    embedding's weight in forward code."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = pnn.Embedding(VOCAB, EMBED)
        self.proj = pnn.Linear(EMBED, EMBED)

    def forward(self, ids):
        hidden = paddle.tanh(self.proj(self.embed(ids)))
        return paddle.matmul(hidden, self.embed.weight, transpose_y=True)


class PaddleMatmulLMOtherwise(PaddleMatmulLM):
    """Negative control: it computes with the embedding's weight otherwise (doubled)."""

    def forward(self, ids):
        hidden = paddle.tanh(self.proj(self.embed(ids)))
        return paddle.matmul(hidden, self.embed.weight * 2.0, transpose_y=True)


class TorchTiedOutput(tnn.Module):
    """An output layer of its own class: the embedding's weight, a bias of its own."""

    def __init__(self, embed) -> None:
        super().__init__()
        self.weight = embed.weight
        self.bias = tnn.Parameter(torch.zeros(VOCAB))

    def forward(self, h):
        return h @ self.weight.T + self.bias


class PaddleTiedOutput(pnn.Layer):
    def __init__(self, embed) -> None:
        super().__init__()
        self.weight = embed.weight
        self.bias = self.create_parameter([VOCAB], is_bias=True)

    def forward(self, h):
        return paddle.matmul(h, self.weight, transpose_y=True) + self.bias


class TorchTiedOutputLM(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = tnn.Embedding(VOCAB, EMBED)
        self.proj = tnn.Linear(EMBED, EMBED)
        self.out = TorchTiedOutput(self.embed)

    def forward(self, ids):
        return self.out(torch.tanh(self.proj(self.embed(ids))))


class PaddleTiedOutputLM(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.embed = pnn.Embedding(VOCAB, EMBED)
        self.proj = pnn.Linear(EMBED, EMBED)
        self.out = PaddleTiedOutput(self.embed)

    def forward(self, ids):
        return self.out(paddle.tanh(self.proj(self.embed(ids))))


class TorchStagesInterleaved(tnn.Module):
    """timm's ConvNeXt order: each stage right after the layer downsampling into it."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = tnn.Conv2d(3, 4, 1)
        self.layer1 = tnn.Sequential(
            tnn.Conv2d(4, 4, 3, padding=1, groups=4), tnn.BatchNorm2d(4)
        )
        self.down1 = tnn.Conv2d(4, 8, 2, stride=2)
        self.layer2 = tnn.Sequential(
            tnn.Conv2d(8, 8, 3, padding=1, groups=8), tnn.BatchNorm2d(8)
        )
        self.down2 = tnn.Conv2d(8, 16, 2, stride=2)
        self.layer3 = tnn.Sequential(
            tnn.Conv2d(16, 16, 3, padding=1, groups=16), tnn.BatchNorm2d(16)
        )
        self.fc = tnn.Linear(16, 5)

    def forward(self, x):
        x = self.stem(x)
        x = self.down1(torch.relu(self.layer1(x)))
        x = self.down2(torch.relu(self.layer2(x)))
        x = torch.relu(self.layer3(x))
        return self.fc(x.mean((2, 3)))


class PaddleDownsamplesFirst(pnn.Layer):
    """PaddleClas' ConvNeXt order: all downsampling layers, then all stages, other
    names; the forward interleaves them as the torch one does."""

    def __init__(self) -> None:
        super().__init__()
        self.downsample_layers = pnn.LayerList(
            [
                pnn.Conv2D(3, 4, 1),
                pnn.Conv2D(4, 8, 2, stride=2),
                pnn.Conv2D(8, 16, 2, stride=2),
            ]
        )
        self.stages = pnn.LayerList(
            [
                pnn.Sequential(
                    pnn.Conv2D(c, c, 3, padding=1, groups=c), pnn.BatchNorm2D(c)
                )
                for c in (4, 8, 16)
            ]
        )
        self.head = pnn.Linear(16, 5)

    def forward(self, x):
        for index in range(3):
            x = self.downsample_layers[index](x)
            x = paddle.nn.functional.relu(self.stages[index](x))
        return self.head(x.mean((2, 3)))


class TorchRootBias(tnn.Module):
    """A tensor the model holds itself, defined after the layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = tnn.Linear(EMBED, EMBED)
        self.out_bias = tnn.Parameter(torch.zeros(EMBED))

    def forward(self, x):
        return self.fc(x) + self.out_bias


class PaddleRootBias(pnn.Layer):
    """The same tensor defined before the layer, under another name."""

    def __init__(self) -> None:
        super().__init__()
        self.shift = self.create_parameter([EMBED], is_bias=True)
        self.fc = pnn.Linear(EMBED, EMBED)

    def forward(self, x):
        return self.fc(x) + self.shift


class TorchModulatedNorm(tnn.Module):
    """x -> Linear -> LayerNorm without scale or shift, modulated -> GroupNorm block."""

    def __init__(self, norm_bias: bool = True) -> None:
        super().__init__()
        self.embed = tnn.Linear(EMBED, EMBED)
        self.modulation = tnn.Linear(EMBED, 2 * EMBED)
        self.norm = tnn.LayerNorm(EMBED, elementwise_affine=False)
        self.proj = tnn.LayerNorm(EMBED, bias=norm_bias)
        self.out = tnn.Linear(EMBED, EMBED)

    def forward(self, x):
        h = self.embed(x)
        scale, shift = self.modulation(h).chunk(2, dim=-1)
        h = self.norm(h) * (1 + scale) + shift
        return self.out(self.proj(h))


class PaddleModulatedNorm(pnn.Layer):
    """The same with a LayerNorm holding a shift alone, as ppdiffusers builds it."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = pnn.Linear(EMBED, EMBED)
        self.modulation = pnn.Linear(EMBED, 2 * EMBED)
        self.norm = pnn.LayerNorm(EMBED, weight_attr=False)
        self.proj = pnn.LayerNorm(EMBED)
        self.out = pnn.Linear(EMBED, EMBED)

    def forward(self, x):
        h = self.embed(x)
        scale, shift = self.modulation(h).chunk(2, axis=-1)
        h = self.norm(h) * (1 + scale) + shift
        return self.out(self.proj(h))


class TorchConvGroupNorm(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = tnn.Conv2d(3, 8, 3, padding=1)
        self.norm = tnn.GroupNorm(2, 8, affine=False)
        self.conv2 = tnn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.conv2(self.norm(self.conv1(x)))


class PaddleConvGroupNorm(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = pnn.Conv2D(3, 8, 3, padding=1)
        self.norm = pnn.GroupNorm(2, 8, bias_attr=False)
        self.conv2 = pnn.Conv2D(8, 4, 1)

    def forward(self, x):
        return self.conv2(self.norm(self.conv1(x)))


class PaddleModulatedNormBothAffine(PaddleModulatedNorm):
    """Neither scale nor shift in the modulated norm; both in the last one."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = pnn.LayerNorm(EMBED, weight_attr=False, bias_attr=False)


class TorchGate(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.kv = tnn.Linear(EMBED, 2 * EMBED)  # key, then value

    def forward(self, h):
        key, value = self.kv(h).chunk(2, dim=-1)
        return value * torch.sigmoid(key)


class PaddleGate(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.value = pnn.Linear(EMBED, EMBED)
        self.key = pnn.Linear(EMBED, EMBED)

    def forward(self, h):
        return self.value(h) * paddle.nn.functional.sigmoid(self.key(h))


class TorchTwoInputTagger(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = tnn.Embedding(VOCAB, EMBED)
        self.conv = tnn.Conv1d(EMBED, EMBED, 3, padding=1)
        self.norm = tnn.BatchNorm1d(EMBED)
        self.cls_token = tnn.Parameter(torch.zeros(1, 1, EMBED))
        self.gate = TorchGate()
        self.scale = tnn.Parameter(torch.ones(EMBED))
        self.head = tnn.Linear(EMBED, 3)
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def forward(self, tokens, mask):
        h = self.tok(tokens) * mask[..., None]
        h = torch.relu(self.norm(self.conv(h.transpose(1, 2)))).transpose(1, 2)
        h = torch.cat([self.cls_token.expand(h.shape[0], 1, EMBED), h], dim=1)
        h = self.gate(h) * self.scale
        return self.head(h.mean(dim=1))


class PaddleTwoInputTagger(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.classifier = pnn.Linear(EMBED, 3)
        self.gain = self.create_parameter([EMBED])
        self.gating = PaddleGate()
        self.summary = self.create_parameter([1, 1, EMBED])
        self.bn = pnn.BatchNorm1D(EMBED)
        self.mixer = pnn.Conv1D(EMBED, EMBED, 3, padding=1)
        self.embed = pnn.Embedding(VOCAB, EMBED)

    def forward(self, tokens, mask):
        h = self.embed(tokens) * mask.unsqueeze(-1)
        h = paddle.nn.functional.relu(self.bn(self.mixer(h.transpose([0, 2, 1]))))
        h = h.transpose([0, 2, 1])
        h = paddle.concat([self.summary.expand([h.shape[0], 1, EMBED]), h], axis=1)
        h = self.gating(h) * self.gain
        return self.classifier(h.mean(axis=1))


class TorchGroupNormTagger(TorchTwoInputTagger):
    """The tagger with a GroupNorm after its conv (a norm's tensors are not counted
    when padiff-gen asks whether both models hold as many weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = tnn.GroupNorm(4, EMBED)


class PaddleTaggerWithoutNorm(pnn.Layer):
    """The port of TorchGroupNormTagger, renamed and reordered but for its gate, that
    lost the norm."""

    def __init__(self) -> None:
        super().__init__()
        self.classifier = pnn.Linear(EMBED, 3)
        self.gain = self.create_parameter([EMBED])
        self.gate = PaddleGate()
        self.summary = self.create_parameter([1, 1, EMBED])
        self.mixer = pnn.Conv1D(EMBED, EMBED, 3, padding=1)
        self.embed = pnn.Embedding(VOCAB, EMBED)

    def forward(self, tokens, mask):
        h = self.embed(tokens) * mask.unsqueeze(-1)
        h = paddle.nn.functional.relu(self.mixer(h.transpose([0, 2, 1])))
        h = h.transpose([0, 2, 1])
        h = paddle.concat([self.summary.expand([h.shape[0], 1, EMBED]), h], axis=1)
        h = self.gate(h) * self.gain
        return self.classifier(h.mean(axis=1))


def zero_one_sided_tensors(model) -> None:
    """Give the paddle tensors torch lacks the value torch computes with instead."""
    if isinstance(model, PaddleModulatedNormBothAffine):
        model.proj.bias.set_value(paddle.zeros([EMBED]))
    elif isinstance(model, PaddleModulatedNorm):
        model.norm.bias.set_value(paddle.zeros([EMBED]))
    elif isinstance(model, PaddleConvGroupNorm):
        model.norm.weight.set_value(paddle.ones([8]))


CASES: dict[str, Case] = {
    "constant_index": Case(
        lambda: TorchRelativeBias(persistent=False),
        PaddleRelativeBias,
        (f32(2, WINDOW * WINDOW, EMBED),),
    ),
    "constant_index_both": Case(
        lambda: TorchRelativeBias(persistent=True),
        PaddleRelativeBias,
        (f32(2, WINDOW * WINDOW, EMBED),),
    ),
    "compat_attention": Case(
        TorchAttentionModel, PaddleCompatAttentionModel, (f32(2, 5, EMBED),)
    ),
    "tied_head_against_matmul": Case(
        TorchTiedLM, PaddleMatmulLM, (tokens(VOCAB, 2, 5),)
    ),
    "tied_head_against_other_matmul": Case(
        TorchTiedLM,
        PaddleMatmulLMOtherwise,
        directions=(),
        refusal="only holds a tied tensor",
    ),
    "tied_output_layer_initializer": Case(
        TorchTiedOutputLM, PaddleTiedOutputLM, (tokens(VOCAB, 2, 5),)
    ),
    "stages_in_another_order": Case(
        TorchStagesInterleaved, PaddleDownsamplesFirst, (f32(2, 3, 8, 8),)
    ),
    "root_tensor": Case(TorchRootBias, PaddleRootBias, (f32(2, 3, EMBED),)),
    "missing_ffn2": Case(
        TorchEncoder,
        PaddleEncoderMissingFfn2,
        directions=(),
        refusal="The raw model lacks base `encoder.1.ffn2`",
    ),
    "norm_shift_only": Case(
        TorchModulatedNorm,
        PaddleModulatedNorm,
        (f32(2, 3, EMBED),),
        prepare="zero_one_sided_tensors",
    ),
    "norm_scale_only": Case(
        TorchConvGroupNorm,
        PaddleConvGroupNorm,
        (f32(2, 3, 6, 6),),
        prepare="zero_one_sided_tensors",
    ),
    "norm_without_shift": Case(
        lambda: TorchModulatedNorm(norm_bias=False),
        PaddleModulatedNormBothAffine,
        (f32(2, 3, EMBED),),
        prepare="zero_one_sided_tensors",
    ),
    "two_input_port": Case(
        TorchTwoInputTagger,
        PaddleTwoInputTagger,
        (tokens(VOCAB, 2, 5), f32(2, 5)),
    ),
    "port_lost_norm": Case(
        TorchGroupNormTagger,
        PaddleTaggerWithoutNorm,
        (tokens(VOCAB, 2, 5), f32(2, 5)),
        directions=(),
        refusal="lacks",
    ),
    "output_layer_initializer": Case(
        TorchBlocksAndHead,
        PaddleBlocksAndOutput,
        (f32(2, 3, EMBED),),
        directions=("torch_to_paddle",),
    ),
}


def torch_model(case: str) -> torch.nn.Module:
    return CASES[case].torch()


def paddle_model(case: str) -> paddle.nn.Layer:
    return CASES[case].paddle()


__all__ = ["CASES", "torch_model", "paddle_model", "tokens"]
