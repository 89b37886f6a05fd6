"""Deciding layouts on the smallest part of the models that holds them.

A fused q/k/v tensor grouped per KV head has the shape of one whose parts lie one after
the other; what tells them apart is what the layer holding it computes. So each kind of
question (:func:`padiff_gen.analysis.evidence.layout_probe.question_kind`: every layer of a model asks it
alike) is answered on the *block* holding its first pair: the smallest pair of layers, one
per model, that hold the same paired units (``self_attn`` and ``self_attn``, ``mlp`` and
``mlp``). The block runs alone, with random weights, on an input built for it:

- guessed from the block's first layer with weights (hidden states [2, 4, in] for a
  Linear, token ids for an Embedding, images for a conv), when the block runs on that;
- else captured: the smallest enclosing pair of layers that runs on a guessed input (the
  decoder of an LLM on token ids) runs up to the block, and the block's arguments on
  each side (hidden states, rotary cos/sin, a mask) are kept; the block then runs alone
  on them, once for the base model and once per candidate layout for the raw one.

The layout whose output agrees with the base block's (and only that one) is the answer.
Weights are made only while the layer owning them runs, from :mod:`padiff_gen.
probe_values` (base values element by element, raw values straight from the base
values through each candidate's rows), so memory is bounded by the largest layer of the
block, not by the model: a 7B model's attention decides its q/k/v grouping in a few
hundred MB. Stacked experts hold one expert's memory (every expert alike). A lookup
table (Embedding) is made at the rows its input asks for.

What cannot be decided here (the block does not run, nothing singles a layout out, a
tensor too large) stays a question, with a remark saying so, for the whole-model probe of
:mod:`padiff_gen.analysis.evidence.layout_probe` (the evidence of last resort) or the user's ``--layout``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Optional, Sequence

import numpy as np

from ...plan.choices import _side, decided, question
from ...errors import MappingError, Side
from ...knowledge.frameworks import adapter
from ...load.inputs import InputSpec, make_inputs
from ...plan.plan import Pairing, TensorCopy, Unit, UnitPair
from .probe_models import (
    SEED,
    ProbeModels,
    TooLarge,
    _fresh,
    _size,
    _under,
    probe_model,
)
from ..walk import collect_units, layers_by_path

# Ways of running a block that make more weights than this in all (one layer at a
# time) are not tried: a whole large model, run to see an activation.
WORK_BYTES = 4 << 30
# A check of a layer without a partner (evidence for a note, deciding nothing) runs
# only blocks whose weights, counted whole, stay under this: the MoE block of GPT-OSS
# (32 experts 2880x5760, 3.2 GB) took emit to 4.2 GB and 200 s for a note. Beyond it
# the note says what would have to run.
NOTE_WORK_BYTES = 1 << 30


def _ancestors(path: str) -> list[str]:
    """The path and every layer above it, up to the model itself ("")."""
    found = [path]
    while path:
        path = path.rpartition(".")[0]
        found.append(path)
    return found


def _anchor(unit: Unit) -> str:
    """The layer holding a unit: its own, or the one holding all its members."""
    if not unit.members:
        return unit.path
    parents = [m.rpartition(".")[0].split(".") for m in unit.members]
    return ".".join(os.path.commonprefix(parents))


def _holder(paths: Sequence[str]) -> str:
    """The deepest layer holding every path (element by element)."""
    parts = [path.split(".") for path in paths if path] or [[]]
    return ".".join(os.path.commonprefix(parts))


def corresponding_blocks(
    pairing: Pairing, role: str, path: str
) -> list[tuple[str, str]]:
    """(base path, raw path) of the pairs of layers holding the layer at ``path`` of
    the ``role`` model, smallest first. Two layers correspond when the units inside
    one are paired with exactly the units inside the other (the other being the
    deepest layer holding those partners)."""
    other = "raw" if role == "base" else "base"
    units = {"base": pairing.base_units, "raw": pairing.raw_units}
    partner: dict[str, Unit] = {}
    for p in pairing.pairs:
        if p.base is not None and p.raw is not None and p.error is None:
            mine, theirs = (p.base, p.raw) if role == "base" else (p.raw, p.base)
            partner[mine.path] = theirs
    # A layer that is one unit against several of the other model (a fused Linear
    # against the two Linear layers of a gated projection) computes something else than
    # the layer holding those: the layers holding both correspond, not these two.
    whole = {
        side: {
            (p.base if side == "base" else p.raw).path
            for p in pairing.pairs
            if p.base is not None
            and p.raw is not None
            and not (p.base if side == "base" else p.raw).members
            and (p.raw if side == "base" else p.base).members
        }
        for side in ("base", "raw")
    }
    chain = []
    for block in _ancestors(path):
        if block in whole[role]:
            continue
        held = [u for u in units[role] if _under(u, block)]
        if not held or any(u.path not in partner for u in held):
            continue
        wanted = {partner[u.path].path for u in held}
        holder = _holder(
            [
                m
                for u in held
                for m in (partner[u.path].members or (partner[u.path].path,))
            ]
        )
        if {u.path for u in units[other] if _under(u, holder)} != wanted:
            continue
        # The layers above the holder that hold nothing more hold the same units: the
        # one at the block's own path, if any, is its counterpart (the model itself
        # against a model whose only child is the layer).
        same = [
            outer
            for outer in _ancestors(holder)
            if {u.path for u in units[other] if _under(u, outer)} == wanted
        ]
        if block in same:
            holder = block
        if holder in whole[other]:
            continue
        pair = (block, holder) if role == "base" else (holder, block)
        if pair not in chain:
            chain.append(pair)
    return chain


def block_chain(pair: UnitPair, pairing: Pairing) -> list[tuple[str, str]]:
    """(base path, raw path) of the pairs of layers holding ``pair``, smallest first
    (see corresponding_blocks)."""
    return corresponding_blocks(pairing, "base", _anchor(pair.base))


@dataclasses.dataclass
class _Outcome:
    """What running a kind's block found: the candidate chosen and how, or why none;
    the outputs' relative difference for each candidate, when they ran."""

    choice: Optional[int] = None
    how: str = ""
    differences: list = dataclasses.field(default_factory=list)
    remark: str = ""
    trial: Optional["_Trial"] = None


