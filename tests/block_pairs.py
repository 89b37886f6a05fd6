"""Model pairs whose layouts only a block of the models can decide, for
tests/test_block_probe.py.

- ``rotary_lm``: a causal LM in the style of Hugging Face transformers 5 (torch: separate
  q/k/v, gate/up; rotary frequencies a non-persistent buffer computed in the
  constructor; the model computes cos/sin once and hands them to every attention as a
  keyword argument) against the PaddleFormers style (q/k/v fused and grouped per KV
  head, gate/up fused). An attention cannot run on hidden states alone: its input is
  captured from the model. With ``vocab`` large (``big_vocab``) the models hold more
  than padiff-gen runs whole.
- ``rotary_lm_plain``: the same with the paddle side reading q, k, v one after the
  other: the same shapes, another layout, which only running the attention shows.
- ``vlm``: a vision-language model: a vision tower whose Conv3d patch embedding needs
  ``pixel_values`` and the ``grid_thw`` of each image, and the text tower of
  ``rotary_lm``. No input padiff-gen can guess runs the whole model; the text tower
  runs on token ids.
- weight-normalised first layers (a HiFiGAN-style vocoder's pre-conv): torch's
  ``weight_norm`` and ``parametrizations.weight_norm`` on a Conv1d against paddle's
  ``weight_norm`` on a Conv1D.

Reached through ``torch:tests.block_pairs.torch_model {"case": ...}`` like the other
pairs modules; ``vocab`` overrides the vocabulary size of the LM cases.
"""

from __future__ import annotations

import math

import paddle
import torch

from tests.layer_pairs import Case, f32, tokens

tnn, pnn = torch.nn, paddle.nn
HIDDEN, HEADS, KV_HEADS, HEAD_DIM, INTER, VOCAB = 32, 4, 2, 8, 48, 40
# More elements than padiff-gen builds and runs whole (layout_probe.PROBE_MAX_ELEMENTS).
BIG_VOCAB = 2_200_000


def _rotate(framework, x, cos, sin):
    """x * cos + rotate_half(x) * sin; x [b, heads, s, d], cos/sin [b, s, d]."""
    half = x.shape[-1] // 2
    if framework == "torch":
        rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)
    rotated = paddle.concat((-x[..., half:], x[..., :half]), axis=-1)
    return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1)


def _attend(framework, q, k, v):
    """Causal attention with GQA; q [b, heads, s, d], k/v [b, kv, s, d] -> [b, s, h*d]."""
    groups = HEADS // KV_HEADS
    b, _, s, d = q.shape
    if framework == "torch":
        k = k.repeat_interleave(groups, dim=1)
        v = v.repeat_interleave(groups, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d)
        mask = torch.triu(torch.full((s, s), float("-inf")), diagonal=1)
        out = torch.softmax(scores + mask, dim=-1) @ v
        return out.transpose(1, 2).reshape(b, s, HEADS * d)
    k = paddle.repeat_interleave(k, groups, axis=1)
    v = paddle.repeat_interleave(v, groups, axis=1)
    scores = paddle.matmul(q, k, transpose_y=True) / math.sqrt(d)
    mask = paddle.triu(paddle.full([s, s], float("-inf")), diagonal=1)
    out = paddle.matmul(paddle.nn.functional.softmax(scores + mask, axis=-1), v)
    return out.transpose([0, 2, 1, 3]).reshape([b, s, HEADS * d])


class TorchRotary(tnn.Module):
    """cos/sin of each position (Hugging Face's rotary embedding): inv_freq is computed in
    the constructor and kept out of the state dict."""

    def __init__(self) -> None:
        super().__init__()
        steps = torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM
        self.register_buffer("inv_freq", 1.0 / (10000.0**steps), persistent=False)

    def forward(self, x):
        positions = torch.arange(x.shape[1], dtype=torch.float32)
        freqs = positions[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)[None].expand(x.shape[0], -1, -1)
        return emb.cos(), emb.sin()


