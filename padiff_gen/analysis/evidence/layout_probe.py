"""Deciding layouts that shapes cannot tell apart, by running both models.

A fused qkv tensor whose parts lie one after the other has the same shape as one grouped
per KV head; only what the model computes tells them apart. When analysis leaves such
questions (:attr:`padiff_gen.plan.plan.Pairing.undecided`) and the models are small enough,
both are built with weights, the base model gets random weights, and each combination
of candidate layouts is copied in and both models run on the same input: the layouts
whose outputs agree are the answer. Questions of the same kind (the same classes,
shapes and choices: every layer of a model) are answered together.

The input is the user's ``--input``, else a guess from the base model's first layer
(token ids for an Embedding, [2, 4, n] or [2, n] floats for a Linear, images for a
conv); a guess that does not run is no evidence, and the question stays.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
import os
from typing import Any, Callable, Optional, Sequence

import numpy as np

from ...plan.choices import decided, question
from ...errors import MappingError, Side
from ...knowledge.frameworks import adapter, framework_of_layer
from ...load.inputs import InputSpec, make_inputs
from ...load.load import build_model
from ...knowledge.layer_kinds import WEIGHT_ROLES
from ...plan.plan import Pairing, TensorRef, Unit, UnitPair
from ..proxy import ProxyModel
from ..walk import collect_units, layers_by_path
from .weights import flatten_outputs, randomize_weights

# Models larger than this (parameters, each) are not built with weights to probe.
PROBE_MAX_ELEMENTS = 1 << 26
# Combinations of layouts tried at most.
MAX_COMBINATIONS = 128
# Outputs agree when max |raw - base| <= PROBE_TOLERANCE * max |base|: fp32 models of
# this size agree to ~1e-6 relative across the frameworks, a wrong layout by O(1).
PROBE_TOLERANCE = 1e-3
# A wrong layout can miss by far less than O(1) where its layer adds little to the output
# (DeepSeek-V3's routed experts, scaled by small router weights: 6e-4 of the logits'
# scale against 9e-7 for the right one). A layout agrees only within SEPARATION times
# the closest one's difference, or within NOISE (fp32 across the frameworks) of zero.
SEPARATION = 10
NOISE = 1e-5
SEED = 0
TOKENS = 8
# Sizes of the images (or sequences) tried on a model that starts with a conv.
IMAGE_SIZES = (4, 8, 16, 32, 64, 224)


def question_kind(pair: UnitPair) -> tuple:
    """Pairs of one kind get one answer (every layer of the model)."""
    return (
        pair.base.class_name,
        pair.raw.class_name,
        pair.base.shapes,
        pair.raw.shapes,
        tuple(c.layout.choice for c in pair.candidates),
    )


def _elements(pairing: Pairing) -> int:
    units = pairing.base_units + pairing.raw_units
    return (
        max(
            sum(math.prod(t.shape) for u in pairing.base_units for t in u.tensors),
            sum(math.prod(t.shape) for u in pairing.raw_units for t in u.tensors),
        )
        if units
        else 0
    )


def guess_inputs(model: Any) -> list[list[InputSpec]]:
    """Inputs that a model starting with its first layer with weights may take."""
    return guess_inputs_for(collect_units(model))


def guess_inputs_for(units: Sequence[Unit]) -> list[list[InputSpec]]:
    """Inputs that a layer holding ``units`` (in definition order) may take: those its
    first unit of a known kind would take; nothing when no unit says."""
    for unit in units:
        found = _inputs_of(unit)
        if found:
            return found
    return []


def _inputs_of(unit: Unit) -> list[list[InputSpec]]:
    """Inputs a layer starting with ``unit`` may take, from its kind and weight."""
    weight = main_weight(unit)
    if weight is None:
        return []
    shape = weight.shape
    if unit.kind == "embedding" and len(shape) == 2:
        return [[InputSpec((1, TOKENS), "int64", shape[0])]]
    if unit.kind == "conv" and len(shape) >= 3:
        channels = shape[1] * unit.groups
        dims = len(shape) - 2
        return [[InputSpec((2, channels) + (size,) * dims)] for size in IMAGE_SIZES]
    if unit.kind == "linear" and len(shape) == 2:
        width = shape[1] if unit.layout == "out_in" else shape[0]
        return [[InputSpec((2, 4, width))], [InputSpec((2, width))]]
    if unit.kind == "layer_norm" and len(shape) == 1:
        width = shape[0]  # normalised over its last axis
        return [[InputSpec((2, 4, width))], [InputSpec((2, width))]]
    return []


def main_weight(unit: Unit) -> Optional[TensorRef]:
    """The tensor that says a unit's input size: its weight, or under weight
    normalisation its direction (``weight_v``, of the weight's shape; ``weight_g`` only
    holds the norms)."""
    for role in WEIGHT_ROLES:
        for tensor in unit.tensors:
            if tensor.name == role:
                return tensor
    return None


def _first_output(outputs: Any) -> Optional[np.ndarray]:
    """The first tensor of a model's outputs (logits, say), as float64."""
    arrays = flatten_outputs(outputs)
    return arrays[0] if arrays else None