def decide_by_blocks(
    pairing: Pairing, base, raw, inputs: Sequence[InputSpec] = ()
) -> Pairing:
    """The pairing with each kind of undecided layout decided on the smallest pair of
    layers holding it (see the module docstring); kinds this cannot decide keep their
    question, with a remark saying why."""
    if not pairing.undecided or any(p.error is not None for p in pairing.pairs):
        return pairing
    from .layout_probe import question_kind

    models = (probe_model(base), probe_model(raw))
    pairs = list(pairing.pairs)
    kinds: dict[tuple, list[int]] = {}
    for index, pair in enumerate(pairs):
        if pair.question is not None:
            kinds.setdefault(question_kind(pair), []).append(index)
    if None in models:
        return _remarked(
            pairing,
            pairs,
            {
                kind: "(padiff-gen could not build the torch model with the small "
                "tensors its forward needs, so it ran none of its layers.)"
                for kind in kinds
            },
            kinds,
        )
    probe = ProbeModels(pairing, *models)
    remarks, agreeing = {}, []
    for kind, indices in kinds.items():
        probe.forget()  # what the runs of one kind make again is kept
        outcome = _decide_kind(probe, pairing, pairs, indices, inputs)
        if outcome.choice is None:
            remarks[kind] = outcome.remark
            continue
        for index in indices:
            pairs[index] = decided(
                pairs[index], pairs[index].candidates[outcome.choice], outcome.how
            )
        probe.rows = probe.rows_with([pairs[i] for i in indices])
        trial = outcome.trial
        agreeing.append((*trial.blocks, trial.run, outcome.differences[outcome.choice]))
    found = _remarked(pairing, pairs, remarks, kinds)
    return dataclasses.replace(
        found, agreeing_runs=pairing.agreeing_runs + tuple(agreeing)
    )


