"""Model pairs for the benchmarks and the scale tests, defined alike in torch and paddle.

``TorchLlama`` / ``PaddleLlama``: a LLaMA-shaped decoder (token embedding, pre-norm blocks
with RMSNorm, rotary self-attention and a SwiGLU MLP, final norm, untied LM head). The
defaults are LLaMA-7B's shape: 32 layers, hidden 4096, intermediate 11008, vocabulary
32000, i.e. 6.7B parameters (27 GB per model in float32), so build it only without weights
(torch's meta device, paddle's LazyGuard) unless the size is scaled down by the keyword
arguments. Linear weights dominate, so copying torch -> paddle is mostly transposes.

``TorchTables`` / ``PaddleTables``: a stack of embedding tables, whose weights have the
same layout in both frameworks: copying them needs no transpose at all.

``TorchExperts`` / ``PaddleExperts``: MoE-shaped layers of many small experts (an up and
a down Linear each, with biases) and nothing else: a checkpoint of many tensors, e.g.
40 layers x 128 experts x 4 = 20,480 tensors (2.7 GB at width 256), for the cost of a
conversion per tensor.

``dtype`` builds every tensor in that dtype ("float32", "bfloat16", "float16", ...);
``tie_embeddings`` (torch only) makes the LM head share the embedding's weight.
"""

from __future__ import annotations

import contextlib
import math

import paddle
import torch

LLAMA_7B = dict(
    vocab_size=32000,
    hidden_size=4096,
    intermediate_size=11008,
    num_layers=32,
    num_heads=32,
)


def rotary_tables(positions: int, head_dim: int) -> tuple[list, list]:
    """cos/sin tables of rotary embeddings as nested lists, the same for both frameworks."""
    half = head_dim // 2
    frequencies = [10000.0 ** (-2.0 * i / head_dim) for i in range(half)]
    angles = [[p * f for f in frequencies] for p in range(positions)]
    cos = [[math.cos(a) for a in row] * 2 for row in angles]
    sin = [[math.sin(a) for a in row] * 2 for row in angles]
    return cos, sin


# ------------------------------------------------------------------ torch


class TorchRMSNorm(torch.nn.Module):
    def __init__(self, size: int, eps: float = 1e-6, dtype=None):
        super().__init__()
        self.eps = eps
        self.weight = torch.nn.Parameter(torch.ones(size, dtype=dtype))

    def forward(self, x):
        scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * scale * self.weight


def torch_rotate(x, cos, sin):
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat((-second, first), dim=-1) * sin


class TorchAttention(torch.nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, dtype=None):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        linear = dict(bias=False, dtype=dtype)
        self.q_proj = torch.nn.Linear(hidden_size, hidden_size, **linear)
        self.k_proj = torch.nn.Linear(hidden_size, hidden_size, **linear)
        self.v_proj = torch.nn.Linear(hidden_size, hidden_size, **linear)
        self.o_proj = torch.nn.Linear(hidden_size, hidden_size, **linear)

    def forward(self, x):
        batch, length, hidden = x.shape
        heads = lambda t: t.reshape(
            batch, length, self.num_heads, self.head_dim
        ).transpose(
            1, 2
        )  # noqa: E731
        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        cos, sin = (
            torch.tensor(t, dtype=x.dtype) for t in rotary_tables(length, self.head_dim)
        )
        q, k = torch_rotate(q, cos, sin), torch_rotate(k, cos, sin)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        mask = torch.full((length, length), float("-inf"), dtype=x.dtype).triu(1)
        out = torch.softmax(scores + mask, dim=-1) @ v
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, hidden))


class TorchFeedForward(torch.nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int, dtype=None):
        super().__init__()
        linear = dict(bias=False, dtype=dtype)
        self.gate_proj = torch.nn.Linear(hidden_size, intermediate_size, **linear)
        self.up_proj = torch.nn.Linear(hidden_size, intermediate_size, **linear)
        self.down_proj = torch.nn.Linear(intermediate_size, hidden_size, **linear)

    def forward(self, x):
        return self.down_proj(
            torch.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x)
        )


