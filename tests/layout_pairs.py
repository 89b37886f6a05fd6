"""Small torch/paddle model pairs with the layouts of real model libraries, for
tests/test_layouts.py.

Each class reproduces one layout that Hugging Face transformers (torch), PaddleFormers
(paddle) or a vision library uses, in a few lines and with real computation, so that a
wrong copy shows in the outputs:

- an LM head of its own class holding [vocab, hidden] (PaddleFormers' LMHead), GPT-2's
  Conv1D holding [in, out], square ones included (decided by a probe of the layer);
- q/k/v projections fused into one, one after the other (Hugging Face Phi3) or grouped
  per KV head (PaddleFormers), with GQA, with and without biases; gate/up fused in
  either order;
- MoE experts stacked into 3-D tensors (transformers 5) against a list of per-expert
  MLPs, fused gate/up (Qwen-MoE in PaddleFormers) or separate (DeepSeek-V3);
- layers defined in another order under other class names (Phi3 defines o_proj
  first; Phi3RMSNorm vs RMSNorm), the same tensors held in another order (GPT-OSS);
- an LM head tied to the embedding against an untied one;
- a library's BatchNorm subclass with a built-in activation; a classifier written as a
  conv over its whole feature map, or a 1x1 conv after global pooling;
- Embedding padding_idx combinations.

As in tests/layer_pairs.py, the generated scripts reach the models through two factories
taking the case name (``torch:tests.layout_pairs.torch_model {"case": ...}``).
"""

from __future__ import annotations

import math
import sys

import paddle
import torch

from tests.layer_pairs import (
    PADDLE_TO_TORCH,
    TORCH_TO_PADDLE,
    Case,
    f32,
    tokens,
)

tnn, pnn = torch.nn, paddle.nn
HIDDEN, HEADS, KV_HEADS, VOCAB = 16, 4, 2, 24


def _paddle_bias(bias: bool):
    return None if bias else False


# ---------------------------------------------------------------- LM heads, Conv1D


class PaddleLMHead(pnn.Layer):
    """PaddleFormers' LMHead: a weight [vocab, hidden] of its own class, y = x @ W.T."""

    def __init__(self, hidden: int, vocab: int) -> None:
        super().__init__()
        self.weight = self.create_parameter([vocab, hidden])

    def forward(self, x):
        return paddle.matmul(x, self.weight, transpose_y=True)


class TorchLMHead(tnn.Module):
    """The same in torch, of a class torch does not know: weight [vocab, hidden]."""

    def __init__(self, hidden: int, vocab: int) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.randn(vocab, hidden) * 0.1)

    def forward(self, x):
        return x @ self.weight.T


class TorchLM(tnn.Module):
    """embed -> proj -> lm_head; the head a torch Linear, or tied to the embedding."""

    def __init__(self, vocab=VOCAB, hidden=HIDDEN, tie=False, padding_idx=None) -> None:
        super().__init__()
        self.embed = tnn.Embedding(vocab, hidden, padding_idx=padding_idx)
        self.proj = tnn.Linear(hidden, hidden)
        self.lm_head = tnn.Linear(hidden, vocab, bias=False)
        if tie:
            self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        return self.lm_head(torch.tanh(self.proj(self.embed(ids))))


class PaddleLM(pnn.Layer):
    """embed -> proj -> lm_head: a paddle Linear, an LMHead, or one tied to the embedding."""

    def __init__(
        self, vocab=VOCAB, hidden=HIDDEN, head="lm_head", tie=False, padding_idx=None
    ) -> None:
        super().__init__()
        self.embed = pnn.Embedding(vocab, hidden, padding_idx=padding_idx)
        self.proj = pnn.Linear(hidden, hidden)
        if head == "linear":
            self.lm_head = pnn.Linear(hidden, vocab, bias_attr=False)
        else:
            self.lm_head = PaddleLMHead(hidden, vocab)
        if tie:
            self.lm_head.weight = self.embed.weight

    def forward(self, ids):
        return self.lm_head(paddle.tanh(self.proj(self.embed(ids))))


class Conv1D(tnn.Module):
    """Hugging Face GPT-2's Conv1D (transformers.pytorch_utils): weight [in, out],
    y = x @ W + b."""

    def __init__(self, nf: int, nx: int) -> None:
        super().__init__()
        self.nf = nf
        self.weight = tnn.Parameter(torch.empty(nx, nf))
        self.bias = tnn.Parameter(torch.zeros(nf))
        tnn.init.normal_(self.weight, std=0.02)

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


class TorchGPT2MLP(tnn.Module):
    """c_fc [in, 4h], c_proj [4h, in] and a square c_attn_proj [h, h], all Conv1D."""

    def __init__(self, hidden=HIDDEN) -> None:
        super().__init__()
        self.c_fc = Conv1D(4 * hidden, hidden)
        self.c_proj = Conv1D(hidden, 4 * hidden)
        self.c_square = Conv1D(hidden, hidden)

    def forward(self, x):
        return self.c_proj(torch.tanh(self.c_fc(x))) + self.c_square(x)


