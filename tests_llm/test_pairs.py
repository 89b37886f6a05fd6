"""The pairs of tests_llm/pairs.py compute the same function: the ground truth for issue 8.

Every base tensor is perturbed, tests_llm/reference.py copies it by hand, and both models run
on the same token ids. Negative controls show that the comparison catches each kind of
wrong layout that padiff-gen could produce.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests_llm import harness, pairs, reference

ARCHS = list(pairs.ARCHITECTURES)

# A correct hand copy agrees to at most 3.7e-6 of the logits' scale (Qwen3-Next, whose
# linear attention is a chunked scan in both libraries; the others stay below 1.5e-6):
# float32 kernels that sum in different orders. 1e-5 leaves room for that and is still
# a thousand times below what any wrong layout below produces (>= 1e-2).
TOLERANCE = 1e-5
WRONG = 1e-2


def _blocked(arch: str):
    blocker = pairs.ARCHITECTURES[arch].cpu_blocker
    if not blocker:
        return arch
    return pytest.param(
        arch, marks=pytest.mark.xfail(raises=RuntimeError, strict=True, reason=blocker)
    )


def pf_logits(arch, model, ids):
    return harness.logits(model, ids, bool(pairs.ARCHITECTURES[arch].pf_train_mode))


def copy_hf_to_pf(arch, seed=0, corrupt=None):
    """HF model with random weights, PF model filled by the hand copy (optionally spoiled)."""
    config = pairs.hf_config(arch)
    hf, pf = pairs.hf_model(arch), pairs.pf_model(arch)
    harness.randomize(hf, seed)
    hf_state = harness.state_arrays(hf)
    pf_state = reference.hf_to_pf(arch, config, hf_state, list(pf.state_dict()))
    if corrupt is not None:
        corrupt(config, hf_state, pf_state)
    harness.load_arrays(pf, pf_state)
    return hf, pf, config


def relative_difference(arch, hf, pf, config):
    ids = harness.token_ids(config.vocab_size)
    return harness.difference(harness.logits(hf, ids), pf_logits(arch, pf, ids))


@pytest.mark.parametrize("arch", ARCHS)
def test_configs_hold_the_same_values(arch):
    assert pairs.config_differences(arch) == {}


@pytest.mark.parametrize("arch", [_blocked(arch) for arch in ARCHS])
def test_hand_copy_hf_to_pf_gives_the_same_logits(arch):
    hf, pf, config = copy_hf_to_pf(arch)
    result = relative_difference(arch, hf, pf, config)
    assert result["relative"] < TOLERANCE, result


@pytest.mark.parametrize("arch", [_blocked(arch) for arch in ARCHS])
def test_hand_copy_pf_to_hf_gives_the_same_logits(arch):
    config = pairs.hf_config(arch)
    hf, pf = pairs.hf_model(arch), pairs.pf_model(arch)
    harness.randomize(pf, 0)
    hf_state = reference.pf_to_hf(
        arch, config, harness.state_arrays(pf), list(hf.state_dict())
    )
    harness.load_arrays(hf, hf_state)
    ids = harness.token_ids(config.vocab_size)
    result = harness.difference(pf_logits(arch, pf, ids), harness.logits(hf, ids))
    assert result["relative"] < TOLERANCE, result


@pytest.mark.parametrize("arch", ARCHS)
def test_hand_copy_round_trips_exactly(arch):
    """HF -> PF -> HF gives back every tensor bit for bit (also where no forward runs)."""
    config = pairs.hf_config(arch)
    hf, pf = pairs.hf_model(arch), pairs.pf_model(arch)
    harness.randomize(hf, 3)
    start = harness.state_arrays(hf)
    middle = reference.hf_to_pf(arch, config, start, list(pf.state_dict()))
    back = reference.pf_to_hf(arch, config, middle, list(hf.state_dict()))
    assert set(back) == set(start)
    for name in start:
        np.testing.assert_array_equal(back[name], start[name], err_msg=name)


@pytest.mark.parametrize("arch", [_blocked(arch) for arch in ARCHS])
def test_every_tensor_matters(arch):
    """Leaving any single PF tensor kind at a wrong value changes the logits.

    Checked for the first tensor of each name pattern (layer and expert numbers left
    out), so that "every tensor perturbed" is not an empty promise: no tensor is dead
    weight, and a copy that forgets one is caught.
    """
    hf, pf, config = copy_hf_to_pf(arch)
    state = harness.state_arrays(pf)
    ids = harness.token_ids(config.vocab_size)
    reference_logits = harness.logits(hf, ids)
    patterns = {}
    for name in state:
        pattern = re.sub(r"\.(layers|experts)\.\d+\.", r".\1.N.", name)
        patterns.setdefault(pattern, name)
    names = list(patterns.values())
    tied = harness.tied_names(pf)
    rng = np.random.default_rng(7)
    quiet = []
    for name in names:
        spoiled = dict(state)
        noise = rng.standard_normal(state[name].shape)
        for alias in tied[name]:  # a tied tensor is one tensor under two names
            spoiled[alias] = (state[name] + noise).astype(state[name].dtype)
        harness.load_arrays(pf, spoiled)
        result = harness.difference(reference_logits, pf_logits(arch, pf, ids))
        if result["relative"] < WRONG:
            quiet.append((name, result["relative"]))
    harness.load_arrays(pf, state)
    assert not quiet, f"tensors that do not change the logits: {quiet}"


# --- negative controls: each wrong layout is caught -------------------------------------


def _plain_qkv(layer: int, bias: bool = False):
    """qkv_proj in plain [q, k, v] order instead of grouped per KV head."""

    def corrupt(config, hf_state, pf_state):
        prefix = f"model.layers.{layer}.self_attn"
        for kind in ("weight", "bias") if bias else ("weight",):
            parts = [hf_state[f"{prefix}.{p}_proj.{kind}"] for p in "qkv"]
            fused = np.concatenate(parts, axis=0)
            pf_state[f"{prefix}.qkv_proj.{kind}"] = (
                fused.T if fused.ndim == 2 else fused
            )

    return corrupt


def _swap_halves(name: str, axis: int = -1):
    """A fused [gate, up] tensor stored as [up, gate]."""

    def corrupt(config, hf_state, pf_state):
        first, second = np.split(pf_state[name], 2, axis=axis)
        pf_state[name] = np.concatenate([second, first], axis=axis)

    return corrupt


def _grouped_phi3_qkv(config, hf_state, pf_state):
    """Phi3's plain-order qkv regrouped per KV head (the layout of the other models)."""
    name = "model.layers.0.self_attn.qkv_proj.weight"
    fused = pf_state[name].T
    q_size = config.num_attention_heads * config.head_dim
    kv_size = config.num_key_value_heads * config.head_dim
    q, k, v = np.split(fused, [q_size, q_size + kv_size], axis=0)
    book = reference.RuleBook()
    book.qkv_grouped("x", config, bias=False)
    (grouped,) = book.rules[0].op.to_pf([q, k, v])
    pf_state[name] = grouped


