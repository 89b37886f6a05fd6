"""torch Gain keeps log(scale); paddle Scale keeps the scale itself."""

import numpy as np

from padiff_gen import global_special_init_pool


@global_special_init_pool.register("torch", "Gain", "paddle", "Scale")
def init_gain_to_scale(base_model, raw_model):
    log_scale = base_model.log_scale.detach().cpu().numpy()
    raw_model.scale.set_value(np.exp(log_scale).astype("float32"))
