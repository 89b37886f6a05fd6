"""Matched tiny causal LMs from Hugging Face transformers (torch) and PaddleFormers (paddle).

    padiff-gen emit --base torch:tests_llm.pairs.hf_model --base-kwargs '{"arch": "llama"}' \
        --raw paddle:tests_llm.pairs.pf_model --raw-kwargs '{"arch": "llama"}'

Each architecture in ARCHITECTURES names the model class of both libraries and ONE table of
config values given to both config classes (hidden 64, 2 layers, vocab 256, 4 query heads /
2 KV heads, 4 experts with 2 per token, float32, eager attention), plus the few values that
only one library reads (`hf_only`, `pf_only`) and the value names that differ
(`renames`: our name -> PaddleFormers' name). `config_differences` lists every shared config
key whose value still differs, for tests/test_pairs.py to check against a short, explained
allow-list. What each pair holds, tensor by tensor: tests_llm/LAYOUTS.md.

Import order matters: importing paddleformers sets transformers' `is_torch_available` to
False, after which `from transformers import LlamaForCausalLM` fails. So this module imports
every Hugging Face class it uses first, then PaddleFormers (with the paddlefleet stand-ins of
tests_llm/fleet_stub.py).

Models are built deterministically (seed 0, without touching the caller's random state) and
in float32; they also build under torch's meta device and paddle's LazyGuard, which is how
padiff-gen analyses them.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch
import transformers

from . import fleet_stub

# Every architecture both libraries implement as a dygraph causal LM (see LAYOUTS.md for the
# ones left out and why). The dict keeps the order of the report.
COMMON = {
    "vocab_size": 256,
    "hidden_size": 64,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "max_position_embeddings": 128,
    "rms_norm_eps": 1e-6,
    "pad_token_id": 0,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "attention_dropout": 0.0,
    "tie_word_embeddings": False,
    "rope_parameters": {"rope_type": "default", "rope_theta": 10000.0},
}

# MoE sizes shared by the MoE architectures: 4 routed experts, 2 per token.
MOE = {"moe_intermediate_size": 32, "num_experts_per_tok": 2}

# DeepSeek-V3's router, also GLM4-MoE's: sigmoid scores, group-limited top-k, a shared
# expert, the first layer dense.
GROUPED_ROUTER = {
    "n_routed_experts": 4,
    "n_shared_experts": 1,
    "first_k_dense_replace": 1,
    "n_group": 2,
    "topk_group": 1,
    "routed_scaling_factor": 2.5,
    "norm_topk_prob": True,
}


@dataclass(frozen=True)
class Architecture:
    """One architecture: both libraries' classes and the config values both get."""

    hf_config: str  # transformers.<name>
    hf_model: str
    pf_module: str  # paddleformers.transformers.<module>
    pf_config: str
    pf_model: str
    config: Mapping[str, Any]  # given to both config classes
    hf_only: Mapping[str, Any] = field(default_factory=dict)
    pf_only: Mapping[str, Any] = field(default_factory=dict)
    renames: Mapping[str, str] = field(default_factory=dict)  # ours -> PaddleFormers'
    # Shared config keys whose values differ but compute the same: key -> why.
    equal_in_effect: Mapping[str, str] = field(default_factory=dict)
    # PaddleFormers' attention implementation: "eager" unless it computes something else.
    pf_attention: str = "eager"
    # Run PaddleFormers' forward in train mode (under no_grad, every dropout 0) where its
    # eval-mode forward computes something else; the reason, or "".
    pf_train_mode: str = ""
    # Why a tiny model of this architecture cannot run its forward on CPU ("" if it can).
    cpu_blocker: str = ""


def _config(*parts: Mapping[str, Any], **values: Any) -> dict:
    merged: dict = {}
    for part in parts:
        merged.update(copy.deepcopy(dict(part)))
    merged.update(values)
    return merged