def run(
    model: Any,
    arrays: Sequence[np.ndarray],
    watched: Sequence[str] = (),
    received: Optional[dict[str, list[np.ndarray]]] = None,
) -> dict[str, np.ndarray]:
    """The first output of the model (key "") and of each watched sub-layer (by path),
    in eval mode. What the model computed before failing on these inputs is kept: a
    library layer that cannot run here (a GPU-only kernel) hides only what follows.
    ``received``, when given, gets the tensor arguments each watched layer was called
    with (for :func:`replay`)."""
    framework = adapter(framework_of_layer(model))
    found: dict[str, np.ndarray] = {}
    layers = layers_by_path(model)
    handles = []
    for path in watched:
        layer = layers.get(path)
        if layer is None:
            continue

        def record(layer, inputs, output, path=path):
            if path not in found:
                value = _first_output(output)
                if value is not None:
                    found[path] = value
                if received is not None:
                    received[path] = [_argument(a) for a in inputs]

        handles.append(framework.post_hook(layer, record))
    try:
        model.eval()
        output = framework.run(model, *[framework.tensor(a) for a in arrays])
        value = _first_output(output)
        if value is not None:
            found[""] = value
    except Exception:  # a guessed input the model does not take, or a layer that fails
        pass
    finally:
        for handle in handles:
            handle.remove()
    return found


def _checks_shapes(model: Any) -> bool:
    """Whether the model's framework checks the shapes its layers get (torch)."""
    return adapter(framework_of_layer(model)).checks_shapes


def _argument(value: Any) -> Optional[np.ndarray]:
    """A layer's tensor argument as an array of its own dtype (bfloat16 as float32);
    None for anything else."""
    if hasattr(value, "is_floating_point") and hasattr(value, "numpy"):
        if value.is_floating_point():
            value = (
                value.float() if hasattr(value, "float") else value.astype("float32")
            )
        if hasattr(value, "detach"):
            value = value.detach().cpu()
        return np.array(value.numpy())
    return None


def replay(
    model: Any, path: str, arguments: Sequence[np.ndarray]
) -> Optional[np.ndarray]:
    """The first output of the model's layer at ``path`` called alone, in eval mode, on
    ``arguments`` (what its counterpart in the other model received); None when it does
    not run on them. A layer the whole model never reached (it failed before, in a
    kernel this machine lacks) still shows its layout this way."""
    layer = layers_by_path(model).get(path)
    if layer is None or not arguments or any(a is None for a in arguments):
        return None
    framework = adapter(framework_of_layer(model))
    try:
        output = framework.run(layer, *[framework.tensor(a) for a in arguments])
    except Exception:  # a layer that needs more than its positional tensors
        return None
    return _first_output(output)


def _relative_difference(expected: np.ndarray, got: Optional[np.ndarray]) -> float:
    if got is None or got.shape != expected.shape:
        return math.inf
    scale = float(np.abs(expected).max()) or 1.0
    return float(np.abs(got - expected).max()) / scale


def watched_layers(pair: UnitPair) -> Optional[tuple[str, str]]:
    """(base path, raw path) of the layer holding a questioned pair: its output shows
    whether a layout is right (the attention around a fused qkv_proj)."""
    base, raw = _parent(pair.base), _parent(pair.raw)
    return (base, raw) if base and raw else None


def _parent(unit: Unit) -> str:
    """The path of the layer holding a unit (of a merged unit: holding all its members)."""
    paths = unit.members or (unit.path,)
    parents = [path.rpartition(".")[0].split(".") for path in paths]
    return ".".join(os.path.commonprefix(parents))  # (of lists: element by element)