def check_given(
    pairing: Pairing, base, raw, inputs: Sequence[InputSpec] = ()
) -> Pairing:
    """The pairing with an error on each pair whose ``--layout`` the block holding it
    refutes: run with the rows of every layout the shapes allow, the layout given
    makes the outputs differ while exactly one other makes them agree (the evidence
    _decide_kind decides by). Where the block cannot run, is too large, or no layout
    (or more than one) agrees, the layout given stands: the user knows what the run
    cannot show."""
    if pairing.first_error is not None:
        return pairing
    models = (probe_model(base), probe_model(raw))
    if None in models:
        return pairing
    from .layout_probe import question_kind

    pairs = list(pairing.pairs)
    kinds: dict[tuple, list[int]] = {}
    for index, pair in enumerate(pairs):
        if pair.given:
            kind = question_kind(dataclasses.replace(pair, candidates=pair.given[1]))
            kinds.setdefault(kind, []).append(index)
    probe = ProbeModels(pairing, *models)
    for indices in kinds.values():
        probe.forget()
        option, candidates = pairs[indices[0]].given
        asked = [
            dataclasses.replace(pairs[i], candidates=pairs[i].given[1]) for i in indices
        ]
        copies = [c.copies for c in candidates]
        if pairs[indices[0]].copies not in copies:
            continue  # rows changed since (not the candidate's): nothing to refute
        chosen = copies.index(pairs[indices[0]].copies)
        outcome = _decide_kind(probe, pairing, asked, list(range(len(asked))), inputs)
        if outcome.choice is None or outcome.choice == chosen:
            continue
        right = candidates[outcome.choice].layout
        differences = outcome.differences
        error = MappingError(
            f"{option} does not hold for base `{pairs[indices[0]].base.path}` / raw "
            f"`{pairs[indices[0]].raw.path}`: {outcome.how[len('found by '):]}, with "
            f"the rows of each layout the shapes allow: the outputs differ by "
            f"{differences[chosen]:.2g} of their scale with that one and agree within "
            f"{max(differences[outcome.choice], 1e-7):.2g} with {right.describe()}.",
            f"Give --layout {option.split()[1].split('=')[0]}={right.choice} instead, "
            "or leave that --layout out: padiff-gen finds it the same way.",
            _side(pairs[indices[0]].base),
            _side(pairs[indices[0]].raw),
        )
        for index in indices:
            pairs[index] = dataclasses.replace(pairs[index], error=error)
    return dataclasses.replace(pairing, pairs=tuple(pairs))


def _remarked(pairing, pairs, remarks: dict, kinds: dict) -> Pairing:
    for kind, text in remarks.items():
        for index in kinds[kind]:
            pair = pairs[index]
            large = "too much to make here" in text
            error = question(pair, pair.question.what, " " + text, large)
            error.remark = text
            pairs[index] = dataclasses.replace(pair, question=error)
    return dataclasses.replace(pairing, pairs=tuple(pairs))


def _describe_block(base_block: str, raw_block: str) -> str:
    base_block, raw_block = base_block or "<root>", raw_block or "<root>"
    if base_block == raw_block:
        return f"`{base_block}`"
    return f"base `{base_block}` / raw `{raw_block}`"


@dataclasses.dataclass
class _Trial:
    """Both blocks of a chain run on one input: where, how the input was got, and the
    raw block's relative difference from the base block for each set of rows."""

    where: str
    via: str
    differences: list
    blocks: tuple = ()  # (base block, raw block)

    @property
    def run(self) -> str:
        return f"running {self.where} alone in both models{self.via}"


def _trial(
    probe: ProbeModels,
    chain: list[tuple[str, str]],
    inputs: Sequence[InputSpec],
    row_sets: Sequence[dict[str, TensorCopy]],
    eager: bool = False,
    most: int = WORK_BYTES,
    whole: bool = False,
) -> Optional[_Trial]:
    """The cheapest way to run a pair of blocks of ``chain`` that runs: the base block
    once, the raw block once per set of rows. None when no way runs; raises TooLarge
    (with the blocks named) when the way that would run needs too large a tensor, or
    when every way makes more than ``most`` bytes of weights (``whole``: stacked
    experts counted whole, as memory, not as the work of making one).
    ``eager``: every weight of the blocks is made before they run (forward code reads
    a weight outside its layer's call; see ProbeModels.run)."""
    ways = _ways(probe, chain, whole)
    if ways and all(work > most for work, _, _ in ways):
        work, position, _ = ways[0]
        raise TooLarge(
            f"Running {_describe_block(*chain[position])} alone in both models would "
            f"make {_size(work)} of weights against a limit of {_size(most)}"
        )
    for _, position, outer in (way for way in ways if way[0] <= most):
        base_block, raw_block = chain[position]
        where = _describe_block(base_block, raw_block)
        try:
            arguments, via, expected = _arguments(
                probe, chain, position, outer, inputs, row_sets[0]
            )
            if expected is None:
                expected = probe.run(
                    "base", base_block, _fresh(arguments[0]), eager=eager
                )
            differences = []
            for rows in row_sets:
                try:
                    got = probe.run(
                        "raw", raw_block, _fresh(arguments[1]), rows, eager=eager
                    )
                except TooLarge:
                    raise
                except Exception:
                    got = None
                differences.append(_difference(expected, got))
        except TooLarge as error:
            raise TooLarge(
                f"Running {where} in both models would make {error}"
            ) from None
        except Exception:
            continue
        if any(math.isfinite(d) for d in differences):
            return _Trial(where, via, differences, (base_block, raw_block))
    return None