class PaddleGPT2MLP(pnn.Layer):
    def __init__(self, hidden=HIDDEN) -> None:
        super().__init__()
        self.c_fc = pnn.Linear(hidden, 4 * hidden)
        self.c_proj = pnn.Linear(4 * hidden, hidden)
        self.c_square = pnn.Linear(hidden, hidden)

    def forward(self, x):
        return self.c_proj(paddle.tanh(self.c_fc(x))) + self.c_square(x)


# ---------------------------------------------------------------- attention


def _attend(framework, q, k, v, heads, kv_heads, head_dim):
    """Scaled dot-product attention with GQA; q [b, s, heads, d], k/v [b, s, kv, d]."""
    groups = heads // kv_heads
    if framework == "torch":
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(head_dim), dim=-1)
        out = (weights @ v).transpose(1, 2)
        return out.reshape(out.shape[0], out.shape[1], heads * head_dim)
    q, k, v = (t.transpose([0, 2, 1, 3]) for t in (q, k, v))
    k = paddle.repeat_interleave(k, groups, axis=1)
    v = paddle.repeat_interleave(v, groups, axis=1)
    weights = paddle.nn.functional.softmax(
        paddle.matmul(q, k, transpose_y=True) / math.sqrt(head_dim), axis=-1
    )
    out = paddle.matmul(weights, v).transpose([0, 2, 1, 3])
    return out.reshape([out.shape[0], out.shape[1], heads * head_dim])


def _split_qkv(framework, mix, layout, heads, kv_heads, d):
    """q [b, s, heads, d], k, v [b, s, kv, d] from a fused projection's output."""
    b, s = mix.shape[0], mix.shape[1]
    groups = heads // kv_heads
    if layout == "grouped":  # PaddleFormers: per KV head [q of its group, k, v]
        mix = mix.reshape([b, s, kv_heads, (groups + 2) * d])
        sizes = [groups * d, d, d]
        axis = -1
    else:  # one after the other (Hugging Face Phi3)
        sizes = [heads * d, kv_heads * d, kv_heads * d]
        axis = -1
    if framework == "torch":
        q, k, v = torch.split(mix, sizes, dim=axis)
    else:
        q, k, v = paddle.split(mix, sizes, axis=axis)
    return (
        q.reshape([b, s, heads, d]),
        k.reshape([b, s, kv_heads, d]),
        v.reshape([b, s, kv_heads, d]),
    )


class TorchAttention(tnn.Module):
    """Separate q/k/v/o projections (Hugging Face Llama), or a fused qkv_proj laid out
    `fused` ("plain": Phi3; "grouped": per KV head). `o_first` defines o_proj first."""

    def __init__(
        self, fused=None, bias=True, heads=HEADS, kv_heads=KV_HEADS, o_first=False
    ):
        super().__init__()
        self.num_heads, self.num_key_value_heads = heads, kv_heads
        self.head_dim = d = HIDDEN // heads
        self.fused = fused
        if o_first:
            self.o_proj = tnn.Linear(heads * d, HIDDEN, bias=bias)
        if fused:
            self.qkv_proj = tnn.Linear(HIDDEN, (heads + 2 * kv_heads) * d, bias=bias)
        else:
            self.q_proj = tnn.Linear(HIDDEN, heads * d, bias=bias)
            self.k_proj = tnn.Linear(HIDDEN, kv_heads * d, bias=bias)
            self.v_proj = tnn.Linear(HIDDEN, kv_heads * d, bias=bias)
        if not o_first:
            self.o_proj = tnn.Linear(heads * d, HIDDEN, bias=bias)

    def forward(self, x):
        h, kv, d = self.num_heads, self.num_key_value_heads, self.head_dim
        b, s = x.shape[0], x.shape[1]
        if self.fused:
            q, k, v = _split_qkv("torch", self.qkv_proj(x), self.fused, h, kv, d)
        else:
            q = self.q_proj(x).reshape(b, s, h, d)
            k = self.k_proj(x).reshape(b, s, kv, d)
            v = self.v_proj(x).reshape(b, s, kv, d)
        return self.o_proj(_attend("torch", q, k, v, h, kv, d))


class PaddleAttention(pnn.Layer):
    """The paddle side of TorchAttention, with the same options."""

    def __init__(
        self, fused=None, bias=True, heads=HEADS, kv_heads=KV_HEADS, o_first=False
    ):
        super().__init__()
        self.num_heads, self.num_key_value_heads = heads, kv_heads
        self.head_dim = d = HIDDEN // heads
        self.fused = fused
        b = _paddle_bias(bias)
        if o_first:
            self.o_proj = pnn.Linear(heads * d, HIDDEN, bias_attr=b)
        if fused:
            self.qkv_proj = pnn.Linear(HIDDEN, (heads + 2 * kv_heads) * d, bias_attr=b)
        else:
            self.q_proj = pnn.Linear(HIDDEN, heads * d, bias_attr=b)
            self.k_proj = pnn.Linear(HIDDEN, kv_heads * d, bias_attr=b)
            self.v_proj = pnn.Linear(HIDDEN, kv_heads * d, bias_attr=b)
        if not o_first:
            self.o_proj = pnn.Linear(heads * d, HIDDEN, bias_attr=b)

    def forward(self, x):
        h, kv, d = self.num_heads, self.num_key_value_heads, self.head_dim
        b, s = x.shape[0], x.shape[1]
        if self.fused:
            q, k, v = _split_qkv("paddle", self.qkv_proj(x), self.fused, h, kv, d)
        else:
            q = self.q_proj(x).reshape([b, s, h, d])
            k = self.k_proj(x).reshape([b, s, kv, d])
            v = self.v_proj(x).reshape([b, s, kv, d])
        return self.o_proj(_attend("paddle", q, k, v, h, kv, d))


