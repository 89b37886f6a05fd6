"""Run generated init scripts standalone on the pairs of tests_llm/pairs.py, in one process.

    python -m tests_llm.check_generated JOBS.json

JOBS.json is a list of {"script", "arch", "direction"} (direction "hf_to_pf" or
"pf_to_hf"). For each job the script's own specs build both models
(`script.build_model(script.BASE_SPEC)`), every base tensor gets a random value,
`script.init_weights(base, raw)` copies, and both models run on the same token ids. The raw
state is also compared with tests_llm/reference.py's hand copy of the same base weights, so
that an architecture whose forward cannot run on CPU is still judged, tensor by tensor.

One JSON line comes out: per job, the logits difference (harness.difference) or why there
is none, the names where the raw state differs from the hand copy, or the error the script
raised. padiff_gen is made unimportable first, as in tests/check_scripts.py; torch, paddle,
transformers and PaddleFormers are imported once for all jobs.
"""

import importlib.util
import json
import os
import sys

sys.modules["padiff_gen"] = None  # any `import padiff_gen` now fails

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from tests_llm import harness, pairs, reference  # noqa: E402


def load_script(path, index):
    spec = importlib.util.spec_from_file_location(f"generated_llm_script_{index}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_mismatches(job, base, raw):
    """Raw tensors that differ from the hand copy of the base weights (at most 5 names)."""
    arch = job["arch"]
    config = pairs.hf_config(arch)
    base_state, raw_state = harness.state_arrays(base), harness.state_arrays(raw)
    if job["direction"] == "hf_to_pf":
        expected = reference.hf_to_pf(arch, config, base_state, list(raw_state))
    else:
        expected = reference.pf_to_hf(arch, config, base_state, list(raw_state))
        zero_paddle_padding_rows(base, expected)
    wrong = [
        name
        for name, value in expected.items()
        if not np.array_equal(value.astype(raw_state[name].dtype), raw_state[name])
    ]
    return {"reference_mismatches": wrong[:5], "reference_mismatch_count": len(wrong)}


def zero_paddle_padding_rows(pf, expected):
    """PaddleFormers' Embedding outputs zeros at its padding_idx whatever the row holds,
    so a Hugging Face model looks up the same only with that row zero: the faithful
    copy zeroes it, so the expected state does too. Not where a head is tied to the
    embedding in both models: the head needs the row as it is (the script copies it so,
    and notes that looking up the padding token differs)."""
    import paddle

    for path, layer in pf.named_sublayers():
        padding = getattr(layer, "_padding_idx", None)
        name = f"{path}.weight"
        if not isinstance(layer, paddle.nn.Embedding) or padding is None:
            continue
        if name not in expected:
            continue
        table = expected[name]
        tied = [
            other
            for other, value in expected.items()
            if other != name
            and value.shape == table.shape
            and np.array_equal(value, table)
        ]
        if not tied:
            expected[name] = table.copy()
            expected[name][padding] = 0


def check(job, index):
    arch = pairs.architecture(job["arch"])
    script = load_script(job["script"], index)
    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    harness.randomize(base, 0)
    try:
        script.init_weights(base, raw)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}
    result = reference_mismatches(job, base, raw)
    if arch.cpu_blocker:
        result["logits"] = f"not run: {arch.cpu_blocker}"
        return result
    hf, pf = (base, raw) if job["direction"] == "hf_to_pf" else (raw, base)
    ids = harness.token_ids(pairs.hf_config(job["arch"]).vocab_size)
    hf_logits = harness.logits(hf, ids)
    pf_logits = harness.logits(pf, ids, bool(arch.pf_train_mode))
    if job["direction"] == "hf_to_pf":
        result["logits"] = harness.difference(hf_logits, pf_logits)
    else:
        result["logits"] = harness.difference(pf_logits, hf_logits)
    return result


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
