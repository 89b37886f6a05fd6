"""What running the blocks of a published configuration shows, as JSON.

    python -m tests_llm.block_evidence ARCH DIRECTION

For every kind of layout the shapes leave open (at the published size of ARCH, see
tests_llm/published.py), the block padiff-gen runs, the candidate it picks and the
relative difference of the block's outputs under every candidate: the evidence that
tests_llm/test_llm.py checks (the right layout agrees to float32 noise, every other one,
other orders and groupings included, misses by far more).
"""

from __future__ import annotations

import json
import sys

from tests_llm import pairs, published  # transformers before paddleformers


def evidence(arch: str, direction: str) -> list[dict]:
    from padiff_gen.analysis.evidence import block_probe, probe_models
    from padiff_gen.analysis.analyze import analyze
    from padiff_gen.api import as_proxy, map_options
    from padiff_gen.analysis.evidence.layout_probe import question_kind
    from padiff_gen.special_init import global_special_init_pool

    kwargs = published.kwargs(arch)
    hf = "torch:tests_llm.pairs.hf_model"
    pf = "paddle:tests_llm.pairs.pf_model"
    base_spec, raw_spec = (hf, pf) if direction == "hf_to_pf" else (pf, hf)
    base = as_proxy(base_spec, "base", kwargs, lazy=True)
    raw = as_proxy(raw_spec, "raw", kwargs, lazy=True)
    pairing = analyze(base, raw, map_options(), global_special_init_pool)
    probe = probe_models.ProbeModels(
        pairing, probe_models.probe_model(base), probe_models.probe_model(raw)
    )
    pairs_ = list(pairing.pairs)
    kinds: dict = {}
    for index, pair in enumerate(pairs_):
        if pair.question is not None:
            kinds.setdefault(question_kind(pair), []).append(index)
    found = []
    for indices in kinds.values():
        probe.forget()
        outcome = block_probe._decide_kind(probe, pairing, pairs_, indices, ())
        pair = pairs_[indices[0]]
        found.append(
            {
                "pair": [pair.base.path, pair.raw.path],
                "choices": [c.layout.choice for c in pair.candidates],
                "choice": outcome.choice,
                "how": outcome.how,
                "remark": outcome.remark,
                "differences": outcome.differences,
            }
        )
    return found


if __name__ == "__main__":
    print(json.dumps(evidence(sys.argv[1], sys.argv[2])))