class PaddleCPUUnsupportedTanh(pnn.Layer):
    """tanh in a kernel the machine that runs emit lacks (PaddleFormers' MoE needs a GPU
    one): it raises where padiff-gen's layout probe is loaded, and computes tanh where
    the generated script runs alone (padiff_gen unimportable), as on the user's GPU."""

    def forward(self, x):
        if sys.modules.get("padiff_gen.analysis.evidence.layout_probe") is not None:
            raise RuntimeError("this kernel needs a GPU")
        return paddle.tanh(x)


class TorchPreAttention(tnn.Module):
    """pre -> tanh -> attention with separate q/k/v."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = tnn.Linear(HIDDEN, HIDDEN)
        self.attn = TorchAttention()

    def forward(self, x):
        return self.attn(torch.tanh(self.pre(x)))


class PaddleUnreachedAttention(pnn.Layer):
    """pre -> a tanh that cannot run during the probe -> attention with a grouped fused
    qkv_proj: the whole model never reaches the attention, so its layout is seen by
    running the attention alone on what the torch one received."""

    def __init__(self) -> None:
        super().__init__()
        self.pre = pnn.Linear(HIDDEN, HIDDEN)
        self.act = PaddleCPUUnsupportedTanh()
        self.attn = PaddleAttention(fused="grouped")

    def forward(self, x):
        return self.attn(self.act(self.pre(x)))


class TorchNormAttention(tnn.Module):
    """LayerNorm -> attention with separate q/k/v; see PaddleNormAttention."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = tnn.LayerNorm(HIDDEN)
        self.attn = TorchAttention()

    def forward(self, x):
        return self.attn(self.norm(x))


class PaddleNormAttention(pnn.Layer):
    """The same with a grouped fused qkv_proj, and forward code that doubles what the
    attention gets: no layout makes the models agree, but the attention run alone on
    what the torch one received does."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = pnn.LayerNorm(HIDDEN)
        self.attn = PaddleAttention(fused="grouped")

    def forward(self, x):
        return self.attn(2.0 * self.norm(x))


# ---------------------------------------------------------------- MLPs and experts

INTERMEDIATE, EXPERTS = 24, 3


class TorchMLP(tnn.Module):
    """gate/up/down (Llama): down(silu(gate(x)) * up(x)); or a fused gate_up_proj
    holding `fused` ("gate_up" or "up_gate") halves."""

    def __init__(self, fused=None, hidden=HIDDEN, inter=INTERMEDIATE) -> None:
        super().__init__()
        self.fused = fused
        if fused:
            self.gate_up_proj = tnn.Linear(hidden, 2 * inter, bias=False)
        else:
            self.gate_proj = tnn.Linear(hidden, inter, bias=False)
            self.up_proj = tnn.Linear(hidden, inter, bias=False)
        self.down_proj = tnn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        if self.fused:
            first, second = self.gate_up_proj(x).chunk(2, dim=-1)
            gate, up = (first, second) if self.fused == "gate_up" else (second, first)
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(torch.nn.functional.silu(gate) * up)


class PaddleMLP(pnn.Layer):
    """The paddle side; PaddleFormers calls its fused projection up_gate_proj."""

    def __init__(self, fused=None, hidden=HIDDEN, inter=INTERMEDIATE) -> None:
        super().__init__()
        self.fused = fused
        if fused:
            self.up_gate_proj = pnn.Linear(hidden, 2 * inter, bias_attr=False)
        else:
            self.gate_proj = pnn.Linear(hidden, inter, bias_attr=False)
            self.up_proj = pnn.Linear(hidden, inter, bias_attr=False)
        self.down_proj = pnn.Linear(inter, hidden, bias_attr=False)

    def forward(self, x):
        if self.fused:
            first, second = paddle.chunk(self.up_gate_proj(x), 2, axis=-1)
            gate, up = (first, second) if self.fused == "gate_up" else (second, first)
        else:
            gate, up = self.gate_proj(x), self.up_proj(x)
        return self.down_proj(paddle.nn.functional.silu(gate) * up)


class TorchStackedExperts(tnn.Module):
    """transformers 5's MoE experts: gate_up_proj [E, 2I, H] ([gate, up] halves),
    down_proj [E, H, I]; each expert computes F.linear with its slice."""

    def __init__(self, experts=EXPERTS, hidden=HIDDEN, inter=INTERMEDIATE) -> None:
        super().__init__()
        self.gate_up_proj = tnn.Parameter(torch.randn(experts, 2 * inter, hidden) * 0.1)
        self.down_proj = tnn.Parameter(torch.randn(experts, hidden, inter) * 0.1)

    def forward(self, x, weights):
        out = 0
        for e in range(self.gate_up_proj.shape[0]):
            gate, up = torch.nn.functional.linear(x, self.gate_up_proj[e]).chunk(2, -1)
            y = torch.nn.functional.linear(
                torch.nn.functional.silu(gate) * up, self.down_proj[e]
            )
            out = out + weights[..., e : e + 1] * y
        return out


class TorchMoE(tnn.Module):
    """A router (Linear [E, H]) weighting every expert: a dense mixture."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = tnn.Linear(HIDDEN, EXPERTS, bias=False)
        self.experts = TorchStackedExperts()

    def forward(self, x):
        return self.experts(x, torch.softmax(self.gate(x), dim=-1))


