"""A user's initializer module: passed to padiff-gen with --init-module examples.custom_inits.

The generated script inlines init_packed_projection together with the helper and the
constant it uses, and the numpy import.
"""

import numpy as np

from padiff_gen.special_init import global_special_init_pool

PROJECTIONS = ("q", "k", "v")


def torch_rows(weight, index, count):
    """Rows [index * n, (index + 1) * n) of a packed torch weight, as numpy."""
    rows = weight.shape[0] // count
    return weight.detach().cpu().numpy()[index * rows : (index + 1) * rows]


@global_special_init_pool.register(
    "torch", "PackedProjection", "paddle", "SplitProjection"
)
def init_packed_projection(base_model, raw_model):
    for index, name in enumerate(PROJECTIONS):
        block = torch_rows(base_model.qkv, index, len(PROJECTIONS))
        getattr(raw_model, name).set_value(np.ascontiguousarray(block.T))