def _with_weights(proxy: ProxyModel, role: str) -> Optional[Any]:
    """A private copy of the model with storage for its weights, or None."""
    if proxy.spec is not None:
        return build_model(proxy.spec, lazy=False, role=role).model
    model = copy.deepcopy(proxy.model)
    tensors = list(model.state_dict().values())
    if any(getattr(t, "is_meta", False) for t in tensors):
        return None
    if any(hasattr(t, "_is_initialized") and not t._is_initialized() for t in tensors):
        return None
    return model


class InitializerFailed(Exception):
    """A special initializer raised while both models ran: a bug in that initializer."""

    def __init__(self, pair: UnitPair, error: Exception) -> None:
        self.pair, self.error = pair, error
        super().__init__(str(error))


def _probe_models(base: ProxyModel, raw: ProxyModel) -> Optional[tuple[Any, Any]]:
    """Private copies of both models with weights, the base one random; None when the
    models were given without storage for their weights."""
    base_model = _with_weights(base, "base")
    raw_model = _with_weights(raw, "raw")
    if base_model is None or raw_model is None:
        return None
    randomize_weights(base_model, SEED)
    return base_model, raw_model


def apply_pairs(pairs: Sequence[UnitPair], base: Any, raw: Any) -> None:
    """Copy base into raw as the pairs say, in-process, with the script's own runtime.

    Raises InitializerFailed when a special initializer raises."""
    from ...runtime.core import common, rows

    for pair in pairs:
        if pair.initializer is not None:
            try:
                pair.initializer.func(
                    common.get_layer(base, pair.base.path),
                    common.get_layer(raw, pair.raw.path),
                )
            except Exception as error:
                raise InitializerFailed(pair, error) from error
    read = lambda path: common.get_tensor(base, path)  # noqa: E731
    for pair in pairs:  # (paddle tensors take part through DLPack, as in scripts)
        for row_copy in pair.copies:
            row = (
                row_copy.base_path,
                row_copy.raw.path,
                row_copy.transform.text(),
                row_copy.base_shape,
                None,
            )
            rows.fill_raw_tensor(common.get_tensor(raw, row_copy.raw.path), row, read)


def _remark(pairing: Pairing, text: str) -> Pairing:
    """The pairing with ``text`` said of every open question, after what running their
    blocks alone found (:mod:`padiff_gen.analysis.evidence.block_probe`)."""

    def remarked(pair: UnitPair) -> MappingError:
        before = getattr(pair.question, "remark", "")
        large = getattr(pair.question, "too_large", False)
        said = " " + " ".join(filter(None, (before, text)))
        error = question(pair, _what(pair), said, large)
        error.remark = before
        return error

    pairs = tuple(
        (dataclasses.replace(p, question=remarked(p)) if p.question is not None else p)
        for p in pairing.pairs
    )
    return dataclasses.replace(pairing, pairs=pairs)


def _what(pair: UnitPair) -> str:
    return getattr(pair.question, "what", "fused")


# A conditional correspondence (a conv computing a Linear) whose outputs differ by more
# than this, of their scale, is refuted: a wrong copy is off by O(1), a setting that
# differs elsewhere (an eps) by far less.
REFUTED = 1e-2
CHECKED = "checked by running both models"


def conditional(pair: UnitPair) -> bool:
    """Is the pair copied by rows that are exact only under a condition, unchecked?"""
    return pair.error is None and any(
        c.condition and "checked by running" not in c.condition for c in pair.copies
    )


def checked(pair: UnitPair, how: str = CHECKED) -> UnitPair:
    """The pair with its conditional rows marked checked, ``how``."""
    copies = tuple(
        (
            dataclasses.replace(c, condition=f"{c.condition}; {how}")
            if c.condition
            else c
        )
        for c in pair.copies
    )
    return dataclasses.replace(pair, copies=copies)


def _sides(pair: UnitPair) -> tuple[Side, Side]:
    return (
        Side(pair.base.path, pair.base.class_name, pair.base.shapes),
        Side(pair.raw.path, pair.raw.class_name, pair.raw.shapes),
    )