class PaddleMoE(pnn.Layer):
    """PaddleFormers' experts: a list of per-expert MLPs with Linear layers, gate/up
    fused ([gate, up], Qwen-MoE) or separate (DeepSeek-V3)."""

    def __init__(self, fused="gate_up") -> None:
        super().__init__()
        self.gate = pnn.Linear(HIDDEN, EXPERTS, bias_attr=False)
        self.experts = pnn.LayerList([PaddleMLP(fused) for _ in range(EXPERTS)])

    def forward(self, x):
        weights = paddle.nn.functional.softmax(self.gate(x), axis=-1)
        out = 0
        for e, expert in enumerate(self.experts):
            out = out + weights[..., e : e + 1] * expert(x)
        return out


class TorchExpertsGptOss(tnn.Module):
    """GPT-OSS's experts: gate_up_proj [E, H, 2I] with its bias, down_proj [E, I, H]
    with its bias, y = x @ W + b, gate and up interleaved ([..., ::2], [..., 1::2])."""

    def __init__(
        self, order=("gate_up_proj", "gate_up_proj_bias", "down_proj", "down_proj_bias")
    ):
        super().__init__()
        shapes = {
            "gate_up_proj": (EXPERTS, HIDDEN, 2 * INTERMEDIATE),
            "gate_up_proj_bias": (EXPERTS, 2 * INTERMEDIATE),
            "down_proj": (EXPERTS, INTERMEDIATE, HIDDEN),
            "down_proj_bias": (EXPERTS, HIDDEN),
        }
        for name in order:
            setattr(self, name, tnn.Parameter(torch.randn(shapes[name]) * 0.1))

    def forward(self, x):
        out = 0
        for e in range(EXPERTS):
            gate_up = x @ self.gate_up_proj[e] + self.gate_up_proj_bias[e]
            gate, up = gate_up[..., ::2], gate_up[..., 1::2]
            out = out + (torch.nn.functional.silu(gate) * up) @ self.down_proj[e]
            out = out + self.down_proj_bias[e]
        return out


class PaddleExpertsGptOss(pnn.Layer):
    """The same tensors, defined in another order (PaddleFormers' GPT-OSS)."""

    def __init__(
        self, order=("gate_up_proj", "down_proj", "gate_up_proj_bias", "down_proj_bias")
    ):
        super().__init__()
        shapes = {
            "gate_up_proj": [EXPERTS, HIDDEN, 2 * INTERMEDIATE],
            "gate_up_proj_bias": [EXPERTS, 2 * INTERMEDIATE],
            "down_proj": [EXPERTS, INTERMEDIATE, HIDDEN],
            "down_proj_bias": [EXPERTS, HIDDEN],
        }
        for name in order:
            setattr(self, name, self.create_parameter(shapes[name]))

    def forward(self, x):
        out = 0
        for e in range(EXPERTS):
            gate_up = paddle.matmul(x, self.gate_up_proj[e]) + self.gate_up_proj_bias[e]
            gate, up = gate_up[..., ::2], gate_up[..., 1::2]
            out = out + paddle.matmul(
                paddle.nn.functional.silu(gate) * up, self.down_proj[e]
            )
            out = out + self.down_proj_bias[e]
        return out


# ---------------------------------------------------------------- norms, blocks


class TorchPhiRMSNorm(tnn.Module):
    """A model-specific RMSNorm class (Phi3RMSNorm, LlamaRMSNorm...)."""

    def __init__(self, hidden=HIDDEN, eps=1e-6) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.ones(hidden))
        self.variance_epsilon = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * x * torch.rsqrt(variance + self.variance_epsilon)


class PaddleRMSNorm(pnn.Layer):
    """A shared RMSNorm class (PaddleFormers' Norm)."""

    def __init__(self, hidden=HIDDEN, eps=1e-6) -> None:
        super().__init__()
        self.weight = self.create_parameter(
            [hidden], default_initializer=pnn.initializer.Constant(1.0)
        )
        self.variance_epsilon = eps

    def forward(self, x):
        variance = x.pow(2).mean(-1, keepdim=True)
        return self.weight * x * paddle.rsqrt(variance + self.variance_epsilon)