def _decide_kind(
    probe: ProbeModels,
    pairing: Pairing,
    pairs: list[UnitPair],
    indices: list[int],
    inputs: Sequence[InputSpec],
) -> _Outcome:
    from .layout_probe import NOISE, PROBE_TOLERANCE, SEPARATION

    pair = pairs[indices[0]]
    chain = block_chain(pair, pairing)
    if not chain:
        return _Outcome(remark="(No pair of layers holds these in both models.)")
    row_sets = [
        probe.rows_with(
            [
                dataclasses.replace(pairs[i], copies=pairs[i].candidates[choice].copies)
                for i in indices
            ]
        )
        for choice in range(len(pair.candidates))
    ]
    try:
        trial = _trial(probe, chain, inputs, row_sets)
    except TooLarge as error:
        return _Outcome(remark=f"({error}, too much to make here.)")
    if trial is None:
        return _Outcome(
            remark=f"(Neither {_describe_block(*chain[0])} nor a larger pair of layers "
            "holding it runs on an input padiff-gen can build"
            + (" or on the --input given" if inputs else "")
            + ".)"
        )
    differences = trial.differences
    closest = min(differences)
    within = min(PROBE_TOLERANCE, max(NOISE, SEPARATION * closest))
    agreeing = [i for i, d in enumerate(differences) if d <= within]
    if len(agreeing) == 1:
        return _Outcome(agreeing[0], f"found by {trial.run}", differences, trial=trial)
    said = trial.run[0].upper() + trial.run[1:]
    if not agreeing:
        return _Outcome(
            remark=f"({said}, none of the {len(differences)} layouts made its outputs "
            f"agree (the closest differ by {closest:.2g} of their scale): something "
            "else differs there too, a setting (see the notes) or the code.)",
            differences=differences,
        )
    return _Outcome(
        remark=f"({said}, {len(agreeing)} of the {len(differences)} layouts made its "
        "outputs agree: that input does not tell them apart.)",
        differences=differences,
    )


def _ways(
    probe: ProbeModels, chain, whole: bool = False
) -> list[tuple[int, int, Optional[int]]]:
    """(bytes of weights made, block position, enclosing block position or None) of
    every way to run a block of ``chain``: alone on a guessed input (None), or on what
    an enclosing pair of layers passes it; cheapest first (the block's weights, plus
    what runs before it in the enclosing layer; ``whole``: see
    ProbeModels.weight_bytes), smaller blocks first among equals."""
    runnable = [probe.runs(base) and probe.runs(raw, "raw") for base, raw in chain]
    ways = []
    for position, (block, _) in enumerate(chain):
        if not runnable[position]:
            continue
        size = probe.weight_bytes(block, whole=whole)
        ways.append((size, position, None))
        for outer in range(position + 1, len(chain)):
            if runnable[outer]:
                before = probe.weight_bytes(chain[outer][0], until=block, whole=whole)
                ways.append((size + before, position, outer))
    ways.sort(key=lambda way: (way[0], way[1]))
    return ways