class TorchDecoderLayer(torch.nn.Module):
    def __init__(self, hidden_size, intermediate_size, num_heads, dtype=None):
        super().__init__()
        self.input_layernorm = TorchRMSNorm(hidden_size, dtype=dtype)
        self.self_attn = TorchAttention(hidden_size, num_heads, dtype=dtype)
        self.post_attention_layernorm = TorchRMSNorm(hidden_size, dtype=dtype)
        self.mlp = TorchFeedForward(hidden_size, intermediate_size, dtype=dtype)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class TorchLlama(torch.nn.Module):
    def __init__(
        self,
        vocab_size: int = LLAMA_7B["vocab_size"],
        hidden_size: int = LLAMA_7B["hidden_size"],
        intermediate_size: int = LLAMA_7B["intermediate_size"],
        num_layers: int = LLAMA_7B["num_layers"],
        num_heads: int = LLAMA_7B["num_heads"],
        dtype: str = "float32",
        tie_embeddings: bool = False,
    ):
        super().__init__()
        dtype = getattr(torch, dtype)
        self.embed_tokens = torch.nn.Embedding(vocab_size, hidden_size, dtype=dtype)
        self.layers = torch.nn.ModuleList(
            TorchDecoderLayer(hidden_size, intermediate_size, num_heads, dtype=dtype)
            for _ in range(num_layers)
        )
        self.norm = TorchRMSNorm(hidden_size, dtype=dtype)
        self.lm_head = torch.nn.Linear(hidden_size, vocab_size, bias=False, dtype=dtype)
        if tie_embeddings:  # one tensor under two names, as in many checkpoints
            self.lm_head.weight = self.embed_tokens.weight

    def forward(self, tokens):
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


class TorchTables(torch.nn.Module):
    """Embedding tables only: every weight is copied without a transpose."""

    def __init__(
        self, num_tables: int = 8, rows: int = 32000, dim: int = 4096, dtype="float32"
    ):
        super().__init__()
        dtype = getattr(torch, dtype)
        self.tables = torch.nn.ModuleList(
            torch.nn.Embedding(rows, dim, dtype=dtype) for _ in range(num_tables)
        )

    def forward(self, tokens):
        return sum(table(tokens) for table in self.tables)


class TorchExperts(torch.nn.Module):
    """layers x experts of (up, down) Linear width -> width, with biases."""

    def __init__(self, num_layers=40, num_experts=128, width=256, dtype="float32"):
        super().__init__()
        dtype = getattr(torch, dtype)
        self.layers = torch.nn.ModuleList(
            torch.nn.ModuleList(
                torch.nn.Sequential(
                    torch.nn.Linear(width, width, dtype=dtype),
                    torch.nn.Linear(width, width, dtype=dtype),
                )
                for _ in range(num_experts)
            )
            for _ in range(num_layers)
        )

    def forward(self, x):
        for experts in self.layers:
            x = sum(expert(x) for expert in experts) / len(experts)
        return x


# ------------------------------------------------------------------ paddle


@contextlib.contextmanager
def paddle_default_dtype(dtype: str):
    """paddle layers take their parameters' dtype from the global default."""
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype(dtype)
    try:
        yield
    finally:
        paddle.set_default_dtype(previous)


