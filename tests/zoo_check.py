"""Run several generated scripts standalone in one process, as
examples/check_script.py does for one: padiff_gen unimportable, both models built from
the specs the script records, random base weights, the script's init_weights, outputs
compared in eval mode.

    python tests/zoo_check.py JOBS.json

JOBS.json is a list of {"script": PATH, "inputs": [[dtype, shape], ...]}. One process
for many scripts saves the 3-5 s that importing torch and paddle costs each time. Before
the comparison, torch models get paddle.vision's non-weight settings
(tests/zoo_torch.py's align_with_paddle), so that the outputs measure the copied weights
alone. Prints one JSON line per job.
"""

import gc
import json
import os
import sys
import time

sys.modules["padiff_gen"] = None  # any `import padiff_gen` now fails

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from examples.check_script import load_script  # noqa: E402
import numpy as np  # noqa: E402

from examples.compare import framework_of, forward, make_inputs  # noqa: E402
from tests.zoo_torch import align_with_paddle  # noqa: E402


def _values(rng, name: str, shape: tuple, fan_in_axes: tuple) -> np.ndarray:
    """Random values for one tensor. Weights get std sqrt(2 / fan_in) (He): with
    examples.compare.randomize's fixed std, 50-100 layers overflow float32 and every
    output turns into inf or NaN, which compares as nothing. Other tensors as there:
    std 0.5, variances positive. Drawn in float32: float64 would double the memory and
    time that VGG's 100M-weight Linear takes."""
    values = rng.standard_normal(shape, dtype=np.float32)
    if len(shape) >= 2:
        fan_in = int(np.prod([shape[axis] for axis in fan_in_axes]))
        return values * np.float32(np.sqrt(2.0 / fan_in))
    values *= 0.5
    if name.endswith(("running_var", "_variance")):
        values = np.abs(values) + 0.5
    return values


def randomize(model, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    if framework_of(model) == "torch":
        import torch

        with torch.no_grad():
            for name, tensor in model.state_dict().items():
                if tensor.is_floating_point():
                    # torch: Linear [out, in], Conv [out, in / groups, *kernel]
                    axes = tuple(range(1, tensor.ndim))
                    values = _values(rng, name, tuple(tensor.shape), axes)
                    tensor.copy_(torch.from_numpy(values).to(tensor.dtype))
        return
    for name, tensor in model.state_dict().items():
        if "float" in str(tensor.dtype):
            shape = tuple(tensor.shape)
            # paddle: Linear [in, out], Conv [out, in / groups, *kernel]
            axes = (0,) if len(shape) == 2 else tuple(range(1, len(shape)))
            values = _values(rng, name, shape, axes)
            tensor.set_value(values.astype(str(tensor.dtype).split(".")[-1]))


def compare(base, raw, input_specs) -> dict:
    """As examples.compare.output_difference, and whether every output is finite (a NaN
    drops out of a max, so NaN outputs would otherwise pass as equal)."""
    arrays = make_inputs(input_specs)
    base_out, raw_out = forward(base, arrays), forward(raw, arrays)
    if [a.shape for a in base_out] != [b.shape for b in raw_out]:
        shapes = [a.shape for a in base_out], [b.shape for b in raw_out]
        raise ValueError(f"output shapes differ: {shapes[0]} vs {shapes[1]}")
    return {
        "max_abs_diff": max(
            float(np.max(np.abs(a - b))) for a, b in zip(base_out, raw_out)
        ),
        "scale": max(float(np.max(np.abs(a))) for a in base_out),
        "finite": all(bool(np.isfinite(a).all()) for a in base_out + raw_out),
        "outputs": len(base_out),
    }


def check(job: dict) -> dict:
    script = load_script(job["script"])
    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    for model in (base, raw):
        if framework_of(model) == "torch":
            align_with_paddle(model)
    randomize(base, job.get("seed", 0))
    script.init_weights(base, raw)
    result = compare(base, raw, job["inputs"])
    result["script"] = job["script"]
    result["padiff_gen_imported"] = sys.modules.get("padiff_gen") is not None
    return result


def main() -> None:
    with open(sys.argv[1]) as jobs:
        for job in json.load(jobs):
            started = time.time()
            try:
                result = check(job)
            except (
                Exception
            ) as error:  # reported per job, so one failure hides no other
                result = {
                    "script": job["script"],
                    "error": f"{type(error).__name__}: {error}",
                }
            result["seconds"] = round(time.time() - started, 1)
            print(json.dumps(result), flush=True)
            gc.collect()


if __name__ == "__main__":
    main()
