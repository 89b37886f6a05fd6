"""Multi-head attention: torch MultiheadAttention <-> paddle MultiHeadAttention.

torch packs the query/key/value projections into in_proj_weight [3E, E] and in_proj_bias
[3E] (or keeps q_proj_weight, k_proj_weight, v_proj_weight when kdim or vdim differ from E);
paddle has q_proj, k_proj, v_proj and out_proj Linear layers, whose weights are [in, out].
"""

from ..runtime.core.copy_torch import as_torch, copy_tensor
from .special_init_pool import global_special_init_pool as init_pool


def torch_projection_weights(attention):
    """The query, key and value weights of a torch attention layer, each [E, in]."""
    if attention.in_proj_weight is None:
        return attention.q_proj_weight, attention.k_proj_weight, attention.v_proj_weight
    packed = as_torch(attention.in_proj_weight)
    return packed.chunk(3)


def torch_projection_biases(attention):
    if attention.in_proj_bias is None:
        return None, None, None
    return as_torch(attention.in_proj_bias).chunk(3)


def validate_attention(base_layer, raw_layer):
    """Emit-time check: same sizes, same bias choice, no torch-only extras."""
    torch_layer, paddle_layer = (
        (base_layer, raw_layer)
        if hasattr(base_layer, "in_proj_bias")
        else (raw_layer, base_layer)
    )
    if torch_layer.bias_k is not None or torch_layer.bias_v is not None:
        return (
            "torch's add_bias_kv=True has no paddle counterpart; build torch without it"
        )
    if torch_layer.add_zero_attn:
        return "torch's add_zero_attn=True has no paddle counterpart; build torch without it"
    for attribute in ("embed_dim", "kdim", "vdim", "num_heads"):
        torch_value, paddle_value = getattr(torch_layer, attribute), getattr(
            paddle_layer, attribute
        )
        if torch_value != paddle_value:
            return f"{attribute} is {torch_value} in torch but {paddle_value} in paddle"
    torch_bias = torch_layer.in_proj_bias is not None
    paddle_bias = paddle_layer.q_proj.bias is not None
    if torch_bias != paddle_bias:
        return (
            f"torch {'has' if torch_bias else 'has no'} projection biases but paddle "
            f"{'has' if paddle_bias else 'has none'}; make bias / bias_attr agree"
        )
    return None


@init_pool.register(
    "torch",
    "MultiheadAttention",
    "paddle",
    "MultiHeadAttention",
    validate=validate_attention,
)
def init_attention_torch_to_paddle(base_model, raw_model):
    projections = (raw_model.q_proj, raw_model.k_proj, raw_model.v_proj)
    weights = torch_projection_weights(base_model)
    biases = torch_projection_biases(base_model)
    for projection, weight, bias in zip(projections, weights, biases):
        copy_tensor(projection.weight, weight, "transpose")
        if bias is not None:
            copy_tensor(projection.bias, bias)
    copy_tensor(raw_model.out_proj.weight, base_model.out_proj.weight, "transpose")
    if base_model.out_proj.bias is not None:
        copy_tensor(raw_model.out_proj.bias, base_model.out_proj.bias)


@init_pool.register(
    "paddle",
    "MultiHeadAttention",
    "torch",
    "MultiheadAttention",
    validate=validate_attention,
)
def init_attention_paddle_to_torch(base_model, raw_model):
    projections = (base_model.q_proj, base_model.k_proj, base_model.v_proj)
    weights = torch_projection_weights(raw_model)
    biases = torch_projection_biases(raw_model)
    for projection, weight, bias in zip(projections, weights, biases):
        copy_tensor(weight, projection.weight, "transpose")
        if bias is not None:
            copy_tensor(bias, projection.bias)
    copy_tensor(raw_model.out_proj.weight, base_model.out_proj.weight, "transpose")
    if raw_model.out_proj.bias is not None:
        copy_tensor(raw_model.out_proj.bias, base_model.out_proj.bias)