class PaddleRMSNorm(paddle.nn.Layer):
    def __init__(self, size: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = self.create_parameter(
            [size], default_initializer=paddle.nn.initializer.Constant(1.0)
        )

    def forward(self, x):
        scale = paddle.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return x * scale * self.weight


def paddle_rotate(x, cos, sin):
    first, second = x.chunk(2, axis=-1)
    return x * cos + paddle.concat((-second, first), axis=-1) * sin


class PaddleAttention(paddle.nn.Layer):
    def __init__(self, hidden_size: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = hidden_size // num_heads
        self.q_proj = paddle.nn.Linear(hidden_size, hidden_size, bias_attr=False)
        self.k_proj = paddle.nn.Linear(hidden_size, hidden_size, bias_attr=False)
        self.v_proj = paddle.nn.Linear(hidden_size, hidden_size, bias_attr=False)
        self.o_proj = paddle.nn.Linear(hidden_size, hidden_size, bias_attr=False)

    def forward(self, x):
        batch, length, hidden = x.shape
        heads = lambda t: t.reshape(
            [batch, length, self.num_heads, self.head_dim]
        ).transpose(
            [0, 2, 1, 3]
        )  # noqa: E731
        q, k, v = heads(self.q_proj(x)), heads(self.k_proj(x)), heads(self.v_proj(x))
        cos, sin = (
            paddle.to_tensor(t, dtype=x.dtype)
            for t in rotary_tables(length, self.head_dim)
        )
        q, k = paddle_rotate(q, cos, sin), paddle_rotate(k, cos, sin)
        scores = q @ k.transpose([0, 1, 3, 2]) / math.sqrt(self.head_dim)
        mask = paddle.triu(
            paddle.full([length, length], float("-inf"), dtype=x.dtype), 1
        )
        out = paddle.nn.functional.softmax(scores + mask, axis=-1) @ v
        return self.o_proj(out.transpose([0, 2, 1, 3]).reshape([batch, length, hidden]))


class PaddleFeedForward(paddle.nn.Layer):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.gate_proj = paddle.nn.Linear(
            hidden_size, intermediate_size, bias_attr=False
        )
        self.up_proj = paddle.nn.Linear(hidden_size, intermediate_size, bias_attr=False)
        self.down_proj = paddle.nn.Linear(
            intermediate_size, hidden_size, bias_attr=False
        )

    def forward(self, x):
        return self.down_proj(
            paddle.nn.functional.silu(self.gate_proj(x)) * self.up_proj(x)
        )


class PaddleDecoderLayer(paddle.nn.Layer):
    def __init__(self, hidden_size, intermediate_size, num_heads):
        super().__init__()
        self.input_layernorm = PaddleRMSNorm(hidden_size)
        self.self_attn = PaddleAttention(hidden_size, num_heads)
        self.post_attention_layernorm = PaddleRMSNorm(hidden_size)
        self.mlp = PaddleFeedForward(hidden_size, intermediate_size)

    def forward(self, x):
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class PaddleLlama(paddle.nn.Layer):
    def __init__(
        self,
        vocab_size: int = LLAMA_7B["vocab_size"],
        hidden_size: int = LLAMA_7B["hidden_size"],
        intermediate_size: int = LLAMA_7B["intermediate_size"],
        num_layers: int = LLAMA_7B["num_layers"],
        num_heads: int = LLAMA_7B["num_heads"],
        dtype: str = "float32",
    ):
        super().__init__()
        with paddle_default_dtype(dtype):
            self.embed_tokens = paddle.nn.Embedding(vocab_size, hidden_size)
            self.layers = paddle.nn.LayerList(
                [
                    PaddleDecoderLayer(hidden_size, intermediate_size, num_heads)
                    for _ in range(num_layers)
                ]
            )
            self.norm = PaddleRMSNorm(hidden_size)
            self.lm_head = paddle.nn.Linear(hidden_size, vocab_size, bias_attr=False)

    def forward(self, tokens):
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.lm_head(self.norm(x))


class PaddleTables(paddle.nn.Layer):
    """Embedding tables only: every weight is copied without a transpose."""

    def __init__(
        self, num_tables: int = 8, rows: int = 32000, dim: int = 4096, dtype="float32"
    ):
        super().__init__()
        with paddle_default_dtype(dtype):
            self.tables = paddle.nn.LayerList(
                [paddle.nn.Embedding(rows, dim) for _ in range(num_tables)]
            )

    def forward(self, tokens):
        return sum(table(tokens) for table in self.tables)


class PaddleExperts(paddle.nn.Layer):
    """layers x experts of (up, down) Linear width -> width, with biases."""

    def __init__(self, num_layers=40, num_experts=128, width=256, dtype="float32"):
        super().__init__()
        with paddle_default_dtype(dtype):
            self.layers = paddle.nn.LayerList(
                [
                    paddle.nn.LayerList(
                        [
                            paddle.nn.Sequential(
                                paddle.nn.Linear(width, width),
                                paddle.nn.Linear(width, width),
                            )
                            for _ in range(num_experts)
                        ]
                    )
                    for _ in range(num_layers)
                ]
            )

    def forward(self, x):
        for experts in self.layers:
            x = sum(expert(x) for expert in experts) / len(experts)
        return x
