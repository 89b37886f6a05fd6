"""The published configurations of the architectures of tests_llm/pairs.py, at their real
widths and head counts, with two layers (the layer count changes nothing that is
decided: every layer of a kind asks the same question).

    padiff-gen emit --base torch:tests_llm.pairs.hf_model \
        --base-kwargs "$(python -m tests_llm.published qwen2)" \
        --raw paddle:tests_llm.pairs.pf_model --raw-kwargs "$(python -m tests_llm.published qwen2)"

Values are those of each model's config.json on the Hugging Face Hub (the checkpoint in
``SOURCES``); what pairs.py sets for both libraries on CPU (float32, eager attention,
RoPE parameters) stays as the tiny pairs have it. padiff-gen builds these models without
weights (torch's meta device, paddle's LazyGuard), as it does any model it is given.
"""

from __future__ import annotations

import json
import sys

LAYERS = 2

SOURCES = {
    "llama": "meta-llama/Meta-Llama-3-8B",
    "qwen2": "Qwen/Qwen2-7B",
    "qwen3": "Qwen/Qwen3-8B",
    "gemma3": "google/gemma-3-4b-pt (text config)",
    "phi3": "microsoft/Phi-3-mini-4k-instruct",
    "qwen2_moe": "Qwen/Qwen1.5-MoE-A2.7B",
    "qwen3_moe": "Qwen/Qwen3-30B-A3B",
    "deepseek_v3": "deepseek-ai/DeepSeek-V3",
    "ernie4_5": "baidu/ERNIE-4.5-0.3B-PT",
    "ernie4_5_moe": "baidu/ERNIE-4.5-21B-A3B-PT",
    "gpt_oss": "openai/gpt-oss-20b",
    "glm4_moe": "zai-org/GLM-4.5-Air",
    "qwen3_next": "Qwen/Qwen3-Next-80B-A3B-Instruct",
}

CONFIGS: dict[str, dict] = {
    "llama": dict(
        hidden_size=4096,
        intermediate_size=14336,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=128256,
    ),
    "qwen2": dict(
        hidden_size=3584,
        intermediate_size=18944,
        num_attention_heads=28,
        num_key_value_heads=4,
        head_dim=128,
        vocab_size=152064,
    ),
    "qwen3": dict(
        hidden_size=4096,
        intermediate_size=12288,
        num_attention_heads=32,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151936,
    ),
    "gemma3": dict(
        hidden_size=2560,
        intermediate_size=10240,
        num_attention_heads=8,
        num_key_value_heads=4,
        head_dim=256,
        query_pre_attn_scalar=256,
        vocab_size=262208,
    ),
    "phi3": dict(
        hidden_size=3072,
        intermediate_size=8192,
        num_attention_heads=32,
        num_key_value_heads=32,
        head_dim=96,
        vocab_size=32064,
    ),
    "qwen2_moe": dict(
        hidden_size=2048,
        intermediate_size=5632,
        moe_intermediate_size=1408,
        shared_expert_intermediate_size=5632,
        num_experts=60,
        num_experts_per_tok=4,
        num_attention_heads=16,
        num_key_value_heads=16,
        head_dim=128,
        vocab_size=151936,
    ),
    "qwen3_moe": dict(
        hidden_size=2048,
        intermediate_size=6144,
        moe_intermediate_size=768,
        num_experts=128,
        num_experts_per_tok=8,
        num_attention_heads=32,
        num_key_value_heads=4,
        head_dim=128,
        vocab_size=151936,
    ),
    "deepseek_v3": dict(
        hidden_size=7168,
        intermediate_size=18432,
        moe_intermediate_size=2048,
        n_routed_experts=256,
        n_shared_experts=1,
        num_experts_per_tok=8,
        n_group=8,
        topk_group=4,
        num_attention_heads=128,
        num_key_value_heads=128,
        q_lora_rank=1536,
        kv_lora_rank=512,
        qk_rope_head_dim=64,
        qk_nope_head_dim=128,
        v_head_dim=128,
        head_dim=64,
        vocab_size=129280,
    ),
    "ernie4_5": dict(
        hidden_size=1024,
        intermediate_size=3072,
        num_attention_heads=16,
        num_key_value_heads=2,
        head_dim=64,
        vocab_size=103424,
    ),
    "ernie4_5_moe": dict(
        hidden_size=2560,
        intermediate_size=12288,
        moe_intermediate_size=1536,
        moe_num_experts=64,
        moe_k=6,
        moe_num_shared_experts=2,
        num_attention_heads=20,
        num_key_value_heads=4,
        head_dim=128,
        vocab_size=103424,
    ),
    "gpt_oss": dict(
        hidden_size=2880,
        intermediate_size=2880,
        num_local_experts=32,
        num_experts_per_tok=4,
        num_attention_heads=64,
        num_key_value_heads=8,
        head_dim=64,
        vocab_size=201088,
    ),
    "glm4_moe": dict(
        hidden_size=4096,
        intermediate_size=10944,
        moe_intermediate_size=1408,
        n_routed_experts=128,
        n_shared_experts=1,
        num_experts_per_tok=8,
        n_group=1,
        topk_group=1,
        num_attention_heads=96,
        num_key_value_heads=8,
        head_dim=128,
        vocab_size=151552,
    ),
    "qwen3_next": dict(
        hidden_size=2048,
        intermediate_size=5120,
        moe_intermediate_size=512,
        shared_expert_intermediate_size=512,
        num_experts=512,
        num_experts_per_tok=10,
        num_attention_heads=16,
        num_key_value_heads=2,
        head_dim=256,
        linear_key_head_dim=128,
        linear_value_head_dim=128,
        linear_num_key_heads=16,
        linear_num_value_heads=32,
        vocab_size=151936,
    ),
}


def kwargs(arch: str) -> dict:
    """The factory arguments of tests_llm.pairs for ``arch`` at its published size."""
    return {"arch": arch, "num_hidden_layers": LAYERS, **CONFIGS[arch]}


if __name__ == "__main__":
    print(json.dumps(kwargs(sys.argv[1])))