def _arguments(probe, chain, position, outer, inputs, rows):
    """((base arguments, raw arguments), how they were got, the base block's output or
    None) for ``chain[position]``: arrays guessed for the block itself (on which the
    base block ran), or what the layers at ``chain[outer]``, run on an input guessed
    for them, passed it. A paddle base block runs only on what its torch counterpart
    (with ``rows``) ran on: paddle checks fewer shapes, and an image smaller than a
    network's receptive field reached its CPU kernels with negative sizes and
    corrupted memory instead of raising."""
    from .layout_probe import guess_inputs_for

    base_block, raw_block = chain[position]
    torch_first = probe.frameworks == {"base": "paddle", "raw": "torch"}
    if outer is None:
        for guess in _guesses(probe, chain[position], inputs, guess_inputs_for):
            arrays = make_inputs(guess, SEED)
            try:
                if torch_first:
                    probe.run("raw", raw_block, arrays, rows)
                expected = probe.run("base", base_block, arrays)
            except TooLarge:
                raise
            except Exception:
                continue
            return (arrays, arrays), "", expected
        raise LookupError("no guessed input runs the block")
    base_outer, raw_outer = chain[outer]
    for guess in _guesses(probe, chain[outer], inputs, guess_inputs_for):
        arrays = make_inputs(guess, SEED)
        try:
            if torch_first:
                got_raw = probe.run("raw", raw_outer, arrays, stop=raw_block)
            got_base = probe.run("base", base_outer, arrays, stop=base_block)
            if not torch_first:
                got_raw = probe.run("raw", raw_outer, arrays, stop=raw_block)
        except TooLarge:
            raise
        except Exception:
            continue
        via = f", on what {_describe_block(*chain[outer])} passed it"
        return (got_base, got_raw), via, None
    raise LookupError("no guessed input reaches the block")


def _guesses(probe, blocks: tuple[str, str], inputs, guess_inputs_for) -> list:
    """Inputs the pair of layers ``blocks`` may take: the user's --input for the models
    themselves, else guessed from the first layer of a known kind in the base layer, or
    failing that in the raw one."""
    if blocks == ("", "") and inputs:
        return [list(inputs)]
    for role, block in zip(("base", "raw"), blocks):
        layer = probe.layers[role].get(block)
        if layer is None:
            continue
        try:
            found = guess_inputs_for(collect_units(layer))
        except Exception:
            found = []
        if found:
            return found
    return []


def _difference(expected: np.ndarray, got: Optional[np.ndarray]) -> float:
    if got is None or got.shape != expected.shape:
        return math.inf
    if not (np.all(np.isfinite(expected)) and np.all(np.isfinite(got))):
        return math.inf
    scale = float(np.abs(expected).max()) or 1.0
    return float(np.abs(got - expected).max()) / scale


# ---------------------------------------------------------------- conditional rows


def check_conditional(
    pairing: Pairing, base, raw, inputs: Sequence[InputSpec] = ()
) -> Pairing:
    """The pairing with its conditional rows (exact only if two layers compute alike: a
    conv computing a Linear, layers of classes no initializer takes holding the same
    tensors) checked on the smallest pair of layers holding them, with the weights
    copied as the plan says: marked checked when the outputs agree, refused when they
    differ by more than a wrong copy leaves out. Pairs of one kind (classes, shapes) are
    judged by the first; what no block runs is left to the whole-model check."""
    from .layout_probe import REFUTED, checked, conditional, refuted

    indices = [i for i, p in enumerate(pairing.pairs) if conditional(p)]
    if not indices or any(p.error is not None for p in pairing.pairs):
        return pairing
    models = (probe_model(base), probe_model(raw))
    if None in models:
        return pairing
    probe = ProbeModels(pairing, *models)
    pairs = list(pairing.pairs)
    kinds: dict[tuple, list[int]] = {}
    for index in indices:
        pair = pairs[index]
        key = (pair.base.class_name, pair.raw.class_name, pair.base.shapes)
        kinds.setdefault(key, []).append(index)
    for group in kinds.values():
        pair = pairs[group[0]]
        chain = corresponding_blocks(pairing, "base", _anchor(pair.base))
        try:
            trial = _trial(probe, chain, inputs, [probe.rows]) if chain else None
        except TooLarge:
            trial = None
        if trial is None:
            continue
        difference = trial.differences[0]
        for index in group:
            if difference <= AGREE:
                pairs[index] = checked(pairs[index], f"checked by {trial.run}")
            elif REFUTED < difference < math.inf:
                pairs[index] = refuted(pairs[index], difference, trial.run)
    return dataclasses.replace(pairing, pairs=tuple(pairs))