def _refuted(pair: UnitPair, difference: float, specs: Sequence[InputSpec]) -> UnitPair:
    return refuted(
        pair,
        difference,
        f"running both models on input {' '.join(s.describe() for s in specs)}",
    )


def refuted(pair: UnitPair, difference: float, run: str) -> UnitPair:
    """The pair with the error of a conditional copy that ``run`` showed wrong."""
    condition = next(c.condition for c in pair.copies if c.condition)
    return dataclasses.replace(
        pair,
        error=MappingError(
            f"base `{pair.base.path}` ({pair.base.class_name}) and raw "
            f"`{pair.raw.path}` ({pair.raw.class_name}) correspond only "
            f"conditionally ({condition}), and {run} with that copy made their outputs "
            f"differ by {difference:.2g} of their scale: here they do not compute the "
            "same function.",
            "Give both models the same kind of layer there, or register an initializer "
            "for the pair (--init-module) and map it (--map BASE_PATH=RAW_PATH).",
            *_sides(pair),
        ),
    )


def decide_by_probe(
    pairing: Pairing,
    base: ProxyModel,
    raw: ProxyModel,
    inputs: Sequence[InputSpec] = (),
) -> Pairing:
    """The pairing with its undecided layouts decided, and its conditional rows (a conv
    computing a Linear) checked, by running both models where that is possible;
    otherwise the questions say why it was not, and conditional rows stay unchecked."""
    checks = [i for i, pair in enumerate(pairing.pairs) if conditional(pair)]
    if not (pairing.undecided or checks) or any(
        p.error is not None for p in pairing.pairs
    ):
        return pairing
    kinds: dict[tuple, list[int]] = {}
    for index, pair in enumerate(pairing.pairs):
        if pair.question is not None:
            kinds.setdefault(question_kind(pair), []).append(index)
    choices = [len(pairing.pairs[indices[0]].candidates) for indices in kinds.values()]
    if math.prod(choices) > MAX_COMBINATIONS:
        return _remark(
            pairing,
            f"({math.prod(choices)} combinations of layouts are too many to try by "
            "running the models.)",
        )
    if _elements(pairing) > PROBE_MAX_ELEMENTS:
        return _remark(pairing, "(The models are too large to run here to find out.)")
    models = _probe_models(base, raw)
    if models is None:
        return _remark(
            pairing,
            "(The models were given without weights, so they cannot be run to find "
            "out.)",
        )
    base_model, raw_model = models
    watched = sorted(
        {w for i in kinds.values() if (w := watched_layers(pairing.pairs[i[0]]))}
    )
    tried = [list(inputs)] if inputs else guess_inputs(base_model)
    results: list = []
    for specs in tried:  # the first input both models run on
        try:
            results = _try_combinations(
                pairing, kinds, choices, watched, specs, base_model, raw_model
            )
        except InitializerFailed as failed:
            return _initializer_failed(pairing, failed)
        if any(math.isfinite(r[0]) for r in results):
            break
    else:
        how = (
            f"with --input {' '.join(s.describe() for s in inputs)}"
            if inputs
            else "on any input padiff-gen could guess"
        )
        return _remark(pairing, f"(Both models did not run {how}.)")
    agreeing = _agreeing(results, lambda r: r[0])
    if kinds and not agreeing:
        return _decided_layer_by_layer(pairing, kinds, results, specs)
    if kinds and len(agreeing) == len(results):
        return _remark(
            pairing,
            f"(Running both models on input {' '.join(s.describe() for s in specs)} "
            f"with each of the {len(results)} combinations of layouts did not single "
            "one out: all of them agree, so the input does not exercise these layers.)",
        )
    # A kind is decided when every agreeing combination copies its pairs alike; the
    # others stay questions (their layers made no difference on this input, or were
    # not reached).
    open_kinds = {
        kind: indices
        for kind, indices in kinds.items()
        if len({_rows_of(r[2], {kind: indices}) for r in agreeing}) > 1
    }
    best = min(agreeing or results, key=lambda r: r[0])
    unsettled = {index for indices in open_kinds.values() for index in indices}
    found = [
        (
            decided(pair, pair.candidates[choice], "found by running both models")
            if pair.question is not None and index not in unsettled
            else pair
        )
        for index, (pair, choice) in enumerate(_choices(pairing, kinds, best[1]))
    ]
    if unsettled:
        distinct = len({_rows_of(r[2], open_kinds) for r in agreeing})
        text = (
            f"(Running both models on input {' '.join(s.describe() for s in specs)}, "
            f"{distinct} different layouts of these layers made their outputs agree: "
            "that input does not tell them apart (a sequence of one token, say), or "
            "the layers did not run on this machine; give an --input that exercises "
            "them, or choose the layout.)"
        )
        return _remark(dataclasses.replace(pairing, pairs=tuple(found)), text)
    for index in checks:
        if REFUTED < best[0] < math.inf:
            found[index] = _refuted(found[index], best[0], specs)
        elif best[0] <= PROBE_TOLERANCE:
            found[index] = checked(found[index])
    return dataclasses.replace(pairing, pairs=tuple(found))