class TorchBlock(tnn.Module):
    """norm -> attention -> norm -> mlp, with residuals (a decoder layer)."""

    def __init__(self, attention=None, mlp=None) -> None:
        super().__init__()
        self.input_layernorm = TorchPhiRMSNorm()
        self.self_attn = attention or TorchAttention()
        self.post_attention_layernorm = TorchPhiRMSNorm()
        self.mlp = mlp or TorchMLP()

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class PaddleBlock(pnn.Layer):
    def __init__(self, attention=None, mlp=None) -> None:
        super().__init__()
        self.input_layernorm = PaddleRMSNorm()
        self.self_attn = attention or PaddleAttention()
        self.post_attention_layernorm = PaddleRMSNorm()
        self.mlp = mlp or PaddleMLP()

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class TorchTinyLM(tnn.Module):
    """A Hugging Face-style causal LM: embedding (padding_idx=0), two decoder layers
    with separate projections, a final norm, an LM head tied to the embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = tnn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.layers = tnn.ModuleList([TorchBlock() for _ in range(2)])
        self.norm = TorchPhiRMSNorm()
        self.lm_head = tnn.Linear(HIDDEN, VOCAB, bias=False)
        self.lm_head.weight = self.embed_tokens.weight

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


class PaddleTinyLM(pnn.Layer):
    """The PaddleFormers-style side: no padding_idx, fused qkv grouped per KV head,
    fused up_gate, a shared RMSNorm class, an untied LMHead."""

    def __init__(self) -> None:
        super().__init__()
        self.embed_tokens = pnn.Embedding(VOCAB, HIDDEN)
        self.layers = pnn.LayerList(
            [
                PaddleBlock(PaddleAttention(fused="grouped"), PaddleMLP("gate_up"))
                for _ in range(2)
            ]
        )
        self.norm = PaddleRMSNorm()
        self.lm_head = PaddleLMHead(HIDDEN, VOCAB)

    def forward(self, ids):
        x = self.embed_tokens(ids)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


class TorchScaleShiftNorm(tnn.Module):
    """A norm of its own class: weight (scale) and bias (shift), in that order."""

    def __init__(self, hidden=HIDDEN) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.ones(hidden))
        self.bias = tnn.Parameter(torch.zeros(hidden))

    def forward(self, x):
        x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-5)
        return x * self.weight + self.bias


class PaddleGammaBetaNorm(pnn.Layer):
    """The same norm named the other way: beta (shift) defined before gamma (scale)."""

    def __init__(self, hidden=HIDDEN) -> None:
        super().__init__()
        self.beta = self.create_parameter([hidden], is_bias=True)
        self.gamma = self.create_parameter(
            [hidden], default_initializer=pnn.initializer.Constant(1.0)
        )

    def forward(self, x):
        x = (x - x.mean(-1, keepdim=True)) / (x.std(-1, keepdim=True) + 1e-5)
        return x * self.gamma + self.beta


class TorchStackedExpertsUpFirst(TorchStackedExperts):
    """Stacked experts whose gate_up_proj holds [up, gate] (the other order)."""

    def forward(self, x, weights):
        out = 0
        for e in range(self.gate_up_proj.shape[0]):
            up, gate = torch.nn.functional.linear(x, self.gate_up_proj[e]).chunk(2, -1)
            y = torch.nn.functional.linear(
                torch.nn.functional.silu(gate) * up, self.down_proj[e]
            )
            out = out + weights[..., e : e + 1] * y
        return out


class TorchMoEUpFirst(TorchMoE):
    def __init__(self) -> None:
        super().__init__()
        self.experts = TorchStackedExpertsUpFirst()


# ---------------------------------------------------------------- vision


class BatchNormAct2d(tnn.BatchNorm2d):
    """A library's BatchNorm with its activation built in (timm's BatchNormAct2d)."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def _torch_conv_bn_act():
    return tnn.Sequential(tnn.Conv2d(3, 8, 3, padding=1), BatchNormAct2d(8))


def _paddle_conv_bn_act():
    return pnn.Sequential(
        pnn.Conv2D(3, 8, 3, padding=1), pnn.BatchNorm2D(8), pnn.ReLU()
    )


class TorchConvHead(tnn.Module):
    """Features, then a classifier that is a conv over the whole 4 x 4 feature map."""

    def __init__(self, kernel=4) -> None:
        super().__init__()
        self.features = tnn.Conv2d(3, 6, 3, padding=1, stride=2)
        self.classifier = tnn.Conv2d(6, 5, kernel)

    def forward(self, x):
        return self.classifier(torch.tanh(self.features(x))).flatten(1)


