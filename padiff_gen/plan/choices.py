"""Choosing a layout where shapes allow several: the user's ``--layout``, else a question.

A fused tensor's parts may lie one after the other or grouped per KV head, in one order
or another; a stacked tensor's slices may be [out, in] or [in, out] when square. Each
possibility is a :class:`padiff_gen.analysis.layouts.merged.Candidate` with its table rows. A pair with
several candidates is settled by ``--layout KEY=CHOICE`` (KEY: the layer's path, the
end of it, e.g. ``qkv_proj``, or its class name; CHOICE: a candidate's name), or by
running the models (:mod:`padiff_gen.analysis.evidence.layout_probe`); otherwise it stays a *question*:
an error that lists the choices.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Sequence

from ..errors import MappingError, Side, UsageError
from .plan import Unit, UnitPair

# How many choices a question lists before "and N more".
SHOWN_CHOICES = 4


def _ends_with(path: str, key: str) -> bool:
    return path == key or path.endswith("." + key)


def key_matches(key: str, units: Sequence[Unit]) -> bool:
    """Does ``--layout KEY=...`` speak of one of these units (or their members)?"""
    for unit in units:
        paths = (unit.path,) + unit.members
        if any(_ends_with(path, key) for path in paths) or key in unit.ancestry:
            return True
    return False


def answer_for(
    layouts: Sequence[tuple[str, str]], units: Sequence[Unit]
) -> Optional[tuple[str, str]]:
    """The last ``--layout`` (key, choice) that speaks of these units."""
    found = [(key, choice) for key, choice in layouts if key_matches(key, units)]
    return found[-1] if found else None


def layout_key(pair: UnitPair) -> str:
    """The short key users write for a pair: the one-unit side's last path component."""
    unit = pair.raw if pair.base.members else pair.base
    return unit.path.rpartition(".")[2] or unit.path


def decided(pair: UnitPair, candidate, how: str = "") -> UnitPair:
    """The pair with one candidate's rows."""
    layout = candidate.layout.describe() + (f" ({how})" if how else "")
    return dataclasses.replace(
        pair,
        copies=candidate.copies,
        layout=layout,
        candidates=(),
        question=None,
    )


def with_candidates(
    pair: UnitPair,
    candidates: Sequence,
    what: str,
    layouts: Sequence[tuple[str, str]],
) -> UnitPair:
    """A pair settled by its only candidate or by ``--layout``, else a question."""
    if len(candidates) == 1:
        return decided(pair, candidates[0])
    answer = answer_for(layouts, (pair.base, pair.raw))
    if answer is not None:
        key, choice = answer
        chosen = [c for c in candidates if c.layout.choice == choice]
        if not chosen:
            names = "; ".join(
                f"{c.layout.choice} ({c.layout.describe()})" for c in candidates
            )
            raise UsageError(
                f"--layout {key}={choice}: {choice!r} is not a layout of base "
                f"`{pair.base.path}` / raw `{pair.raw.path}`.",
                f"Choose one of: {names}.",
            )
        option = f"--layout {key}={choice}"
        return dataclasses.replace(
            decided(pair, chosen[0], option), given=(option, tuple(candidates))
        )
    pair = dataclasses.replace(pair, candidates=tuple(candidates))
    return dataclasses.replace(pair, question=question(pair, what))


def question(
    pair: UnitPair, what: str, remark: str = "", too_large: bool = False
) -> MappingError:
    """The error for a pair whose layout nothing decided; ``too_large`` when the layers
    holding it were too large to run here (then --input would not help)."""
    key = layout_key(pair)
    choices = [c.layout for c in pair.candidates]
    shown = "; ".join(
        f"--layout {key}={layout.choice} ({layout.describe()})"
        for layout in choices[:SHOWN_CHOICES]
    )
    if len(choices) > SHOWN_CHOICES:
        shown += f"; and {len(choices) - SHOWN_CHOICES} more"
    kinds = {
        "fused": "are one fused layer against separate ones: their shapes add up, but "
        "do not say how the parts lie in the fused tensor",
        "stacked": "are stacked experts against a list of per-expert layers: their "
        "shapes add up, but do not say how the parts lie in the stacked tensors",
        "tensors": "hold tensors of the same shapes under names that do not match: "
        "neither shapes nor names say which base tensor goes into which raw one",
        "matrices": "hold square stacks of matrices ([..., n, n]) and are of no class "
        "padiff-gen knows: the shapes do not say whether one holds them transposed "
        "(one word per such tensor, in definition order; a single copy or transpose "
        "answers them all)",
    }
    error = MappingError(
        f"base `{pair.base.path}` ({pair.base.class_name}) and raw `{pair.raw.path}` "
        f"({pair.raw.class_name}) {kinds[what]} ({len(choices)} layouts fit).{remark}",
        f"Choose one: {shown}. "
        + (
            "A configuration of the same architecture with smaller widths (the same "
            "head counts) asks the same question and is small enough to run: emit it "
            "and read the answer in that row's comment."
            if too_large
            else "padiff-gen finds it by running the smallest pair of layers holding it "
            "in both models, on an input it builds for them or on the inputs you give "
            "the models with --input (e.g. --input 1,8:int64:VOCAB_SIZE for token ids, "
            "--input 2,5,HIDDEN for hidden states)."
        ),
        _side(pair.base),
        _side(pair.raw),
    )
    error.what = what  # what kind of question (fused, stacked, tensors, matrices)
    error.too_large = too_large
    return error


def _side(unit: Unit) -> Side:
    return Side(unit.path, unit.class_name, unit.shapes)
