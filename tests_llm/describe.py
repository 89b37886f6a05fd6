"""Print the measured part of tests_llm/LAYOUTS.md: what each pair holds, tensor by tensor.

    python -m tests_llm.describe [ARCH ...] > facts.md

Per architecture and side: the model class, the build time (normal, and whether it builds
under torch's meta device / paddle's LazyGuard), one forward's time, tied tensors, the
non-layer tensors and every distinct decoder layer's tensors in definition order with
their shapes and owning classes, and the attention / MLP attributes. Test-only, read by
people; nothing imports it.
"""

from __future__ import annotations

import re
import sys
import time

from tests_llm import harness, pairs

ATTRIBUTES = (
    "num_heads",
    "num_attention_heads",
    "num_key_value_heads",
    "num_key_value_groups",
    "head_dim",
    "scaling",
    "sliding_window",
    "is_causal",
    "qk_head_dim",
    "q_head_dim",
    "softmax_scale",
)


def _owners(model) -> dict[str, str]:
    """Tensor name -> class name of the layer that holds it."""
    owners = {}
    for prefix, layer in (
        model.named_modules()
        if harness.is_torch(model)
        else (model.named_sublayers(include_self=True))
    ):
        for name in layer.state_dict().keys():
            if "." not in name:
                cls = type(layer)
                where = cls.__module__
                own = (
                    where.startswith(("torch.nn.", "paddle.nn.")) or where == "builtins"
                )
                label = cls.__name__ if own else f"{where}.{cls.__name__}"
                owners[f"{prefix}.{name}" if prefix else name] = label
    return owners


def _layer_kinds(names: list[str]) -> list[str]:
    """The first layer index of each distinct decoder-layer pattern (dense, MoE, ...)."""
    kinds: dict[tuple, str] = {}
    by_layer: dict[str, list[str]] = {}
    for name in names:
        match = re.match(r"model\.layers\.(\d+)\.(.*)", name)
        if match:
            by_layer.setdefault(match.group(1), []).append(match.group(2))
    for index, rest in by_layer.items():
        key = tuple(re.sub(r"experts\.\d+\.", "experts.N.", r) for r in rest)
        kinds.setdefault(key, index)
    return list(kinds.values())


def _attributes(model) -> list[str]:
    lines = []
    layers = (
        model.named_modules() if harness.is_torch(model) else model.named_sublayers()
    )
    for prefix, layer in layers:
        if not re.fullmatch(r"model\.layers\.\d+\.(self_attn|linear_attn|mlp)", prefix):
            continue
        found = {a: getattr(layer, a) for a in ATTRIBUTES if hasattr(layer, a)}
        if found:
            values = ", ".join(f"{k}={v}" for k, v in found.items())
            lines.append(f"  - `{prefix}` ({type(layer).__name__}): {values}")
    return lines


def _lazy(arch: str, side: str) -> str:
    import paddle
    import torch

    try:
        if side == "hf":
            with torch.device("meta"):
                pairs.hf_model(arch)
        else:
            with paddle.LazyGuard():
                pairs.pf_model(arch)
        return "yes"
    except Exception as error:  # reported, not raised: this is a survey
        return f"no ({type(error).__name__}: {str(error).splitlines()[0][:160]})"


def describe(arch: str) -> list[str]:
    spec = pairs.ARCHITECTURES[arch]
    out = [f"### {arch}", ""]
    config = pairs.hf_config(arch)
    ids = harness.token_ids(config.vocab_size)
    for side in ("hf", "pf"):
        start = time.perf_counter()
        model = pairs.hf_model(arch) if side == "hf" else pairs.pf_model(arch)
        built = time.perf_counter() - start
        forward = "not run (CPU blocker)"
        if not spec.cpu_blocker:
            start = time.perf_counter()
            harness.logits(model, ids, side == "pf" and bool(spec.pf_train_mode))
            forward = f"{time.perf_counter() - start:.2f} s"
        cls = type(model)
        library = "transformers" if side == "hf" else "PaddleFormers"
        out.append(
            f"**{library}** `{cls.__module__}.{cls.__name__}`: build {built:.2f} s, "
            f"one forward {forward}, lazy build (meta / LazyGuard): {_lazy(arch, side)}"
        )
        state = model.state_dict()
        names = list(state)
        tied = {n: g for n, g in harness.tied_names(model).items() if len(g) > 1}
        out.append(
            f"- tied: {sorted({' = '.join(g) for g in tied.values()}) or 'nothing'}"
        )
        owners = _owners(model)
        kinds = _layer_kinds(names)
        shown = [n for n in names if not n.startswith("model.layers.")]
        for index in kinds:
            shown += [
                n
                for n in names
                if n.startswith(f"model.layers.{index}.")
                and not re.search(r"experts\.[1-9]\d*\.", n)
            ]
        out.append(
            f"- tensors (non-layer, then layers {', '.join(kinds)}; experts: only 0):"
        )
        for name in names:
            if name in shown:
                shape = list(state[name].shape)
                out.append(f"  - `{name}` {shape} {owners.get(name, '?')}")
        embedding = model.get_input_embeddings()
        padding = getattr(
            embedding, "padding_idx", getattr(embedding, "_padding_idx", "?")
        )
        out.append(f"- embedding padding_idx: {padding}")
        out += _attributes(model)
        out.append("")
    return out


def main(argv: list[str]) -> None:
    for arch in argv or list(pairs.ARCHITECTURES):
        print("\n".join(describe(arch)))


if __name__ == "__main__":
    main(sys.argv[1:])
