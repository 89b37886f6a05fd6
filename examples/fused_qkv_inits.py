"""Initializers for examples/fused_qkv.py, both directions (docs/writing_initializers.md).

    padiff-gen emit --base torch:examples.fused_qkv.TorchAttention \
        --raw paddle:examples.fused_qkv.PaddleAttention \
        --init-module examples.fused_qkv_inits -o init_weights.py
"""

from padiff_gen.init_api import as_torch, copy_weight, register

# The order in which torch's fused weight stacks the projections: rows [0, dim) are the
# query, [dim, 2 * dim) the key, [2 * dim, 3 * dim) the value.
PROJECTIONS = ("q", "k", "v")


def validate_qkv(base_layer, raw_layer):
    """Emit-time check on the two sub-layers: None when they can be copied, else why not."""
    fused, split = (
        (base_layer, raw_layer)
        if hasattr(base_layer, "qkv")
        else (raw_layer, base_layer)
    )
    if (fused.qkv.bias is None) != (split.q.bias is None):
        return "one side has projection biases and the other not; make `bias` agree"
    if fused.qkv.weight.shape[0] != 3 * split.q.weight.shape[1]:
        return (
            f"the fused projection has {fused.qkv.weight.shape[0]} outputs, not three "
            f"times {split.q.weight.shape[1]}; build both with the same dim"
        )
    return None


def thirds(tensor):
    """torch's fused [3 * dim, ...] tensor as three views: query, key, value.

    Writing into a view writes into the fused tensor. No tensor (bias=False): no views.
    """
    if tensor is None:
        return (None, None, None)
    return as_torch(tensor).chunk(3)


@register("torch", "FusedQKV", "paddle", "SplitQKV", validate=validate_qkv)
def init_fused_qkv(base_model, raw_model):
    """base_model: a torch FusedQKV sub-layer; raw_model: the paddle SplitQKV to fill."""
    weights, biases = thirds(base_model.qkv.weight), thirds(base_model.qkv.bias)
    for name, weight, bias in zip(PROJECTIONS, weights, biases):
        projection = getattr(raw_model, name)
        # torch's Linear weight is [out, in], paddle's [in, out]: transpose.
        copy_weight(src=weight, dst=projection.weight, transform="transpose")
        if bias is not None:
            copy_weight(src=bias, dst=projection.bias)


@register("paddle", "SplitQKV", "torch", "FusedQKV", validate=validate_qkv)
def init_split_qkv(base_model, raw_model):
    """base_model: a paddle SplitQKV sub-layer; raw_model: the torch FusedQKV to fill."""
    weights, biases = thirds(raw_model.qkv.weight), thirds(raw_model.qkv.bias)
    for name, weight, bias in zip(PROJECTIONS, weights, biases):
        projection = getattr(base_model, name)
        copy_weight(src=projection.weight, dst=weight, transform="transpose")
        if bias is not None:
            copy_weight(src=projection.bias, dst=bias)