class PaddleRotary(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        steps = paddle.arange(0, HEAD_DIM, 2, dtype="float32") / HEAD_DIM
        self.register_buffer("inv_freq", 1.0 / (10000.0**steps), persistable=False)

    def forward(self, x):
        positions = paddle.arange(x.shape[1], dtype="float32")
        freqs = positions[:, None] * self.inv_freq[None, :]
        emb = paddle.concat((freqs, freqs), axis=-1)[None].expand([x.shape[0], -1, -1])
        return emb.cos(), emb.sin()


class TorchAttention(tnn.Module):
    """Separate q/k/v/o; cos/sin come in as a keyword argument, as in transformers 5."""

    def __init__(self) -> None:
        super().__init__()
        self.num_key_value_heads = KV_HEADS
        self.q_proj = tnn.Linear(HIDDEN, HEADS * HEAD_DIM)
        self.k_proj = tnn.Linear(HIDDEN, KV_HEADS * HEAD_DIM)
        self.v_proj = tnn.Linear(HIDDEN, KV_HEADS * HEAD_DIM)
        self.o_proj = tnn.Linear(HEADS * HEAD_DIM, HIDDEN, bias=False)

    def forward(self, hidden_states, position_embeddings=None):
        cos, sin = position_embeddings
        b, s, _ = hidden_states.shape
        q = self.q_proj(hidden_states).view(b, s, HEADS, HEAD_DIM).transpose(1, 2)
        k = self.k_proj(hidden_states).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        v = self.v_proj(hidden_states).view(b, s, KV_HEADS, HEAD_DIM).transpose(1, 2)
        q, k = _rotate("torch", q, cos, sin), _rotate("torch", k, cos, sin)
        return self.o_proj(_attend("torch", q, k, v))


class PaddleAttention(pnn.Layer):
    """One fused qkv_proj: grouped per KV head ([q of its heads, k, v] per KV head, as
    PaddleFormers reads it), or with ``plain`` the parts one after the other."""

    def __init__(self, plain: bool = False) -> None:
        super().__init__()
        self.num_key_value_heads = KV_HEADS
        self.plain = plain
        self.qkv_proj = pnn.Linear(HIDDEN, (HEADS + 2 * KV_HEADS) * HEAD_DIM)
        self.o_proj = pnn.Linear(HEADS * HEAD_DIM, HIDDEN, bias_attr=False)

    def forward(self, hidden_states, position_embeddings=None):
        cos, sin = position_embeddings
        b, s, _ = hidden_states.shape
        mix = self.qkv_proj(hidden_states)
        if self.plain:
            sizes = [HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM, KV_HEADS * HEAD_DIM]
            q, k, v = paddle.split(mix, sizes, axis=-1)
        else:
            per_group = HEADS // KV_HEADS
            mix = mix.reshape([b, s, KV_HEADS, (per_group + 2) * HEAD_DIM])
            sizes = [per_group * HEAD_DIM, HEAD_DIM, HEAD_DIM]
            q, k, v = paddle.split(mix, sizes, axis=-1)
        q = q.reshape([b, s, HEADS, HEAD_DIM]).transpose([0, 2, 1, 3])
        k = k.reshape([b, s, KV_HEADS, HEAD_DIM]).transpose([0, 2, 1, 3])
        v = v.reshape([b, s, KV_HEADS, HEAD_DIM]).transpose([0, 2, 1, 3])
        q, k = _rotate("paddle", q, cos, sin), _rotate("paddle", k, cos, sin)
        return self.o_proj(_attend("paddle", q, k, v))


class SiLUActivation(tnn.Module):
    """transformers' activation class: a plain Module, no subclass of nn.SiLU."""

    def forward(self, x):
        return torch.nn.functional.silu(x)


class TorchMLP(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate_proj = tnn.Linear(HIDDEN, INTER, bias=False)
        self.up_proj = tnn.Linear(HIDDEN, INTER, bias=False)
        self.down_proj = tnn.Linear(INTER, HIDDEN, bias=False)
        self.act_fn = SiLUActivation()

    def forward(self, x):
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class PaddleMLP(pnn.Layer):
    """PaddleFormers' MLP: up_gate_proj holds [gate, up]; its activation a paddle Silu."""

    def __init__(self) -> None:
        super().__init__()
        self.up_gate_proj = pnn.Linear(HIDDEN, 2 * INTER, bias_attr=False)
        self.down_proj = pnn.Linear(INTER, HIDDEN, bias_attr=False)
        self.act_fn = pnn.Silu()

    def forward(self, x):
        gate, up = paddle.chunk(self.up_gate_proj(x), 2, axis=-1)
        return self.down_proj(self.act_fn(gate) * up)


class TorchNorm(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = tnn.Parameter(torch.ones(HIDDEN))

    def forward(self, x):
        return self.weight * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class PaddleNorm(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.weight = self.create_parameter(
            [HIDDEN], default_initializer=pnn.initializer.Constant(1.0)
        )

    def forward(self, x):
        return self.weight * x * paddle.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)


class TorchDecoderLayer(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.input_layernorm = TorchNorm()
        self.self_attn = TorchAttention()
        self.post_attention_layernorm = TorchNorm()
        self.mlp = TorchMLP()

    def forward(self, x, position_embeddings=None):
        attended = self.self_attn(
            hidden_states=self.input_layernorm(x),
            position_embeddings=position_embeddings,
        )
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x))


class PaddleDecoderLayer(pnn.Layer):
    def __init__(self, plain: bool = False) -> None:
        super().__init__()
        self.input_layernorm = PaddleNorm()
        self.self_attn = PaddleAttention(plain)
        self.post_attention_layernorm = PaddleNorm()
        self.mlp = PaddleMLP()

    def forward(self, x, position_embeddings=None):
        attended = self.self_attn(
            hidden_states=self.input_layernorm(x),
            position_embeddings=position_embeddings,
        )
        x = x + attended
        return x + self.mlp(self.post_attention_layernorm(x))


class TorchTextModel(tnn.Module):
    """embed -> rotary -> layers -> norm (the decoder of a causal LM)."""

    def __init__(self, vocab: int) -> None:
        super().__init__()
        self.embed_tokens = tnn.Embedding(vocab, HIDDEN)
        self.rotary_emb = TorchRotary()
        self.layers = tnn.ModuleList([TorchDecoderLayer() for _ in range(2)])
        self.norm = TorchNorm()

    def forward(self, input_ids=None, inputs_embeds=None):
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        position_embeddings = self.rotary_emb(x)
        for layer in self.layers:
            x = layer(x, position_embeddings=position_embeddings)
        return self.norm(x)


class PaddleTextModel(pnn.Layer):
    def __init__(self, vocab: int, plain: bool = False) -> None:
        super().__init__()
        self.embed_tokens = pnn.Embedding(vocab, HIDDEN)
        self.rotary_emb = PaddleRotary()
        self.layers = pnn.LayerList([PaddleDecoderLayer(plain) for _ in range(2)])
        self.norm = PaddleNorm()

    def forward(self, input_ids=None, inputs_embeds=None):
        x = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        position_embeddings = self.rotary_emb(x)
        for layer in self.layers:
            x = layer(x, position_embeddings=position_embeddings)
        return self.norm(x)


class TorchLM(tnn.Module):
    def __init__(self, vocab: int = VOCAB) -> None:
        super().__init__()
        self.model = TorchTextModel(vocab)
        self.lm_head = tnn.Linear(HIDDEN, vocab, bias=False)

    def forward(self, input_ids):
        return self.lm_head(self.model(input_ids))


class PaddleLM(pnn.Layer):
    def __init__(self, vocab: int = VOCAB, plain: bool = False) -> None:
        super().__init__()
        self.model = PaddleTextModel(vocab, plain)
        self.lm_head = pnn.Linear(HIDDEN, vocab, bias_attr=False)

    def forward(self, input_ids):
        return self.lm_head(self.model(input_ids))


class TorchScaledText(TorchTextModel):
    """A decoder that takes a second input (a scale) besides the token ids."""

    def forward(self, input_ids, scale):
        return super().forward(inputs_embeds=self.embed_tokens(input_ids) * scale)


class PaddleScaledText(PaddleTextModel):
    def forward(self, input_ids, scale):
        return super().forward(inputs_embeds=self.embed_tokens(input_ids) * scale)


class TorchScaledLM(TorchLM):
    """No part of it that holds an attention runs on token ids or hidden states alone,
    so nothing padiff-gen can guess runs a block (``--input`` can)."""

    def __init__(self, vocab: int = VOCAB) -> None:
        super().__init__(vocab)
        self.model = TorchScaledText(vocab)

    def forward(self, input_ids, scale):
        return self.lm_head(self.model(input_ids, scale))


class PaddleScaledLM(PaddleLM):
    def __init__(self, vocab: int = VOCAB) -> None:
        super().__init__(vocab)
        self.model = PaddleScaledText(vocab)

    def forward(self, input_ids, scale):
        return self.lm_head(self.model(input_ids, scale))


class TorchMLPWithoutActivation(TorchMLP):
    """down(gate(x) * up(x)): no activation, where the paddle side has one."""

    def forward(self, x):
        return self.down_proj(self.gate_proj(x) * self.up_proj(x))


# ---------------------------------------------------------------- a vision-language model

CHANNELS, PATCH, FRAMES = 3, 4, 2


class TorchVisionTower(tnn.Module):
    """Qwen2.5-VL's patch embedding in small: pixel_values [patches, C * T * P * P]
    are cut into patches by a Conv3d; grid_thw [images, 3] (integers) says how the
    patches belong to the images: here each image's patches are averaged into one
    feature, scaled by its grid."""

    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = tnn.Conv3d(
            CHANNELS, HIDDEN, (FRAMES, PATCH, PATCH), (FRAMES, PATCH, PATCH)
        )
        self.merger = tnn.Linear(HIDDEN, HIDDEN)

    def forward(self, pixel_values, grid_thw):
        patches = pixel_values.view(-1, CHANNELS, FRAMES, PATCH, PATCH)
        features = self.patch_embed(patches).view(grid_thw.shape[0], -1, HIDDEN)
        scale = 1.0 + grid_thw.sum(-1, keepdim=True).float()
        return self.merger(features.mean(1) * scale)


class PaddleVisionTower(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = pnn.Conv3D(
            CHANNELS, HIDDEN, (FRAMES, PATCH, PATCH), (FRAMES, PATCH, PATCH)
        )
        self.merger = pnn.Linear(HIDDEN, HIDDEN)

    def forward(self, pixel_values, grid_thw):
        patches = pixel_values.reshape([-1, CHANNELS, FRAMES, PATCH, PATCH])
        features = self.patch_embed(patches).reshape([grid_thw.shape[0], -1, HIDDEN])
        scale = 1.0 + grid_thw.sum(-1, keepdim=True).astype("float32")
        return self.merger(features.mean(1) * scale)


class TorchVLM(tnn.Module):
    """The image features are added to every token of the text (one image per text)."""

    def __init__(self, vocab: int = VOCAB) -> None:
        super().__init__()
        self.visual = TorchVisionTower()
        self.language_model = TorchTextModel(vocab)
        self.lm_head = tnn.Linear(HIDDEN, vocab, bias=False)

    def forward(self, input_ids, pixel_values, grid_thw):
        image = self.visual(pixel_values, grid_thw)
        embeds = self.language_model.embed_tokens(input_ids) + image[:, None, :]
        return self.lm_head(self.language_model(inputs_embeds=embeds))


class PaddleVLM(pnn.Layer):
    def __init__(self, vocab: int = VOCAB) -> None:
        super().__init__()
        self.visual = PaddleVisionTower()
        self.language_model = PaddleTextModel(vocab)
        self.lm_head = pnn.Linear(HIDDEN, vocab, bias_attr=False)

    def forward(self, input_ids, pixel_values, grid_thw):
        image = self.visual(pixel_values, grid_thw)
        embeds = self.language_model.embed_tokens(input_ids) + image.unsqueeze(1)
        return self.lm_head(self.language_model(inputs_embeds=embeds))


# ---------------------------------------------------------------- weight normalisation


def _torch_vocoder(api: str):
    """A HiFiGAN-style pre-conv and post-conv, both weight-normalised."""
    if api == "parametrizations":
        norm = torch.nn.utils.parametrizations.weight_norm
    else:
        norm = torch.nn.utils.weight_norm
    return tnn.Sequential(
        norm(tnn.Conv1d(8, 16, 7, padding=3)),
        tnn.LeakyReLU(0.1),
        norm(tnn.Conv1d(16, 1, 7, padding=3)),
        tnn.Tanh(),
    )


def _paddle_vocoder():
    norm = paddle.nn.utils.weight_norm
    return pnn.Sequential(
        norm(pnn.Conv1D(8, 16, 7, padding=3)),
        pnn.LeakyReLU(0.1),
        norm(pnn.Conv1D(16, 1, 7, padding=3)),
        pnn.Tanh(),
    )


def _vlm_inputs() -> tuple:
    # two images of 4 patches each, for two texts of 5 tokens
    pixels = f32(8, CHANNELS * FRAMES * PATCH * PATCH)
    return (tokens(VOCAB, 2, 5), pixels, ("int64", (2, 3), 3))


CASES: dict[str, Case] = {
    "rotary_lm": Case(lambda: TorchLM(), lambda: PaddleLM(), (tokens(VOCAB, 2, 6),)),
    "rotary_lm_plain": Case(
        lambda: TorchLM(), lambda: PaddleLM(plain=True), (tokens(VOCAB, 2, 6),)
    ),
    "vlm": Case(lambda: TorchVLM(), lambda: PaddleVLM(), _vlm_inputs()),
    "scaled_lm": Case(
        lambda: TorchScaledLM(),
        lambda: PaddleScaledLM(),
        (tokens(VOCAB, 2, 6), f32(1)),
    ),
    "vocoder_weight_norm": Case(
        lambda: _torch_vocoder("weight_norm"), _paddle_vocoder, (f32(2, 8, 20),)
    ),
    "vocoder_weight_norm_parametrizations": Case(
        lambda: _torch_vocoder("parametrizations"), _paddle_vocoder, (f32(2, 8, 20),)
    ),
}
# The classes of each case, for models of another vocabulary size.
VOCAB_CASES = {
    "rotary_lm": (TorchLM, PaddleLM, {}),
    "rotary_lm_plain": (TorchLM, PaddleLM, {"plain": True}),
    "vlm": (TorchVLM, PaddleVLM, {}),
}


def torch_model(case: str, vocab: int = 0) -> torch.nn.Module:
    if vocab:
        return VOCAB_CASES[case][0](vocab)
    return CASES[case].torch()


def paddle_model(case: str, vocab: int = 0) -> paddle.nn.Layer:
    if vocab:
        torch_class, paddle_class, options = VOCAB_CASES[case]
        return paddle_class(vocab, **options)
    return CASES[case].paddle()