def _initializer_failed(pairing: Pairing, failed: InitializerFailed) -> Pairing:
    """The pairing with the error of an initializer that raised while the models ran."""
    pair = failed.pair
    entry = pair.initializer
    error = MappingError(
        f"The special initializer `{entry.name}` ({entry.origin}) for base "
        f"`{pair.base.path}` ({pair.base.class_name}) / raw `{pair.raw.path}` "
        f"({pair.raw.class_name}) raised {type(failed.error).__name__}: "
        f"{str(failed.error).strip()} when padiff-gen ran both models to decide the "
        "layouts shapes cannot tell.",
        "Fix the initializer (--debug shows the traceback); the generated script "
        "would fail the same way.",
        *_sides(pair),
    )
    pairs = tuple(
        dataclasses.replace(p, error=error) if p is pair else p for p in pairing.pairs
    )
    return dataclasses.replace(pairing, pairs=pairs)


def _try_combinations(
    pairing: Pairing,
    kinds: dict,
    choices: Sequence[int],
    watched: Sequence[tuple[str, str]],
    specs: Sequence[InputSpec],
    base_model: Any,
    raw_model: Any,
) -> list[tuple[float, tuple, list, dict]]:
    """(largest relative difference, combination, pairs, differences of each watched
    layer run alone) of each combination of candidate layouts, both models run on
    ``specs`` (inf where they could not be compared)."""
    arrays = make_inputs(specs, SEED)
    base_received: dict[str, list[np.ndarray]] = {}
    # No paddle model runs on an input its torch partner does not run through: paddle
    # checks fewer shapes than torch, and an image smaller than a network's receptive
    # field (4x4 into paddle.vision's InceptionV3) reaches its CPU kernels with negative
    # sizes and corrupts the process's memory instead of raising.
    if _checks_shapes(raw_model) and "" not in run(raw_model, arrays):
        return []
    expected = run(base_model, arrays, [b for b, _ in watched], base_received)
    if _checks_shapes(base_model) and "" not in expected:
        return []
    compared = [("", "")] + list(watched)
    results = []
    for combination in itertools.product(*[range(n) for n in choices]):
        pairs = list(pairing.pairs)
        for indices, choice in zip(kinds.values(), combination):
            for index in indices:
                pairs[index] = decided(pairs[index], pairs[index].candidates[choice])
        raw_received: dict[str, list[np.ndarray]] = {}
        try:
            apply_pairs(pairs, base_model, raw_model)
            got = run(raw_model, arrays, [r for _, r in watched], raw_received)
        except InitializerFailed:
            raise
        except Exception:  # a layout that does not even copy
            got = {}
        # What both models computed: a library layer that fails on this machine (a
        # GPU-only kernel) hides what follows it, on one side or both. A watched layer
        # one model did not reach is replayed alone on what the other one gave it.
        differences = []
        alone: dict[tuple[str, str], float] = {}
        for b, r in compared:
            base_output, raw_output = expected.get(b), got.get(r)
            if b and base_output is None and r in raw_received:
                base_output = replay(base_model, b, raw_received[r])
            if r and raw_output is None and b in base_received:
                raw_output = replay(raw_model, r, base_received[b])
            if base_output is not None and raw_output is not None:
                differences.append(_relative_difference(base_output, raw_output))
            if b and base_output is not None:
                # The layer on exactly what its base counterpart received: a difference
                # upstream (another layout, a setting) does not reach it.
                isolated = replay(raw_model, r, base_received.get(b, []))
                if isolated is not None or raw_output is not None:
                    alone[b, r] = _relative_difference(
                        base_output, isolated if isolated is not None else raw_output
                    )
        results.append((max(differences, default=math.inf), combination, pairs, alone))
    return results


