"""The ground truth: hand-written weight copies between the pairs of tests_llm/pairs.py.

For each architecture, `rules(arch, config)` lists, by state-dict name, where every
PaddleFormers tensor comes from in the Hugging Face model and how (a `Rule`: the PF names,
the HF names, and one invertible operation). `hf_to_pf` applies the rules forward,
`pf_to_hf` backward; both check that every tensor of both models is used exactly once, so a
forgotten tensor is an error, not a silent default. This module is test-only and shares no
code with padiff_gen: it is what padiff-gen's generated scripts are judged against.

Layouts (PaddleFormers 1.2.0 vs transformers 5.3; the facts with their sources are in
tests_llm/LAYOUTS.md):
- A paddle `Linear` weight is [in, out], torch's [out, in]: transposed. Embeddings and
  PaddleFormers' `LMHead` ([vocab, hidden]) are not.
- Fused `qkv_proj` in PaddleFormers is grouped per KV head: for each KV head g, the query
  heads of group g, then k head g, then v head g (`reshape [b, s, kv_heads, (groups + 2) *
  head_dim]` then split). Phi3 fuses in plain [q, k, v] order on both sides.
- Fused `up_gate_proj` (`gate_up_proj` in Phi3) is [gate, up] (`gate, x = chunk(2)`).
- transformers 5 stacks MoE experts: `experts.gate_up_proj` [E, 2I, H] ([gate; up] rows),
  `experts.down_proj` [E, H, I]; PaddleFormers keeps `experts.{e}` MLPs of Linear layers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

Arrays = list  # list[np.ndarray]


@dataclass(frozen=True)
class Op:
    """An invertible operation: HF tensors -> PF tensors, and back."""

    name: str
    to_pf: Callable[[Arrays], Arrays]
    to_hf: Callable[[Arrays], Arrays]


def _t(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(array.T)


COPY = Op("copy", lambda hf: [hf[0]], lambda pf: [pf[0]])
TRANSPOSE = Op("transpose", lambda hf: [_t(hf[0])], lambda pf: [_t(pf[0])])


def _concat(sizes: Sequence[int]) -> Op:
    """HF tensors concatenated along their out axis, then transposed (weights)."""

    def to_pf(hf: Arrays) -> Arrays:
        fused = np.concatenate(hf, axis=0)
        return [_t(fused) if fused.ndim == 2 else fused]

    def to_hf(pf: Arrays) -> Arrays:
        fused = _t(pf[0]) if pf[0].ndim == 2 else pf[0]
        return list(np.split(fused, np.cumsum(sizes)[:-1], axis=0))

    return Op(f"concat{tuple(sizes)}", to_pf, to_hf)


def _grouped_qkv(num_kv_heads: int, q_size: int, kv_size: int) -> Op:
    """PF qkv = per KV head g: [q rows of g's query heads, k rows of head g, v rows of head g].

    `q_size` / `kv_size` are the out sizes of HF's q_proj / k_proj (Qwen3-Next's q_proj also
    holds the output gate: 2 * head_dim per query head, kept together per head).
    """
    q_group, kv_group = q_size // num_kv_heads, kv_size // num_kv_heads

    def to_pf(hf: Arrays) -> Arrays:
        q, k, v = hf
        groups = []
        for g in range(num_kv_heads):
            groups += [
                q[g * q_group : (g + 1) * q_group],
                k[g * kv_group : (g + 1) * kv_group],
                v[g * kv_group : (g + 1) * kv_group],
            ]
        fused = np.concatenate(groups, axis=0)
        return [_t(fused) if fused.ndim == 2 else fused]

    def to_hf(pf: Arrays) -> Arrays:
        fused = _t(pf[0]) if pf[0].ndim == 2 else pf[0]
        width = q_group + 2 * kv_group
        per_group = [fused[g * width : (g + 1) * width] for g in range(num_kv_heads)]
        q = np.concatenate([group[:q_group] for group in per_group], axis=0)
        k = np.concatenate([group[q_group : q_group + kv_group] for group in per_group])
        v = np.concatenate([group[q_group + kv_group :] for group in per_group], axis=0)
        return [q, k, v]

    return Op(f"grouped_qkv(kv_heads={num_kv_heads})", to_pf, to_hf)


def _unstack_transpose(num_experts: int) -> Op:
    """HF stacked [E, a, b] <-> PF E tensors [b, a] (each expert's Linear weight)."""

    def to_pf(hf: Arrays) -> Arrays:
        return [_t(hf[0][e]) for e in range(num_experts)]

    def to_hf(pf: Arrays) -> Arrays:
        return [np.stack([_t(w) for w in pf])]

    return Op(f"unstack_transpose(E={num_experts})", to_pf, to_hf)


def _unstack_split_transpose(num_experts: int) -> Op:
    """HF stacked gate_up [E, 2I, H] <-> PF E gate_proj [H, I] then E up_proj [H, I]."""

    def to_pf(hf: Arrays) -> Arrays:
        gates, ups = [], []
        for e in range(num_experts):
            gate, up = np.split(hf[0][e], 2, axis=0)
            gates.append(_t(gate))
            ups.append(_t(up))
        return gates + ups

    def to_hf(pf: Arrays) -> Arrays:
        gates, ups = pf[:num_experts], pf[num_experts:]
        return [
            np.stack(
                [np.concatenate([_t(g), _t(u)], axis=0) for g, u in zip(gates, ups)]
            )
        ]

    return Op(f"unstack_split_transpose(E={num_experts})", to_pf, to_hf)


@dataclass(frozen=True)
class Rule:
    pf: tuple[str, ...]
    hf: tuple[str, ...]
    op: Op


class RuleBook:
    """Collects the rules of one architecture, with short helpers for the common cases."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []

    def add(self, pf: Sequence[str] | str, hf: Sequence[str] | str, op: Op) -> None:
        pf = (pf,) if isinstance(pf, str) else tuple(pf)
        hf = (hf,) if isinstance(hf, str) else tuple(hf)
        self.rules.append(Rule(pf, hf, op))

    def copy(self, *names: str) -> None:
        for name in names:
            self.add(name, name, COPY)

    def linear(
        self, prefix: str, bias: bool = False, pf_prefix: str | None = None
    ) -> None:
        """A Linear on both sides: the weight transposed, the bias copied."""
        pf_prefix = prefix if pf_prefix is None else pf_prefix
        self.add(f"{pf_prefix}.weight", f"{prefix}.weight", TRANSPOSE)
        if bias:
            self.add(f"{pf_prefix}.bias", f"{prefix}.bias", COPY)

    def mlp_fused(
        self, hf: str, pf: str, size: int, fused: str = "up_gate_proj"
    ) -> None:
        """HF gate_proj / up_proj / down_proj <-> PF fused [gate, up] and down_proj."""
        self.add(
            f"{pf}.{fused}.weight",
            (f"{hf}.gate_proj.weight", f"{hf}.up_proj.weight"),
            _concat([size, size]),
        )
        self.linear(f"{hf}.down_proj", pf_prefix=f"{pf}.down_proj")

    def qkv_grouped(self, prefix: str, cfg, bias: bool, q_size: int | None = None):
        heads, kv_heads, head_dim = (
            cfg.num_attention_heads,
            cfg.num_key_value_heads,
            cfg.head_dim,
        )
        q_size = heads * head_dim if q_size is None else q_size
        op = _grouped_qkv(kv_heads, q_size, kv_heads * head_dim)
        names = [f"{prefix}.{p}_proj" for p in "qkv"]
        self.add(f"{prefix}.qkv_proj.weight", [f"{n}.weight" for n in names], op)
        if bias:
            self.add(f"{prefix}.qkv_proj.bias", [f"{n}.bias" for n in names], op)

    def stacked_experts(self, hf: str, pf: str, num_experts: int, split: bool = False):
        """HF experts.gate_up_proj / down_proj <-> PF experts.{e} MLPs."""
        experts = range(num_experts)
        if split:
            self.add(
                [f"{pf}.{e}.gate_proj.weight" for e in experts]
                + [f"{pf}.{e}.up_proj.weight" for e in experts],
                f"{hf}.gate_up_proj",
                _unstack_split_transpose(num_experts),
            )
        else:
            self.add(
                [f"{pf}.{e}.up_gate_proj.weight" for e in experts],
                f"{hf}.gate_up_proj",
                _unstack_transpose(num_experts),
            )
        self.add(
            [f"{pf}.{e}.down_proj.weight" for e in experts],
            f"{hf}.down_proj",
            _unstack_transpose(num_experts),
        )


def _ends(book: RuleBook) -> None:
    book.copy("model.embed_tokens.weight", "model.norm.weight", "lm_head.weight")


def _norms(book: RuleBook, layer: str, *names: str) -> None:
    book.copy(*[f"{layer}.{name}.weight" for name in names])


def _grouped_attention(book: RuleBook, layer: str, cfg, bias: bool, qk_norm: bool):
    """HF q/k/v/o_proj (+ q/k norms) <-> PF qkv_proj grouped per KV head and o_proj."""
    attn = f"{layer}.self_attn"
    book.qkv_grouped(attn, cfg, bias)
    book.linear(f"{attn}.o_proj")
    if qk_norm:
        _norms(book, attn, "q_norm", "k_norm")


# --- one function per architecture -------------------------------------------------------


def _llama(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            book.linear(f"{layer}.self_attn.{proj}")
        for proj in ("gate_proj", "up_proj", "down_proj"):
            book.linear(f"{layer}.mlp.{proj}")
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _qwen_dense(cfg, bias: bool, qk_norm: bool, extra_norms=()) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _grouped_attention(book, layer, cfg, bias, qk_norm)
        book.mlp_fused(f"{layer}.mlp", f"{layer}.mlp", cfg.intermediate_size)
        _norms(book, layer, "input_layernorm", "post_attention_layernorm", *extra_norms)
    return book


def _qwen2(cfg) -> RuleBook:
    return _qwen_dense(cfg, bias=True, qk_norm=False)


def _qwen3(cfg) -> RuleBook:
    return _qwen_dense(cfg, bias=cfg.attention_bias, qk_norm=True)


def _gemma3(cfg) -> RuleBook:
    return _qwen_dense(
        cfg,
        bias=cfg.attention_bias,
        qk_norm=True,
        extra_norms=("pre_feedforward_layernorm", "post_feedforward_layernorm"),
    )


def _ernie4_5(cfg) -> RuleBook:
    return _qwen_dense(cfg, bias=cfg.use_bias, qk_norm=False)


def _phi3(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        # Both libraries fuse q, k, v in plain concatenation order, and gate, up likewise.
        book.linear(f"{layer}.self_attn.qkv_proj")
        book.linear(f"{layer}.self_attn.o_proj")
        book.linear(f"{layer}.mlp.gate_up_proj")
        book.linear(f"{layer}.mlp.down_proj")
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _qwen_moe_mlp(book: RuleBook, cfg, mlp: str, shared: str | None) -> None:
    book.linear(f"{mlp}.gate")
    book.stacked_experts(f"{mlp}.experts", f"{mlp}.experts", cfg.num_experts)
    if shared:
        size = cfg.shared_expert_intermediate_size
        book.mlp_fused(f"{mlp}.{shared}", f"{mlp}.{shared}", size)
        book.linear(f"{mlp}.shared_expert_gate")


def _qwen2_moe(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _grouped_attention(book, layer, cfg, bias=True, qk_norm=False)
        _qwen_moe_mlp(book, cfg, f"{layer}.mlp", "shared_expert")
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _qwen3_moe(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _grouped_attention(book, layer, cfg, bias=cfg.attention_bias, qk_norm=True)
        _qwen_moe_mlp(book, cfg, f"{layer}.mlp", None)
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _qwen3_next(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i, kind in enumerate(cfg.layer_types):
        layer = f"model.layers.{i}"
        if kind == "linear_attention":
            attn = f"{layer}.linear_attn"
            book.copy(f"{attn}.dt_bias", f"{attn}.A_log", f"{attn}.conv1d.weight")
            book.linear(f"{attn}.in_proj_qkvz")
            book.linear(f"{attn}.in_proj_ba")
            book.copy(f"{attn}.norm.weight")
            book.linear(f"{attn}.out_proj")
        else:
            attn = f"{layer}.self_attn"
            # q_proj holds [query, output gate] per head: 2 * head_dim rows per head.
            q_size = 2 * cfg.num_attention_heads * cfg.head_dim
            book.qkv_grouped(attn, cfg, bias=cfg.attention_bias, q_size=q_size)
            book.linear(f"{attn}.o_proj")
            _norms(book, attn, "q_norm", "k_norm")
        _qwen_moe_mlp(book, cfg, f"{layer}.mlp", "shared_expert")
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _mla_attention(book: RuleBook, attn: str) -> None:
    book.linear(f"{attn}.q_a_proj")
    book.copy(f"{attn}.q_a_layernorm.weight")
    book.linear(f"{attn}.q_b_proj")
    book.linear(f"{attn}.kv_a_proj_with_mqa")
    book.copy(f"{attn}.kv_a_layernorm.weight")
    book.linear(f"{attn}.kv_b_proj")
    book.linear(f"{attn}.o_proj")


def _deepseek_v3(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _mla_attention(book, f"{layer}.self_attn")
        mlp = f"{layer}.mlp"
        if i < cfg.first_k_dense_replace:
            for proj in ("gate_proj", "up_proj", "down_proj"):
                book.linear(f"{mlp}.{proj}")
        else:
            book.linear(f"{mlp}.gate")
            book.copy(f"{mlp}.gate.e_score_correction_bias")
            book.stacked_experts(
                f"{mlp}.experts", f"{mlp}.experts", cfg.n_routed_experts, split=True
            )
            for proj in ("gate_proj", "up_proj", "down_proj"):
                book.linear(f"{mlp}.shared_experts.{proj}")
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _glm4_moe(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _grouped_attention(book, layer, cfg, cfg.attention_bias, cfg.use_qk_norm)
        mlp = f"{layer}.mlp"
        if i < cfg.first_k_dense_replace:
            book.mlp_fused(mlp, mlp, cfg.intermediate_size)
        else:
            book.stacked_experts(
                f"{mlp}.experts", f"{mlp}.experts", cfg.n_routed_experts
            )
            book.copy(f"{mlp}.gate.weight", f"{mlp}.gate.e_score_correction_bias")
            size = cfg.moe_intermediate_size * cfg.n_shared_experts
            book.mlp_fused(f"{mlp}.shared_experts", f"{mlp}.shared_experts", size)
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _ernie4_5_moe(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        _grouped_attention(book, layer, cfg, bias=cfg.use_bias, qk_norm=False)
        mlp = f"{layer}.mlp"
        moe = (
            i >= cfg.moe_layer_start_index
            and i <= cfg.moe_layer_end_index
            and (i - cfg.moe_layer_start_index) % cfg.moe_layer_interval == 0
        )
        if moe:
            book.linear(f"{mlp}.gate")
            book.add(
                f"{mlp}.moe_statics.e_score_correction_bias",
                f"{mlp}.gate.moe_statics.e_score_correction_bias",
                COPY,
            )
            book.stacked_experts(
                f"{mlp}.experts", f"{mlp}.experts", cfg.moe_num_experts
            )
            size = cfg.moe_intermediate_size * cfg.moe_num_shared_experts
            book.mlp_fused(f"{mlp}.shared_experts", f"{mlp}.shared_experts", size)
        else:
            book.mlp_fused(mlp, mlp, cfg.intermediate_size)
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


def _gpt_oss(cfg) -> RuleBook:
    book = RuleBook()
    _ends(book)
    for i in range(cfg.num_hidden_layers):
        layer = f"model.layers.{i}"
        attn = f"{layer}.self_attn"
        book.copy(f"{attn}.sinks")
        for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
            book.linear(f"{attn}.{proj}", bias=True)
        mlp = f"{layer}.mlp"
        # The router and the stacked experts are the same tensors in the same layout on
        # both sides ([E, H] router; experts [E, H, 2I] with gate/up interleaved, [E, I, H]).
        book.copy(f"{mlp}.router.weight", f"{mlp}.router.bias")
        book.copy(
            f"{mlp}.experts.gate_up_proj",
            f"{mlp}.experts.gate_up_proj_bias",
            f"{mlp}.experts.down_proj",
            f"{mlp}.experts.down_proj_bias",
        )
        _norms(book, layer, "input_layernorm", "post_attention_layernorm")
    return book


RULES: dict[str, Callable] = {
    "llama": _llama,
    "qwen2": _qwen2,
    "qwen3": _qwen3,
    "gemma3": _gemma3,
    "phi3": _phi3,
    "qwen2_moe": _qwen2_moe,
    "qwen3_moe": _qwen3_moe,
    "deepseek_v3": _deepseek_v3,
    "ernie4_5": _ernie4_5,
    "ernie4_5_moe": _ernie4_5_moe,
    "gpt_oss": _gpt_oss,
    "glm4_moe": _glm4_moe,
    "qwen3_next": _qwen3_next,
}


def rules(arch: str, config) -> list[Rule]:
    """The rules of `arch`, given its Hugging Face config."""
    return RULES[arch](config).rules


def _apply(
    rule_list: Sequence[Rule],
    source: Mapping[str, np.ndarray],
    target_names: Sequence[str],
    forward: bool,
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for rule in rule_list:
        src, dst = (rule.hf, rule.pf) if forward else (rule.pf, rule.hf)
        missing = [name for name in src if name not in source]
        if missing:
            raise KeyError(f"{rule.op.name}: source tensors {missing} do not exist")
        fn = rule.op.to_pf if forward else rule.op.to_hf
        results = fn([source[name] for name in src])
        if len(results) != len(dst):
            raise AssertionError(f"{rule.op.name} made {len(results)} of {len(dst)}")
        for name, value in zip(dst, results):
            if name in out:
                raise AssertionError(f"{name} is written twice")
            out[name] = value
        used.update(src)
    unused = sorted(set(source) - used)
    unwritten = sorted(set(target_names) - set(out))
    unknown = sorted(set(out) - set(target_names))
    if unused or unwritten or unknown:
        raise AssertionError(
            f"rules incomplete: source unused {unused}, target unwritten {unwritten}, "
            f"target unknown {unknown}"
        )
    return out


def hf_to_pf(arch, config, hf_state, pf_names) -> dict[str, np.ndarray]:
    """PaddleFormers state (name -> array) from a Hugging Face one, by the rules."""
    return _apply(rules(arch, config), hf_state, pf_names, forward=True)


def pf_to_hf(arch, config, pf_state, hf_names) -> dict[str, np.ndarray]:
    """Hugging Face state (name -> array) from a PaddleFormers one, by the rules."""
    return _apply(rules(arch, config), pf_state, hf_names, forward=False)