ARCHITECTURES: dict[str, Architecture] = {
    "llama": Architecture(
        "LlamaConfig",
        "LlamaForCausalLM",
        "llama",
        "LlamaConfig",
        "LlamaForCausalLM",
        _config(COMMON),
    ),
    "qwen2": Architecture(
        "Qwen2Config",
        "Qwen2ForCausalLM",
        "qwen2",
        "Qwen2Config",
        "Qwen2ForCausalLMDeprecated",
        _config(COMMON),
    ),
    "qwen3": Architecture(
        "Qwen3Config",
        "Qwen3ForCausalLM",
        "qwen3",
        "Qwen3Config",
        "Qwen3ForCausalLMDeprecated",
        _config(COMMON),
    ),
    "gemma3": Architecture(
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        "gemma3_text",
        "Gemma3TextConfig",
        "Gemma3ForCausalLM",
        # PaddleFormers applies one RoPE to every layer (a TODO in its Gemma3Model.forward)
        # and ignores rope_local_base_freq; Hugging Face uses a separate theta for sliding
        # layers. Both thetas are equal here, so the two compute the same function.
        _config(
            COMMON,
            tie_word_embeddings=True,
            query_pre_attn_scalar=16,
            layer_types=["sliding_attention", "full_attention"],
            sliding_window=4096,
        ),
        hf_only={
            "rope_parameters": {
                "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                "full_attention": {"rope_type": "default", "rope_theta": 10000.0},
            }
        },
        pf_only={"rope_local_base_freq": 10000.0},
        equal_in_effect={
            "rope_parameters": "Hugging Face's per-layer-type thetas are both 10000, "
            "PaddleFormers' one theta is 10000"
        },
    ),
    "phi3": Architecture(
        "Phi3Config",
        "Phi3ForCausalLM",
        "phi3",
        "Phi3Config",
        "Phi3ForCausalLM",
        _config(COMMON),
        equal_in_effect={
            "rope_parameters": "Hugging Face adds partial_rotary_factor 1.0; PaddleFormers "
            "reads config.partial_rotary_factor (also 1.0) instead"
        },
    ),
    "qwen2_moe": Architecture(
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLM",
        "qwen2_moe",
        "Qwen2MoeConfig",
        "Qwen2MoeForCausalLMDeprecated",
        _config(COMMON, MOE, num_experts=4, shared_expert_intermediate_size=48),
        equal_in_effect={
            "sliding_window": "0 vs None, unused: use_sliding_window is False on both sides"
        },
    ),
    "qwen3_moe": Architecture(
        "Qwen3MoeConfig",
        "Qwen3MoeForCausalLM",
        "qwen3_moe",
        "Qwen3MoeConfig",
        "Qwen3MoeForCausalLMDeprecated",
        _config(COMMON, MOE, num_experts=4, norm_topk_prob=True),
    ),
    "deepseek_v3": Architecture(
        "DeepseekV3Config",
        "DeepseekV3ForCausalLM",
        "deepseek_v3",
        "DeepseekV3Config",
        "DeepseekV3ForCausalLM",
        # PaddleFormers reads rope_parameters["factor"] unconditionally (the YaRN softmax
        # scale); 1.0 with mscale_all_dim 0 changes nothing.
        _config(
            COMMON,
            MOE,
            GROUPED_ROUTER,
            num_key_value_heads=4,
            kv_lora_rank=32,
            q_lora_rank=48,
            qk_rope_head_dim=8,
            qk_nope_head_dim=16,
            v_head_dim=16,
            head_dim=8,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "factor": 1.0,
            },
        ),
    ),
    "ernie4_5": Architecture(
        "Ernie4_5Config",
        "Ernie4_5ForCausalLM",
        "ernie4_5",
        "Ernie4_5Config",
        "Ernie4_5ForCausalLM",
        _config(COMMON, tie_word_embeddings=True, use_bias=False),
    ),
    "ernie4_5_moe": Architecture(
        "Ernie4_5_MoeConfig",
        "Ernie4_5_MoeForCausalLM",
        "ernie4_5_moe",
        "Ernie4_5_MoeConfig",
        "Ernie4_5_MoeForCausalLM",
        _config(
            COMMON,
            tie_word_embeddings=True,
            use_bias=False,
            # Not 32: a fused per-expert up_gate_proj of 2 x 32 = hidden would be square,
            # and with the MoE forward unable to run on a CPU nothing would tell its
            # orientation (emit refuses and asks for --layout; real configs are not
            # square: 2 x 1536 against 2560).
            moe_intermediate_size=24,
            moe_num_experts=4,
            moe_k=2,
            moe_num_shared_experts=1,
            moe_layer_start_index=1,
            moe_layer_end_index=1,
            moe_layer_interval=1,
        ),
        pf_only={"num_nextn_predict_layers": 0},
        cpu_blocker=(
            "PaddleFormers' Ernie4_5_MoeForCausalLM forward calls GPU-only kernels "
            "(see LAYOUTS.md for the exact error)"
        ),
    ),
    "gpt_oss": Architecture(
        "GptOssConfig",
        "GptOssForCausalLM",
        "gpt_oss",
        "GptOssConfig",
        "GptOssForCausalLM",
        _config(
            COMMON,
            num_local_experts=4,
            num_experts_per_tok=2,
            intermediate_size=32,
            layer_types=["sliding_attention", "full_attention"],
            sliding_window=4096,
        ),
        renames={"num_local_experts": "num_experts"},
        pf_train_mode=(
            "GptOssExperts.forward's eval branch reshapes the [tokens, experts] routing "
            "weights to [experts, batch, tokens] after `routing_weights.transpose([0, 1])`, "
            "which in paddle is the identity permutation (torch's transpose(0, 1) swaps): "
            "eval mode scrambles the routing weights; the training branch loops over the "
            "experts like Hugging Face's"
        ),
    ),
    "glm4_moe": Architecture(
        "Glm4MoeConfig",
        "Glm4MoeForCausalLM",
        "glm4_moe",
        "Glm4MoeConfig",
        "Glm4MoeForCausalLMDeprecated",
        _config(
            COMMON,
            MOE,
            GROUPED_ROUTER,
            use_qk_norm=True,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.5,
            },
            partial_rotary_factor=0.5,
        ),
    ),
    "qwen3_next": Architecture(
        "Qwen3NextConfig",
        "Qwen3NextForCausalLM",
        "qwen3_next",
        "Qwen3NextConfig",
        "Qwen3NextForCausalLM",
        _config(
            COMMON,
            MOE,
            num_experts=4,
            shared_expert_intermediate_size=48,
            norm_topk_prob=True,
            layer_types=["linear_attention", "full_attention"],
            linear_conv_kernel_dim=4,
            linear_key_head_dim=16,
            linear_value_head_dim=16,
            linear_num_key_heads=2,
            linear_num_value_heads=4,
            rope_parameters={
                "rope_type": "default",
                "rope_theta": 10000.0,
                "partial_rotary_factor": 0.25,
            },
            partial_rotary_factor=0.25,
        ),
        # Qwen3NextModel.forward hands `causal_mask = None` to every full-attention layer:
        # eager attention then attends to every position, later ones too; paddle's sdpa
        # makes itself causal when it gets no mask.
        pf_attention="sdpa",
    ),
}