# ---------------------------------------------------------------- call order


def call_orders(
    base, raw, inputs: Sequence[InputSpec] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(base, raw): the paths of each model's units in the order a forward pass first
    calls them, both run on ``inputs`` (the models' --input) or on the first input
    guessed from the base model's first layers that both take, with random weights made
    a layer at a time; ((), ()) when they do not run. A paddle model runs only on an
    input its torch partner ran through (paddle checks fewer shapes, and an image
    smaller than a network's receptive field corrupted memory instead of raising)."""
    from .layout_probe import guess_inputs_for
    from ...plan.plan import ModelInfo

    probes = []
    for proxy in (base, raw):
        model = probe_model(proxy)
        if model is None:
            return (), ()
        units = tuple(collect_units(model))
        info = ModelInfo(proxy.framework, type(model).__name__)
        probes.append(ProbeModels(Pairing(info, info, units, (), ()), model, model))
    # a framework that checks shapes runs first (see layout_probe.compare_layouts)
    order_of_runs = sorted(
        range(2), key=lambda i: not adapter(probes[i].frameworks["base"]).checks_shapes
    )
    units = probes[0].units["base"]
    guesses = [list(inputs)] if inputs else guess_inputs_for(list(units))
    for guess in guesses:
        arrays = make_inputs(guess, SEED)
        orders: list[list[str]] = [[], []]
        try:
            for index in order_of_runs:
                probes[index].run("base", "", arrays, order=orders[index])
        except Exception:
            continue
        return tuple(dict.fromkeys(orders[0])), tuple(dict.fromkeys(orders[1]))
    return (), ()


# ---------------------------------------------------------------- tied heads


def check_tied(
    pairing: Pairing, base, raw, inputs: Sequence[InputSpec] = ()
) -> Pairing:
    """The pairing with each head that only holds a tied tensor, and pairs with nothing
    (the other model computes with the embedding's weight directly), checked by running
    both models whole (the smallest part holding both the embedding and the head): the
    pair is kept, marked checked, when the outputs agree; refused, naming the tie, when
    they differ; marked unchecked when the models could not be run here."""
    from .layout_probe import REFUTED

    tied = [i for i, p in enumerate(pairing.pairs) if p.matched_by == "tied"]
    if not tied or any(p.error is not None for p in pairing.pairs):
        return pairing
    models = (probe_model(base), probe_model(raw))
    trial = None
    if None not in models:
        probe = ProbeModels(pairing, *models)
        try:
            # eager: the other model reads the tensor in forward code, outside the
            # call of the layer holding it
            trial = _trial(probe, [("", "")], inputs, [probe.rows], eager=True)
        except TooLarge:
            trial = None
    pairs = list(pairing.pairs)
    for index in tied:
        pair = pairs[index]
        if trial is None:
            how = "not checked: the models could not be run here (`padiff-gen verify`)"
            pairs[index] = dataclasses.replace(pair, layout=f"{pair.layout}; {how}")
        elif trial.differences[0] <= AGREE:
            how = f"checked by {trial.run}"
            pairs[index] = dataclasses.replace(pair, layout=f"{pair.layout}; {how}")
        elif trial.differences[0] > REFUTED:
            unit = pair.base or pair.raw
            role, other = ("base", "raw") if pair.base else ("raw", "base")
            named = ", ".join(f"`{t.path}` is `{t.tied_to}`" for t in unit.tensors)
            error = MappingError(
                f"{role} `{unit.path}` ({unit.class_name}) only holds a tied tensor "
                f"({named}) and the {other} model has no layer for it, but {trial.run} "
                f"with the tensor copied once made their outputs differ by "
                f"{trial.differences[0]:.2g} of their scale: the {other} model does not "
                "compute with it as this head does.",
                f"Give the {other} model a layer that holds the tied tensor and computes "
                "with it (a head keeping the embedding's weight as its own), so that "
                "the two pair; or untie it in both models.",
                Side(unit.path, unit.class_name, unit.shapes) if pair.base else None,
                Side(unit.path, unit.class_name, unit.shapes) if pair.raw else None,
            )
            pairs[index] = dataclasses.replace(pair, error=error)
    return dataclasses.replace(pairing, pairs=tuple(pairs))


# ---------------------------------------------------------------- layers without a partner

# Outputs "agree" within this of their scale: fp32 blocks of the two frameworks agree to
# ~1e-6; a layer left out (an activation) moves them by O(1).
AGREE = 1e-4


def check_unpaired(
    pairing: Pairing, base, raw, inputs: Sequence[InputSpec] = ()
) -> Pairing:
    """The pairing with each layer that has no counterpart (an activation on one side
    only, `SettingNote` "presence") checked by running the smallest pair of layers
    holding it in both models, with the weights copied as the plan says: when their
    outputs agree, the other model computes it in its forward code (transformers'
    SiLUActivation against paddle's Silu, say); when they differ, the note says by how
    much. Layers of one kind (class, side, the class of the layer holding them) are
    judged by the first one; what cannot run stays unknown, and the note says so.
    Either way the note names a layer of a class padiff-gen has no row for at the same
    path of the other model (SiLUActivation), which likely computes it."""
    unpaired = [n for n in pairing.notes if n.setting == "presence"]
    if not unpaired:
        return pairing
    models = (probe_model(base), probe_model(raw))
    if pairing.first_error is not None or None in models:
        layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
        return _with_same_paths(pairing, layers)
    probe = ProbeModels(pairing, *models)
    groups: dict[tuple, list] = {}
    chains = {}
    for note in unpaired:
        role = "base" if note.base else "raw"
        layer = note.base or note.raw
        chain = corresponding_blocks(pairing, role, layer.path)
        holder = chain[0][0 if role == "base" else 1] if chain else ""
        kind = type(probe.layers[role].get(holder)).__name__ if chain else ""
        key = (role, layer.label, kind)
        groups.setdefault(key, []).append(note)
        chains.setdefault(key, chain)
    found = {}
    for key, notes in groups.items():
        evidence, computed, unrun = "", False, ""
        chain = chains[key]
        ran = _agreeing_run(pairing, chain)
        if ran:
            for note in notes:
                found[id(note)] = dict(evidence=ran, computed=True, unrun="")
            continue
        try:
            trial = (
                _trial(
                    probe,
                    chain,
                    inputs,
                    [probe.rows],
                    most=NOTE_WORK_BYTES,
                    whole=True,
                )
                if chain
                else None
            )
        except TooLarge as error:
            said = str(error)
            trial, unrun = None, f"{said[:1].lower()}{said[1:]}, too much to make here"
        if trial is not None:
            difference = trial.differences[0]
            computed = difference <= AGREE
            verb = "agree within" if computed else "differ by"
            evidence = (
                f"{trial.run} with the weights copied, their outputs {verb} "
                f"{max(difference, 1e-7) if computed else difference:.2g} of their scale"
            )
        for note in notes:
            found[id(note)] = dict(evidence=evidence, computed=computed, unrun=unrun)
    notes = tuple(
        (dataclasses.replace(note, **found[id(note)]) if id(note) in found else note)
        for note in pairing.notes
    )
    return _with_same_paths(dataclasses.replace(pairing, notes=notes), probe.layers)


def _agreeing_run(pairing: Pairing, chain) -> str:
    """The evidence of a block of ``chain`` already run with the plan's rows (to decide
    a layout) whose outputs agreed within AGREE: a layer without weights inside it is
    computed by the other model too. "" when none was."""
    blocks = set(chain)
    for base_block, raw_block, run, difference in pairing.agreeing_runs:
        if (base_block, raw_block) in blocks and difference <= AGREE:
            return (
                f"{run} with the weights copied (deciding a layout there), their "
                f"outputs agree within {max(difference, 1e-7):.2g} of their scale"
            )
    return ""


def _with_same_paths(pairing: Pairing, layers: dict) -> Pairing:
    """The notes on layers without a partner, each with the class of the other model's
    layer at the same path, if it has one."""

    def same_path(note) -> str:
        other = "raw" if note.base else "base"
        there = layers[other].get((note.base or note.raw).path)
        return type(there).__name__ if there is not None else ""

    notes = tuple(
        (
            dataclasses.replace(note, same_path=same_path(note))
            if note.setting == "presence"
            else note
        )
        for note in pairing.notes
    )
    return dataclasses.replace(pairing, notes=notes)