def _untransposed(name: str):
    """A square Linear weight copied without its transpose."""

    def corrupt(config, hf_state, pf_state):
        pf_state[name] = pf_state[name].T.copy()

    return corrupt


def _experts_shifted(prefix: str, count: int):
    """Stacked experts unstacked in the wrong order (expert e gets e + 1's weights)."""

    def corrupt(config, hf_state, pf_state):
        names = [n for n in pf_state if n.startswith(f"{prefix}.0.")]
        for name in names:
            suffix = name[len(f"{prefix}.0.") :]
            values = [pf_state[f"{prefix}.{e}.{suffix}"] for e in range(count)]
            for e in range(count):
                pf_state[f"{prefix}.{e}.{suffix}"] = values[(e + 1) % count]

    return corrupt


def _gate_interleave_lost(name: str):
    """GPT-OSS's interleaved [g0, u0, g1, u1, ...] stored as [g..., u...]."""

    def corrupt(config, hf_state, pf_state):
        value = pf_state[name]
        pf_state[name] = np.concatenate([value[..., ::2], value[..., 1::2]], axis=-1)

    return corrupt


def _qwen3_next_gate_apart(config, hf_state, pf_state):
    """Qwen3-Next's [query, gate] per head fused as all queries, then all gates."""
    prefix = "model.layers.1.self_attn"
    q = hf_state[f"{prefix}.q_proj.weight"]
    heads, head_dim = config.num_attention_heads, config.head_dim
    per_head = q.reshape(heads, 2, head_dim, -1)
    apart = np.concatenate([per_head[:, 0], per_head[:, 1]], axis=0).reshape(q.shape)
    spoiled = dict(hf_state)
    spoiled[f"{prefix}.q_proj.weight"] = apart
    book = reference.RuleBook()
    book.qkv_grouped(prefix, config, bias=False, q_size=2 * heads * head_dim)
    (fused,) = book.rules[0].op.to_pf(
        [spoiled[f"{prefix}.{p}_proj.weight"] for p in "qkv"]
    )
    pf_state[f"{prefix}.qkv_proj.weight"] = fused