class PaddleLinearHead(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.features = pnn.Conv2D(3, 6, 3, padding=1, stride=2)
        self.classifier = pnn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        return self.classifier(paddle.tanh(self.features(x)).flatten(1))


class TorchPooledConvHead(tnn.Module):
    """Global pooling, then a 1 x 1 conv as the classifier (SqueezeNet-like)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Conv2d(3, 6, 3, padding=1)
        self.classifier = tnn.Conv2d(6, 5, 1)

    def forward(self, x):
        pooled = torch.tanh(self.features(x)).mean((2, 3), keepdim=True)
        return self.classifier(pooled).flatten(1)


class PaddlePooledLinearHead(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.features = pnn.Conv2D(3, 6, 3, padding=1)
        self.classifier = pnn.Linear(6, 5)

    def forward(self, x):
        return self.classifier(paddle.tanh(self.features(x)).mean((2, 3)))


class TorchPaddleHeadSwapped(tnn.Module):
    """The other way round: torch has the Linear, paddle the conv (see PaddleConvHead)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = tnn.Conv2d(3, 6, 3, padding=1, stride=2)
        self.classifier = tnn.Linear(6 * 4 * 4, 5)

    def forward(self, x):
        return self.classifier(torch.tanh(self.features(x)).flatten(1))


class PaddleConvHead(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.features = pnn.Conv2D(3, 6, 3, padding=1, stride=2)
        self.classifier = pnn.Conv2D(6, 5, 4)

    def forward(self, x):
        return self.classifier(paddle.tanh(self.features(x))).flatten(1)


# ---------------------------------------------------------------- weight normalisation


def _torch_weight_norm(api: str, layer):
    if api == "parametrizations":
        return torch.nn.utils.parametrizations.weight_norm(layer)
    return torch.nn.utils.weight_norm(layer)


def _torch_weight_norm_convs(api: str):
    """Two weight-normed convs: torch keeps weight_g [out, 1, 1, 1] (or, with the
    parametrizations API, parametrizations.weight.original0 / original1)."""
    return tnn.Sequential(
        _torch_weight_norm(api, tnn.Conv2d(3, 6, 3, padding=1)),
        tnn.Tanh(),
        _torch_weight_norm(api, tnn.Conv2d(6, 4, 3)),
    )


def _paddle_weight_norm_convs():
    """paddle keeps weight_g [out] and weight_v."""
    norm = paddle.nn.utils.weight_norm
    return pnn.Sequential(
        norm(pnn.Conv2D(3, 6, 3, padding=1)), pnn.Tanh(), norm(pnn.Conv2D(6, 4, 3))
    )


def _torch_weight_norm_linear():
    return _torch_weight_norm("weight_norm", tnn.Linear(HIDDEN, 8))


def _paddle_weight_norm_linear():
    # paddle's Linear weight is [in, out]: its output features are along dim 1.
    return paddle.nn.utils.weight_norm(pnn.Linear(HIDDEN, 8), dim=1)


# ---------------------------------------------------------------- stacked matrices


class TorchStackedMatrices(tnn.Module):
    """Experts kept as one tensor per projection, [experts, out, in] (transformers 5's
    fused experts): every expert on every token, weighted by a softmax router."""

    def __init__(self, experts: int = 3, inner: int = 10) -> None:
        super().__init__()
        self.router = tnn.Linear(HIDDEN, experts, bias=False)
        self.gate_up = tnn.Parameter(torch.randn(experts, 2 * inner, HIDDEN) * 0.3)
        self.down = tnn.Parameter(torch.randn(experts, HIDDEN, inner) * 0.3)

    def forward(self, x):
        weights = torch.softmax(self.router(x), -1)  # [b, t, e]
        gate, up = torch.einsum("bth,eoh->ebto", x, self.gate_up).chunk(2, -1)
        out = torch.einsum(
            "ebti,ehi->ebth", torch.nn.functional.silu(gate) * up, self.down
        )
        return torch.einsum("ebth,bte->bth", out, weights)


class PaddleStackedMatrices(pnn.Layer):
    """The same experts kept [experts, in, out], as paddle keeps a Linear's weight."""

    def __init__(self, experts: int = 3, inner: int = 10) -> None:
        super().__init__()
        self.router = pnn.Linear(HIDDEN, experts, bias_attr=False)
        self.gate_up = self.create_parameter([experts, HIDDEN, 2 * inner])
        self.down = self.create_parameter([experts, inner, HIDDEN])

    def forward(self, x):
        weights = paddle.nn.functional.softmax(self.router(x), -1)
        gate, up = paddle.einsum("bth,eho->ebto", x, self.gate_up).chunk(2, -1)
        hidden = paddle.nn.functional.silu(gate) * up
        out = paddle.einsum("ebti,eih->ebth", hidden, self.down)
        return paddle.einsum("ebth,bte->bth", out, weights)


class TorchHeadMixer(tnn.Module):
    """Square stacks of 4 axes: per group and head, a [d, d] matrix applied as x @ W.T
    ([groups, heads, out, in]); shapes cannot say which way round either side holds
    them, so running the pair of layers decides."""

    def __init__(self, groups: int = 2, heads: int = 2) -> None:
        super().__init__()
        d = HIDDEN // heads
        self.heads = heads
        self.mix = tnn.Parameter(torch.randn(groups, heads, d, d) * 0.3)

    def forward(self, x):  # [b, t, hidden] -> [b, t, hidden], summed over groups
        b, t, _ = x.shape
        parts = x.reshape(b, t, self.heads, -1)
        return torch.einsum("bthi,ghoi->btho", parts, self.mix).reshape(b, t, -1)


class PaddleHeadMixer(pnn.Layer):
    """The same, holding each matrix [in, out] (``in_out``) or [out, in]."""

    def __init__(self, groups: int = 2, heads: int = 2, in_out: bool = True) -> None:
        super().__init__()
        d = HIDDEN // heads
        self.heads, self.in_out = heads, in_out
        self.mix = self.create_parameter([groups, heads, d, d])

    def forward(self, x):
        b, t, _ = x.shape
        parts = x.reshape([b, t, self.heads, -1])
        spec = "bthi,ghio->btho" if self.in_out else "bthi,ghoi->btho"
        return paddle.einsum(spec, parts, self.mix).reshape([b, t, -1])


class TorchTwoInputMixer(tnn.Module):
    """A model no input padiff-gen can guess runs (two tensors, one of a fixed size)."""

    def __init__(self) -> None:
        super().__init__()
        self.mixer = TorchHeadMixer()

    def forward(self, x, scale):
        return self.mixer(x.reshape(1, -1, HIDDEN)) * scale.sum()


class PaddleTwoInputMixer(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.mixer = PaddleHeadMixer()

    def forward(self, x, scale):
        return self.mixer(x.reshape([1, -1, HIDDEN])) * scale.sum()


def _torch_mixer_net():
    return tnn.Sequential(tnn.Linear(HIDDEN, HIDDEN), TorchHeadMixer(), tnn.Tanh())


def _paddle_mixer_net(in_out: bool = True):
    return pnn.Sequential(
        pnn.Linear(HIDDEN, HIDDEN), PaddleHeadMixer(in_out=in_out), pnn.Tanh()
    )


# ---------------------------------------------------------------- the cases


def _moe_input():
    return (f32(2, 3, HIDDEN),)


CASES: dict[str, Case] = {
    # [experts, out, in] against [experts, in, out]: the shapes say transpose.
    "stacked_matrices": Case(
        lambda: TorchStackedMatrices(),
        lambda: PaddleStackedMatrices(),
        (f32(2, 3, HIDDEN),),
    ),
    # square [groups, heads, d, d]: a run of the pair of layers says transpose ...
    "stacked_matrices_square": Case(
        _torch_mixer_net, _paddle_mixer_net, (f32(2, 3, HIDDEN),)
    ),
    # ... unless nothing can run it: a question, answered with --layout
    "stacked_matrices_square_unrunnable": Case(
        TorchTwoInputMixer,
        PaddleTwoInputMixer,
        (f32(3, HIDDEN), f32(2)),
        directions=(),
        refusal="hold square stacks of matrices ([..., n, n]) and are of no class",
    ),
    # ... or copy, where both hold them [out, in]
    "stacked_matrices_square_alike": Case(
        _torch_mixer_net, lambda: _paddle_mixer_net(False), (f32(2, 3, HIDDEN),)
    ),
    "lm_head_class": Case(
        lambda: TorchLM(), lambda: PaddleLM(), (tokens(VOCAB, 2, 5),)
    ),
    # vocab == hidden: shapes cannot tell, the LMHead is probed (y = x @ W.T).
    "lm_head_class_square": Case(
        lambda: TorchLM(vocab=HIDDEN),
        lambda: PaddleLM(vocab=HIDDEN),
        (tokens(HIDDEN, 2, 5),),
    ),
    "lm_head_torch_tied_paddle_untied": Case(
        lambda: TorchLM(tie=True),
        lambda: PaddleLM(head="lm_head"),
        (tokens(VOCAB, 2, 5),),
        directions=(TORCH_TO_PADDLE,),
        refusal="is tied to raw `embed.weight`",
    ),
    "lm_head_paddle_tied_torch_untied": Case(
        lambda: TorchLM(),
        lambda: PaddleLM(tie=True),
        (tokens(VOCAB, 2, 5),),
        directions=(PADDLE_TO_TORCH,),
        refusal="is tied to raw `embed.weight`",
    ),
    "lm_head_both_tied": Case(
        lambda: TorchLM(tie=True), lambda: PaddleLM(tie=True), (tokens(VOCAB, 2, 5),)
    ),
    # Tied in both, with a padding row: the head needs the row as it is, so the table
    # copies it (no Embedding initializer zeroing it); looking up the padding token then
    # differs (noted), so the inputs stay below it.
    "lm_head_both_tied_padding_row": Case(
        lambda: TorchLM(tie=True, padding_idx=VOCAB - 1),
        lambda: PaddleLM(tie=True, padding_idx=VOCAB - 1),
        (tokens(VOCAB - 1, 2, 5),),
    ),
    "qkv_grouped_unreached": Case(
        lambda: TorchPreAttention(),
        lambda: PaddleUnreachedAttention(),
        (f32(2, 5, HIDDEN),),
    ),
    "gpt2_conv1d": Case(
        lambda: TorchGPT2MLP(), lambda: PaddleGPT2MLP(), (f32(2, 3, HIDDEN),)
    ),
    "qkv_grouped_gqa": Case(
        lambda: TorchAttention(),
        lambda: PaddleAttention(fused="grouped"),
        (f32(2, 5, HIDDEN),),
    ),
    "qkv_grouped_mha_no_bias": Case(
        lambda: TorchAttention(bias=False, kv_heads=HEADS),
        lambda: PaddleAttention(fused="grouped", bias=False, kv_heads=HEADS),
        (f32(2, 5, HIDDEN),),
    ),
    "qkv_plain_torch_fused": Case(
        lambda: TorchAttention(fused="plain"),
        lambda: PaddleAttention(),
        (f32(2, 5, HIDDEN),),
    ),
    "qkv_fused_alike_defined_in_another_order": Case(
        lambda: TorchAttention(fused="plain", o_first=True),
        lambda: PaddleAttention(fused="plain"),
        (f32(2, 5, HIDDEN),),
    ),
    "gate_up_fused": Case(
        lambda: TorchMLP(), lambda: PaddleMLP("gate_up"), (f32(2, 3, HIDDEN),)
    ),
    "up_gate_fused": Case(
        lambda: TorchMLP(), lambda: PaddleMLP("up_gate"), (f32(2, 3, HIDDEN),)
    ),
    "gate_up_fused_torch_side": Case(
        lambda: TorchMLP("up_gate"), lambda: PaddleMLP(), (f32(2, 3, HIDDEN),)
    ),
    "stacked_experts_fused": Case(
        lambda: TorchMoE(), lambda: PaddleMoE("gate_up"), _moe_input()
    ),
    "stacked_experts_separate": Case(
        lambda: TorchMoE(), lambda: PaddleMoE(None), _moe_input()
    ),
    "experts_same_tensors_other_order": Case(
        lambda: TorchExpertsGptOss(), lambda: PaddleExpertsGptOss(), _moe_input()
    ),
    "block_other_order_other_norm_class": Case(
        lambda: TorchBlock(TorchAttention(fused="plain", o_first=True)),
        lambda: PaddleBlock(PaddleAttention(fused="plain")),
        (f32(2, 5, HIDDEN),),
    ),
    # Tied in torch, untied in paddle: paddle -> torch cannot make two tensors one.
    # weight/bias against beta/gamma, beta first: names do not match, shapes cannot
    # tell: running both models decides.
    "norm_other_tensor_names": Case(
        lambda: tnn.Sequential(tnn.Linear(HIDDEN, HIDDEN), TorchScaleShiftNorm()),
        lambda: pnn.Sequential(pnn.Linear(HIDDEN, HIDDEN), PaddleGammaBetaNorm()),
        (f32(2, 3, HIDDEN),),
    ),
    "tiny_lm": Case(
        lambda: TorchTinyLM(),
        lambda: PaddleTinyLM(),
        (tokens(VOCAB, 2, 6),),
        directions=(TORCH_TO_PADDLE,),
        refusal="is tied to raw `embed_tokens.weight`",
    ),
    "batchnorm_subclass": Case(
        _torch_conv_bn_act, _paddle_conv_bn_act, (f32(2, 3, 6, 6),)
    ),
    "conv_classifier_over_feature_map": Case(
        lambda: TorchConvHead(), lambda: PaddleLinearHead(), (f32(2, 3, 8, 8),)
    ),
    "conv_classifier_paddle_side": Case(
        lambda: TorchPaddleHeadSwapped(), lambda: PaddleConvHead(), (f32(2, 3, 8, 8),)
    ),
    "conv_1x1_classifier_after_pooling": Case(
        lambda: TorchPooledConvHead(),
        lambda: PaddlePooledLinearHead(),
        (f32(2, 3, 6, 6),),
    ),
    "weight_norm_convs": Case(
        lambda: _torch_weight_norm_convs("weight_norm"),
        _paddle_weight_norm_convs,
        (f32(2, 3, 6, 6),),
    ),
    "weight_norm_convs_parametrizations": Case(
        lambda: _torch_weight_norm_convs("parametrizations"),
        _paddle_weight_norm_convs,
        (f32(2, 3, 6, 6),),
    ),
    "weight_norm_linear": Case(
        _torch_weight_norm_linear, _paddle_weight_norm_linear, (f32(3, HIDDEN),)
    ),
    # A conv over channels against a Linear over the last axis: the shapes fit the
    # conv-as-Linear row, running both models shows they compute different functions.
    "conv1d_against_linear_on_another_axis": Case(
        lambda: tnn.Sequential(tnn.Conv1d(4, 4, 1)),
        lambda: pnn.Sequential(pnn.Linear(4, 4)),
        directions=(),
        refusal="correspond only conditionally",
    ),
    # torch's padding_idx changes gradients only; paddle's None looks the row up too.
    "embedding_torch_padding_paddle_none": Case(
        lambda: TorchLM(padding_idx=0),
        lambda: PaddleLM(padding_idx=None),
        (tokens(VOCAB, 2, 5),),
    ),
    # paddle outputs zeros at its padding_idx: torch's row must be set to zero (paddle ->
    # torch), and cannot be assumed zero when torch has no padding_idx (torch -> paddle).
    "embedding_torch_none_paddle_padding": Case(
        lambda: TorchLM(padding_idx=None),
        lambda: PaddleLM(padding_idx=0),
        (tokens(VOCAB, 2, 5),),
        directions=(PADDLE_TO_TORCH,),
        refusal="paddle outputs zeros for index 0",
    ),
}


# Pairs that pair by shapes but compute apart (fused parts in another order inside a
# stacked tensor): emit cannot see it in the shapes, and warns after running both.
UNSEEN = {
    "stacked_experts_other_gate_up_order": Case(
        lambda: TorchMoEUpFirst(), lambda: PaddleMoE("gate_up"), _moe_input()
    ),
}


def torch_model(case: str) -> torch.nn.Module:
    return {**CASES, **UNSEEN}[case].torch()


def paddle_model(case: str) -> paddle.nn.Layer:
    return {**CASES, **UNSEEN}[case].paddle()