def _agreeing(results: list, difference: Callable[[tuple], float]) -> list:
    """The results whose difference is within PROBE_TOLERANCE and within SEPARATION
    times the closest one's (or NOISE)."""
    if not results:
        return []
    closest = min(difference(r) for r in results)
    within = min(PROBE_TOLERANCE, max(NOISE, SEPARATION * closest))
    return [r for r in results if difference(r) <= within]


def _decided_layer_by_layer(
    pairing: Pairing, kinds: dict, results: list, specs: Sequence[InputSpec]
) -> Pairing:
    """No combination makes the models' outputs agree: something no layout can fix
    differs as well (a setting, two fused tensors whose parts lie in another order).
    Each kind is then decided by the layer holding its pairs, run alone on what its
    base counterpart received, where one layout makes it agree; emit's check after
    copying reports what still differs. Kinds that stay open are refused, saying so."""
    closest = min(r[0] for r in results)
    found = list(pairing.pairs)
    for position, indices in enumerate(kinds.values()):
        layer = watched_layers(pairing.pairs[indices[0]])
        agreeing = _agreeing(results, lambda r: r[3].get(layer, math.inf))
        rows = {_rows_of(r[2], {0: indices}) for r in agreeing}
        if layer is None or len(rows) != 1 or len(agreeing) == len(results):
            continue
        choice = agreeing[0][1][position]
        for index in indices:
            found[index] = decided(
                found[index],
                found[index].candidates[choice],
                f"found by running `{layer[0]}` alone in both models",
            )
    return _remark(
        dataclasses.replace(pairing, pairs=tuple(found)),
        f"(Running both models on input {' '.join(s.describe() for s in specs)}, no "
        f"combination of layouts made their outputs agree (the closest differ by "
        f"{closest:.2g} of their scale), nor did running the layer holding these alone: "
        "something else differs too, a setting (see the notes) or two fused tensors "
        "whose parts lie in another order. Choose the layout with --layout; then "
        "`padiff-gen verify` names the first layer that differs.)",
    )


def _rows_of(pairs: Sequence[UnitPair], kinds: dict) -> tuple:
    """What the questioned pairs copy under one combination of layouts."""
    return tuple(
        (c.raw.path, c.base_path, c.transform)
        for indices in kinds.values()
        for index in indices
        for c in pairs[index].copies
    )


def _choices(
    pairing: Pairing, kinds: dict, combination: tuple
) -> list[tuple[UnitPair, int]]:
    chosen = {}
    for indices, choice in zip(kinds.values(), combination):
        for index in indices:
            chosen[index] = choice
    return [(pair, chosen.get(i, 0)) for i, pair in enumerate(pairing.pairs)]


def outputs_check(
    pairing: Pairing, base: ProxyModel, raw: ProxyModel, inputs: Sequence[InputSpec]
) -> str:
    """A note when running both models after copying, as the plan says, gives outputs
    that differ by more than a wrong copy would leave out (REFUTED of their scale): a
    layout no shape shows (two fused tensors with their parts in another order) or a
    computation outside the weights. "" when they agree, or when the models are too
    large to run here or take no input padiff-gen can guess."""
    if pairing.first_error is not None or _elements(pairing) > PROBE_MAX_ELEMENTS:
        return ""
    models = _probe_models(base, raw)
    if models is None:
        return ""
    base_model, raw_model = models
    for specs in [list(inputs)] if inputs else guess_inputs(base_model):
        try:
            results = _try_combinations(
                pairing, {}, [], [], specs, base_model, raw_model
            )
        except InitializerFailed:
            return ""  # the script says so when it runs
        if results and math.isfinite(results[0][0]):
            difference = results[0][0]
            break
    else:
        return ""
    if difference <= REFUTED:
        return ""
    return (
        f"warning: padiff-gen ran both models on input "
        f"{' '.join(s.describe() for s in specs)} after copying as the script does, and "
        f"their outputs differ by {difference:.2g} of their scale. Something the shapes "
        "do not show differs: a setting (see the notes), a computation in forward "
        "code, or the order of the parts inside a fused tensor. Run `padiff-gen verify` "
        "to find the layer before relying on the script."
    )