NEGATIVE_CONTROLS = {
    "qkv plain order where PaddleFormers groups per KV head": (
        "qwen2",
        _plain_qkv(0, bias=True),
    ),
    "qkv plain order, Qwen3-MoE (no bias, q/k norms)": ("qwen3_moe", _plain_qkv(1)),
    "qkv grouped per KV head where Phi3 keeps plain order": ("phi3", _grouped_phi3_qkv),
    "up_gate_proj as [up, gate]": (
        "qwen2",
        _swap_halves("model.layers.0.mlp.up_gate_proj.weight"),
    ),
    "Phi3 gate_up_proj as [up, gate]": (
        "phi3",
        _swap_halves("model.layers.0.mlp.gate_up_proj.weight"),
    ),
    "expert up_gate_proj as [up, gate]": (
        "qwen3_moe",
        _swap_halves("model.layers.0.mlp.experts.1.up_gate_proj.weight"),
    ),
    "experts unstacked in the wrong order": (
        "qwen2_moe",
        _experts_shifted("model.layers.0.mlp.experts", 4),
    ),
    "DeepSeek-V3 split experts: gate and up exchanged": (
        "deepseek_v3",
        lambda config, hf_state, pf_state: [
            pf_state.update(
                {
                    f"model.layers.1.mlp.experts.{e}.gate_proj.weight": pf_state[
                        f"model.layers.1.mlp.experts.{e}.up_proj.weight"
                    ],
                    f"model.layers.1.mlp.experts.{e}.up_proj.weight": pf_state[
                        f"model.layers.1.mlp.experts.{e}.gate_proj.weight"
                    ],
                }
            )
            for e in range(4)
        ],
    ),
    "GPT-OSS gate/up de-interleaved": (
        "gpt_oss",
        _gate_interleave_lost("model.layers.0.mlp.experts.gate_up_proj"),
    ),
    "square Linear weight not transposed (o_proj 64x64)": (
        "llama",
        _untransposed("model.layers.0.self_attn.o_proj.weight"),
    ),
    "Qwen3-Next query and output gate not kept together per head": (
        "qwen3_next",
        _qwen3_next_gate_apart,
    ),
}


@pytest.mark.parametrize("kind", list(NEGATIVE_CONTROLS))
def test_wrong_layout_is_caught(kind):
    arch, corrupt = NEGATIVE_CONTROLS[kind]
    hf, pf, config = copy_hf_to_pf(arch, corrupt=corrupt)
    result = relative_difference(arch, hf, pf, config)
    assert result["relative"] > WRONG, result
