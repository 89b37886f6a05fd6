"""Run many generated init scripts standalone in one process, as check_script.py runs one.

    python tests/check_scripts.py JOBS.json

JOBS.json is a list of {"script", "inputs", "select", "seed", "prepare"}. For each job the
script's models are built from the specs it records, the base model gets random weights
(then ``prepare``, a dotted function name, may put back values a real model keeps fixed),
the script's init_weights copies them, and both models run on the same inputs.

One JSON line comes out: a list with, per job, the output difference (as
examples/compare.py measures it), or the error the script raised and whether the raw model
was left unchanged. Importing torch and paddle takes seconds, so sharing one process keeps a
large test matrix fast; padiff_gen is made unimportable first, as for a single script.
"""

import importlib
import importlib.util
import json
import os
import sys

sys.modules["padiff_gen"] = None  # any `import padiff_gen` now fails

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from examples.compare import output_difference, randomize  # noqa: E402


def load_script(path, index):
    spec = importlib.util.spec_from_file_location(
        f"generated_init_script_{index}", path
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def raw_state(model):
    """Copies of every tensor in the model's state dict, as numpy arrays."""
    return {
        name: np.array(tensor.detach().cpu().numpy())
        for name, tensor in model.state_dict().items()
    }


def check(job, index):
    script = load_script(job["script"], index)
    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    randomize(base, job.get("seed", 0))
    if job.get("prepare"):
        module, _, name = job["prepare"].rpartition(".")
        getattr(importlib.import_module(module), name)(base)
    before = raw_state(raw)
    try:
        script.init_weights(base, raw)
    except Exception as error:  # the script refused: raw must be as it was
        after = raw_state(raw)
        unchanged = before.keys() == after.keys() and all(
            np.array_equal(before[name], after[name]) for name in before
        )
        return {"error": f"{type(error).__name__}: {error}", "raw_unchanged": unchanged}
    return output_difference(base, raw, job["inputs"], job.get("select"))


def main():
    with open(sys.argv[1]) as file:
        jobs = json.load(file)
    results = []
    for index, job in enumerate(jobs):
        try:
            result = check(job, index)
        except Exception as error:  # reported per job, so one failure hides no other
            result = {"error": f"{type(error).__name__}: {error}"}
        result["padiff_gen_imported"] = sys.modules.get("padiff_gen") is not None
        results.append(result)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