# Import every Hugging Face model class now, before paddleformers exists in this process.
_HF_CLASSES = {
    name: (getattr(transformers, arch.hf_config), getattr(transformers, arch.hf_model))
    for name, arch in ARCHITECTURES.items()
}

fleet_stub.install()
_PF_MODULES = {
    name: importlib.import_module(f"paddleformers.transformers.{arch.pf_module}")
    for name, arch in ARCHITECTURES.items()
}


def architecture(arch: str) -> Architecture:
    try:
        return ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(
            f"unknown arch {arch!r}; tests_llm.pairs knows {', '.join(ARCHITECTURES)}"
        ) from None


def hf_config(arch: str, **overrides: Any):
    """The Hugging Face config of `arch`: float32, eager attention."""
    spec = architecture(arch)
    values = _config(spec.config, spec.hf_only, overrides)
    config_class, _ = _HF_CLASSES[arch]
    config = config_class(**values)
    config._attn_implementation = "eager"
    config.dtype = torch.float32
    return config


def pf_config(arch: str, **overrides: Any):
    """The PaddleFormers config of `arch`: float32, eager attention, no GPU-only fusions."""
    spec = architecture(arch)
    values = _config(spec.config, spec.pf_only, overrides)
    for ours, theirs in spec.renames.items():
        if ours in values:
            values[theirs] = values.pop(ours)
    values.update(
        dtype="float32",
        fuse_rms_norm=False,
        fuse_swiglu=False,
        use_fused_rope=False,
        use_flash_attention=False,
    )
    config = getattr(_PF_MODULES[arch], spec.pf_config)(**values)
    config._attn_implementation = spec.pf_attention
    return config


@contextlib.contextmanager
def _seeded(seed: int = 0):
    """Deterministic weights, leaving the caller's random state as it was."""
    import paddle

    paddle_state = paddle.get_rng_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        paddle.seed(seed)
        try:
            yield
        finally:
            paddle.set_rng_state(paddle_state)


def hf_model(arch: str = "llama", **overrides: Any) -> torch.nn.Module:
    """The tiny Hugging Face model of `arch` (a *ForCausalLM, float32, eval mode)."""
    _, model_class = _HF_CLASSES[arch]
    with _seeded():
        model = model_class(hf_config(arch, **overrides))
    return model.eval()


def pf_model(arch: str = "llama", **overrides: Any):
    """The tiny PaddleFormers model of `arch` (a dygraph *ForCausalLM, float32, eval mode)."""
    import paddle

    spec = architecture(arch)
    model_class = getattr(_PF_MODULES[arch], spec.pf_model)
    previous = paddle.get_default_dtype()
    paddle.set_default_dtype("float32")
    try:
        with _seeded():
            model = model_class(pf_config(arch, **overrides))
    finally:
        paddle.set_default_dtype(previous)
    model.eval()
    return model


# Shared config keys whose values may differ, with the reason they do not change the eval
# forward. Everything else both configs hold must be equal (tests_llm/test_pairs.py).
ALLOWED_DIFFERENCES = {
    "return_dict": "what forward returns (a tuple or an output object), not the values",
    "router_aux_loss_coef": "a training loss weight",
    "dtype": "both build float32 (paddle's config stores the string, torch's the dtype)",
    "_attn_implementation": "eager on both sides (set after construction)",
    "transformers_version": "metadata",
    "paddleformers_version": "metadata",
    "architectures": "metadata",
    "use_cache": "the KV cache is not used by a single forward",
    "output_router_logits": "an extra output for the training loss",
}


def config_differences(arch: str) -> dict[str, tuple[Any, Any]]:
    """Shared config keys (after renames) whose values differ: key -> (hf, pf)."""
    spec = architecture(arch)
    hf = hf_config(arch).to_dict()
    pf = pf_config(arch).to_dict()
    for ours, theirs in spec.renames.items():
        if theirs in pf:
            pf[ours] = pf.pop(theirs)
    return {
        key: (hf[key], pf[key])
        for key in sorted(set(hf) & set(pf))
        if hf[key] != pf[key]
        and key not in ALLOWED_DIFFERENCES
        and key not in spec.equal_in_effect
    }
