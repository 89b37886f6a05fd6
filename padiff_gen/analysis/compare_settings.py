"""Settings compared on every layer, the ones without weights included.

Both models are walked in definition order. The units the analyzer paired are the anchors;
the layers without weights that the settings table knows (activations, dropout, pooling,
resampling, flatten...) are paired between consecutive anchors by order and kind, then any
left over by kind across the model. Every pair, units included, is compared through the
table (:mod:`padiff_gen.knowledge.settings`). A difference is a :class:`SettingNote`: emit prints it,
the script's table marks its row (or lists it, for layers without weights), ``inspect``
shows it. Nothing here refuses: the weights still copy exactly.

A layer without weights on one side only, or two different ones at the same place, is a
note too when it changes outputs (an activation, not a Dropout that is the identity in
eval mode): the other model may compute it in its forward code, which padiff-gen cannot
see, so the note says so.
"""

from __future__ import annotations

import dataclasses
import difflib
import textwrap
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Optional, Sequence

from ..knowledge.frameworks import class_name
from ..plan.plan import Pairing
from ..special_init import TrainingDifference
from ..knowledge.settings import (
    Kind,
    compare_layers,
    describe,
    fused_activation,
    kind_of,
)
from .walk import iter_layers

NOTES_SHOWN = 10  # in emit's note; inspect lists all


@dataclass(frozen=True)
class Layer:
    """A layer in one model's walk, with its position in definition order."""

    path: str
    class_name: str
    framework: str
    position: int
    kind: Optional[Kind] = field(default=None, compare=False, repr=False)
    layer: Any = field(default=None, compare=False, repr=False)
    fused: str = ""  # an activation fused into the layer: "act='relu'"

    @property
    def name(self) -> str:
        return self.path or "<root>"

    def describe(self, role: str) -> str:
        what = f"{self.framework} {self.class_name}"
        if self.fused:
            what += f", its {self.fused}"
        return f"{role} `{self.name}` ({what})"

    @property
    def label(self) -> str:
        """The class, or for a fused activation its kind: ``ReLU (act= of BatchNorm)``."""
        if self.fused:
            kind = self.kind.name if self.kind is not None else self.fused
            return f"{kind} (act= of {self.class_name})"
        return self.class_name

    @property
    def changes_outputs(self) -> bool:
        """False for a layer that is the identity in eval mode."""
        if self.fused or self.kind is None:
            return True
        return not self.kind.identity(self.layer)

    @property
    def settings(self) -> str:
        """Its settings from the table, as written: ``mode='downscale_in_infer'``."""
        if self.fused:
            return self.fused
        return describe(self.layer, self.framework, self.kind)


@dataclass(frozen=True)
class SettingNote:
    """A setting that differs between two paired layers, or a layer without a partner.

    ``setting`` names the table row ("eps"); "kind" when two different layers sit at
    the same place, "presence" when one side has no counterpart.
    """

    base: Optional[Layer]
    raw: Optional[Layer]
    setting: str
    base_shown: str = ""
    raw_shown: str = ""
    fix: str = ""
    unit: bool = False
    base_meaning: str = ""
    raw_meaning: str = ""
    where: str = ""  # for a layer without a partner: between which paired layers
    said: str = ""  # a validator's own words (a user initializer's SettingDifference)
    # For a layer without a partner, what running the layers holding it in both models
    # showed (padiff_gen.analysis.evidence.block_probe.check_unpaired): "" when they were not run, else
    # the run and its outcome; ``computed`` when the other model computes it in its
    # forward code (the outputs agreed).
    evidence: str = ""
    computed: bool = False
    # Why those layers were not run (too large to make here), and a layer of a class
    # padiff-gen has no row for at the same path in the other model ("SiLUActivation").
    unrun: str = ""
    same_path: str = ""

    @property
    def short(self) -> str:
        """A table comment: ``torch eps=0.001, paddle epsilon=1e-05``."""
        if self.said:
            return self.said
        if self.setting == "presence":
            return f"{'base' if self.base else 'raw'} only"
        if self.setting == "kind":
            return f"base {self.base.class_name}, raw {self.raw.class_name}"
        base_fw, raw_fw = self.base.framework, self.raw.framework
        base_shown, raw_shown = self.base_shown, self.raw_shown
        if base_shown == raw_shown and self.base_meaning != self.raw_meaning:
            # The same words mean different things (Embedding padding_idx): say what
            # each layer does instead.
            base_shown, raw_shown = self.base_meaning, self.raw_meaning
        if base_fw == raw_fw:
            return f"base {base_shown}, raw {raw_shown}"
        sides = {base_fw: base_shown, raw_fw: raw_shown}
        return f"torch {sides['torch']}, paddle {sides['paddle']}"

    @property
    def text(self) -> str:
        """One sentence naming both layers, both values and the fix."""
        if self.said:
            fix = (
                "eval outputs are equal; build both alike to train the raw model the "
                "same way"
                if self.setting == "training"
                else "build both layers alike"
            )
            return (
                f"{self.base.describe('base')} / {self.raw.describe('raw')}: "
                f"{self.said}; {fix}."
            )
        if self.setting == "presence":
            role, other = ("base", "raw") if self.base else ("raw", "base")
            layer = self.base or self.raw
            said = (
                f"{layer.describe(role)} has no counterpart among the {other} model's "
                f"layers{self.where}"
            )
            if self.same_path:
                said += (
                    f" (the {other} model's `{layer.name}` is a {self.same_path}, a "
                    "class padiff-gen has no row for)"
                )
            if self.computed:
                return (
                    f"{said}; the {other} model computes it in its forward code "
                    f"({self.evidence})."
                )
            if self.evidence:
                return f"{said}, and {self.evidence}; {self.fix}."
            why = self.unrun or "padiff-gen could not run the layers holding it"
            return (
                f"{said}. Whether the {other} model computes it is unknown ({why}): "
                "`padiff-gen verify` tells"
                + ("." if self.same_path else f"; else {self.fix}.")
            )
        if self.setting == "kind":
            return (
                f"{self.base.describe('base')} and {self.raw.describe('raw')} sit at the "
                f"same place{self.where} but compute different functions; {self.fix}."
            )
        base_meaning = f" ({self.base_meaning})" if self.base_meaning else ""
        raw_meaning = f" ({self.raw_meaning})" if self.raw_meaning else ""
        return (
            f"{self.base.describe('base')} has {self.base_shown}{base_meaning} but "
            f"{self.raw.describe('raw')} has {self.raw_shown}{raw_meaning}, so they "
            f"differ in {self.setting}: {self.fix}."
        )

    def data(self) -> dict[str, Any]:
        """As JSON-ready data (inspect --json)."""

        def side(layer: Optional[Layer]) -> Optional[dict[str, Any]]:
            if layer is None:
                return None
            return {
                "path": layer.path,
                "class": layer.class_name,
                "framework": layer.framework,
                "fused": layer.fused or None,
            }

        return {
            "base": side(self.base),
            "raw": side(self.raw),
            "setting": self.setting,
            "base_value": self.base_shown or None,
            "raw_value": self.raw_shown or None,
            "fix": self.fix or None,
            "unit": self.unit,
            "evidence": self.evidence or None,
            "computed": self.computed,
            "text": self.text,
        }


@dataclass(frozen=True)
class LayerMatch:
    """Two layers without weights at the same place (or one, without a partner)."""

    base: Optional[Layer]
    raw: Optional[Layer]
    notes: tuple[SettingNote, ...] = ()


@dataclass(frozen=True)
class Anchor:
    """A pair of units the analyzer paired; ``copied_as_is``: by the tensor table, not by
    a special initializer."""

    base: str
    raw: str
    copied_as_is: bool = True


@dataclass(frozen=True)
class Comparison:
    """What comparing the settings of two models found."""

    units: Mapping[tuple[str, str], tuple[Layer, Layer]]  # every anchor's two units
    unit_notes: Mapping[tuple[str, str], tuple[SettingNote, ...]]
    matches: tuple[LayerMatch, ...]  # the layers without weights
    anchors: tuple[tuple[Layer, Layer]]  # unit pairs in order on both sides

    @property
    def notes(self) -> tuple[SettingNote, ...]:
        """Every note, in the base model's definition order."""
        notes = [n for notes in self.unit_notes.values() for n in notes]
        return self.in_order(notes + [n for m in self.matches for n in m.notes])

    def in_order(self, notes: Iterable[SettingNote]) -> tuple[SettingNote, ...]:
        """Notes in base definition order; a raw-only one just after the unit before it."""
        return tuple(
            sorted(notes, key=lambda n: _base_order(n.base, n.raw, self.anchors))
        )

    def between(
        self, after: Optional[tuple[str, str]], before: Optional[tuple[str, str]]
    ) -> list[LayerMatch]:
        """The layers without weights after one unit pair and before another (None: the
        start or the end of the models), in either model."""
        bounds = {(b.path, r.path): (b.position, r.position) for b, r in self.anchors}
        low = bounds.get(after, (-1, -1)) if after else (-1, -1)
        high = bounds.get(before) if before else None
        high = high or (float("inf"), float("inf"))

        def inside(layer: Optional[Layer], index: int) -> bool:
            return layer is not None and low[index] < layer.position < high[index]

        return [m for m in self.matches if inside(m.base, 0) or inside(m.raw, 1)]


# ---------------------------------------------------------------- walking


def _walk(
    model: Any, framework: str, units: set[str], opaque: set[str]
) -> tuple[dict[str, Layer], list[Layer]]:
    """(units by path, layers without weights that the table knows), in definition order.

    Layers inside a layer-map entry belong to its initializer and are not walked.
    """
    found_units: dict[str, Layer] = {}
    items: list[Layer] = []
    position = 0
    for path, layer in iter_layers(model, prune=lambda p, _: p in opaque):
        name = class_name(layer)
        if path in units:
            kind = kind_of(layer, framework)
            found_units[path] = Layer(path, name, framework, position, kind, layer)
        else:
            kind = kind_of(layer, framework, evidence=False)
            if kind is not None:
                items.append(Layer(path, name, framework, position, kind, layer))
        position += 1
        fused = fused_activation(layer, framework)
        if fused is not None:
            written, kind = fused
            items.append(Layer(path, name, framework, position, kind, layer, written))
            position += 1
    return found_units, items


def _monotone(pairs: list[tuple[Layer, Layer]]) -> list[tuple[Layer, Layer]]:
    """The longest run of pairs in order on both sides (pairs matched by name may cross)."""
    pairs = sorted(pairs, key=lambda p: p[0].position)
    tails: list[int] = []  # raw position ending the best run of each length
    ends: list[int] = []  # index of that pair
    parent: list[int] = []
    for index, (_, raw) in enumerate(pairs):
        length = bisect_left(tails, raw.position)
        if length == len(tails):
            tails.append(raw.position)
            ends.append(index)
        else:
            tails[length] = raw.position
            ends[length] = index
        parent.append(ends[length - 1] if length else -1)
    run, index = [], ends[-1] if ends else -1
    while index >= 0:
        run.append(pairs[index])
        index = parent[index]
    return run[::-1]


# ---------------------------------------------------------------- pairing


def _kind_name(layer: Layer) -> str:
    return layer.kind.name if layer.kind is not None else layer.class_name


def _stretches(
    items: list[Layer], bounds: list[int]
) -> list[list[Layer]]:  # items between consecutive bounds
    stretches: list[list[Layer]] = [[] for _ in range(len(bounds) + 1)]
    for item in items:
        stretches[bisect_left(bounds, item.position)].append(item)
    return stretches


def _where(anchors: Sequence[tuple[Layer, Layer]], index: int) -> str:
    """' (between base `a` and `b`)' for the stretch before anchor ``index``."""
    before = anchors[index - 1][0].name if index > 0 else None
    after = anchors[index][0].name if index < len(anchors) else None
    if before and after:
        return f" (between base `{before}` and `{after}`)"
    if after:
        return f" (before base `{after}`)"
    if before:
        return f" (after base `{before}`)"
    return ""


Leftovers = list[tuple[list[Layer], list[Layer]]]  # per stretch: (base, raw) unpaired


def _pair_in_stretches(
    base_stretches: list[list[Layer]], raw_stretches: list[list[Layer]]
) -> tuple[list[tuple[Layer, Layer]], Leftovers]:
    """In each stretch between two anchors, pair by order and kind."""
    matched, left = [], []
    for base_run, raw_run in zip(base_stretches, raw_stretches):
        matcher = difflib.SequenceMatcher(
            None,
            [_kind_name(i) for i in base_run],
            [_kind_name(i) for i in raw_run],
            autojunk=False,
        )
        taken_base, taken_raw = set(), set()
        for block in matcher.get_matching_blocks():
            for offset in range(block.size):
                matched.append((base_run[block.a + offset], raw_run[block.b + offset]))
                taken_base.add(block.a + offset)
                taken_raw.add(block.b + offset)
        left.append(
            (
                [i for n, i in enumerate(base_run) if n not in taken_base],
                [i for n, i in enumerate(raw_run) if n not in taken_raw],
            )
        )
    return matched, left


def _pair_across(left: Leftovers) -> list[tuple[Layer, Layer]]:
    """Pair what is left by kind, in order, across the model: a layer defined elsewhere
    in the other model (definition order is not call order). ``left`` loses them."""
    matched = []
    raws = [raw for _, raw_left in left for raw in raw_left]
    for base_left, _ in left:
        for base in list(base_left):
            partner = next((r for r in raws if _kind_name(r) == _kind_name(base)), None)
            if partner is None:
                continue
            matched.append((base, partner))
            raws.remove(partner)
            base_left.remove(base)
            for _, raw_left in left:
                if partner in raw_left:
                    raw_left.remove(partner)
    return matched


def _unpaired(
    base_left: list[Layer], raw_left: list[Layer], where: str
) -> list[LayerMatch]:
    """What a stretch still holds: as many layers changing the outputs on each side are
    different layers at one place; otherwise each is on its side only (the other model
    may compute it in forward code). Identity layers (Dropout) need no partner."""
    base_changing = [i for i in base_left if i.changes_outputs]
    raw_changing = [i for i in raw_left if i.changes_outputs]
    matches = [LayerMatch(i, None) for i in base_left if not i.changes_outputs]
    matches += [LayerMatch(None, i) for i in raw_left if not i.changes_outputs]
    if len(base_changing) == len(raw_changing):
        for base, raw in zip(base_changing, raw_changing):
            note = SettingNote(
                base, raw, "kind", fix="use the same layer in both models", where=where
            )
            matches.append(LayerMatch(base, raw, (note,)))
        return matches
    for role, other, layers in (
        ("base", "raw", base_changing),
        ("raw", "base", raw_changing),
    ):
        for layer in layers:
            base, raw = (layer, None) if role == "base" else (None, layer)
            note = SettingNote(
                base,
                raw,
                "presence",
                fix=f"add it to the {other} model, or remove it from the {role} model",
                where=where,
            )
            matches.append(LayerMatch(base, raw, (note,)))
    return matches


def _pair_items(
    base_items: list[Layer],
    raw_items: list[Layer],
    anchors: Sequence[tuple[Layer, Layer]],
    frameworks: tuple[str, str],
) -> list[LayerMatch]:
    """Pair the layers without weights of both models around the anchors."""
    matched, left = _pair_in_stretches(
        _stretches(base_items, [b.position for b, _ in anchors]),
        _stretches(raw_items, [r.position for _, r in anchors]),
    )
    matched += _pair_across(left)
    matches = [LayerMatch(b, r, _pair_notes(b, r, frameworks)) for b, r in matched]
    for index, (base_left, raw_left) in enumerate(left):
        matches += _unpaired(base_left, raw_left, _where(anchors, index))
    return sorted(
        matches, key=lambda match: _base_order(match.base, match.raw, anchors)
    )


def _base_order(
    base: Optional[Layer], raw: Optional[Layer], anchors: Sequence[tuple[Layer, Layer]]
) -> tuple[int, int]:
    """A place in the base model's definition order; a raw-only layer's is just after
    the anchor before it."""
    if base is not None:
        return base.position, 0
    before = [b.position for b, r in anchors if r.position < raw.position]
    return max(before, default=-1), 1 + raw.position


def _pair_notes(
    base: Layer,
    raw: Layer,
    frameworks: tuple[str, str],
    unit: bool = False,
    copied_as_is: bool = True,
) -> tuple[SettingNote, ...]:
    """The settings on which two layers of one kind disagree."""
    if base.kind is None or raw.kind is None or base.kind.name != raw.kind.name:
        return ()
    if base.fused or raw.fused:  # nothing to read on a fused activation
        return ()
    return tuple(
        SettingNote(
            base,
            raw,
            mismatch.setting.name,
            mismatch.base_shown,
            mismatch.raw_shown,
            mismatch.fix,
            unit,
            mismatch.base_meaning,
            mismatch.raw_meaning,
        )
        for mismatch in compare_layers(
            base.layer, raw.layer, frameworks, base.kind, copied_as_is
        )
    )


# ---------------------------------------------------------------- entry points


def compare_models(
    base_model: Any,
    raw_model: Any,
    frameworks: tuple[str, str],
    anchors: Iterable[Anchor],
    units: tuple[set[str], set[str]],
    opaque: tuple[set[str], set[str]],
) -> Comparison:
    """Compare the settings of the paired units (``anchors``) and of the layers without
    weights between them. ``units``: each model's unit paths; ``opaque``: its layer-map
    entries, whose insides belong to their initializer."""
    base_units, base_items = _walk(base_model, frameworks[0], units[0], opaque[0])
    raw_units, raw_items = _walk(raw_model, frameworks[1], units[1], opaque[1])
    unit_notes: dict[tuple[str, str], tuple[SettingNote, ...]] = {}
    pairs: dict[tuple[str, str], tuple[Layer, Layer]] = {}
    for anchor in anchors:
        base, raw = base_units.get(anchor.base), raw_units.get(anchor.raw)
        if base is None or raw is None:
            continue
        pairs[(anchor.base, anchor.raw)] = (base, raw)
        notes = _pair_notes(base, raw, frameworks, True, anchor.copied_as_is)
        if notes:
            unit_notes[(anchor.base, anchor.raw)] = notes
    kept = _monotone(list(pairs.values()))
    matches = _pair_items(base_items, raw_items, kept, frameworks)
    return Comparison(pairs, unit_notes, tuple(matches), tuple(kept))


def pairing_comparison(pairing: Pairing, base_model: Any, raw_model: Any) -> Comparison:
    """Compare the settings of two analysed models (the pairs without errors anchor)."""
    anchors = [
        Anchor(p.base.path, p.raw.path, p.initializer is None)
        for p in pairing.pairs
        if p.base is not None and p.raw is not None and p.error is None
    ]
    return compare_models(
        base_model,
        raw_model,
        (pairing.base.framework, pairing.raw.framework),
        anchors,
        (
            {u.path for u in pairing.base_units},
            {u.path for u in pairing.raw_units},
        ),
        (
            {u.path for u in pairing.base_units if u.special},
            {u.path for u in pairing.raw_units if u.special},
        ),
    )


def with_settings(pairing: Pairing, base_model: Any, raw_model: Any) -> Pairing:
    """The pairing with every setting difference: on its unit pairs (``difference``, the
    table's ``# differs:`` mark) and in ``notes`` (all of them, in definition order)."""
    comparison = pairing_comparison(pairing, base_model, raw_model)
    pairs, said = [], []
    for pair in pairing.pairs:
        if pair.base is None or pair.raw is None:
            pairs.append(pair)
            continue
        key = (pair.base.path, pair.raw.path)
        notes = comparison.unit_notes.get(key, ())
        if pair.difference and key in comparison.units:
            # a validator's SettingDifference (a user initializer's)
            base, raw = comparison.units[key]
            setting = (
                "training"
                if isinstance(pair.difference, TrainingDifference)
                else "setting"
            )
            said.append(
                SettingNote(base, raw, setting, unit=True, said=pair.difference)
            )
        texts = [pair.difference] if pair.difference else []
        texts += [note.short for note in notes]
        pairs.append(dataclasses.replace(pair, difference="; ".join(texts)))
    notes = comparison.in_order(said + list(comparison.notes))
    return dataclasses.replace(pairing, pairs=tuple(pairs), notes=notes)


def wrap_note(text: str, first: str = "  - ") -> str:
    """A note wrapped to 100 columns, its first line starting with ``first``."""
    return textwrap.fill(
        text,
        width=100,
        initial_indent=first,
        subsequent_indent="    ",
        break_on_hyphens=False,
        break_long_words=False,
    )


def _grouped(notes: Sequence[SettingNote]) -> list[str]:
    """One sentence per group of notes that differ alike (94 BatchNorms with eps=0.001)."""
    groups: dict[tuple, list[SettingNote]] = {}
    for note in notes:
        key = (
            note.setting,
            note.base_shown,
            note.raw_shown,
            note.fix,
            note.said,
            note.base.class_name if note.base else "",
            note.raw.class_name if note.raw else "",
        )
        groups.setdefault(key, []).append(note)
    texts = []
    for group in groups.values():
        text = group[0].text
        if len(group) > 1:
            others = [f"`{(n.base or n.raw).name}`" for n in group[1:4]]
            more = " and others" if len(group) > 4 else ""
            text += (
                f" The same holds for {len(group) - 1} more pair"
                f"{'s' if len(group) > 2 else ''}: {', '.join(others)}{more}."
            )
        texts.append(text)
    return texts


def _unpaired_summary(notes: Sequence[SettingNote]) -> str:
    counts: dict[tuple[str, str], list[SettingNote]] = {}
    for note in notes:
        role = "base" if note.base else "raw"
        layer = note.base or note.raw
        counts.setdefault((role, layer.label), []).append(note)
    kinds = ", ".join(
        f"{role} {name}"
        + (f" x{len(group)}" if len(group) > 1 else "")
        + f" (`{(group[0].base or group[0].raw).name}`"
        + (", ...)" if len(group) > 1 else ")")
        for (role, name), group in counts.items()
    )
    outcomes = sorted({n.evidence for n in notes if n.evidence})
    if any(not n.evidence for n in notes):
        why = sorted({n.unrun for n in notes if not n.evidence and n.unrun})
        outcomes.append(
            "whether the other model computes "
            + ("the others" if outcomes else "them")
            + " in its forward code is unknown ("
            + ("; ".join(why) or "padiff-gen could not run the layers holding them")
            + "): `padiff-gen verify` tells"
        )
    alike = sorted({n.same_path for n in notes if n.same_path})
    if alike:
        outcomes.append(
            "at their paths the other model has layers of classes padiff-gen has no "
            "row for (" + ", ".join(alike) + ")"
        )
    outcome = "; ".join(outcomes)
    return (
        f"{len(notes)} layers without weights have no counterpart in the other model: "
        f"{kinds}; {outcome}. `padiff-gen inspect` lists them."
    )


def settings_note(notes: Sequence[SettingNote]) -> str:
    """emit's note on what differs outside the weights: each setting that differs,
    naming both layers, both values and the fix (alike ones grouped); the layers without
    a counterpart summed up."""
    facts = [n for n in notes if n.setting not in ("presence", "training")]
    unpaired = [n for n in notes if n.setting == "presence" and not n.computed]
    training = [n for n in notes if n.setting == "training"]
    lines = []
    if facts:
        texts = _grouped(facts)
        head = "note: the weights are copied exactly, but"
        if len(texts) == 1:
            lines.append(
                f"{head} a setting outside them changes the outputs: {texts[0]}"
            )
        else:
            lines.append(f"{head} these settings outside them change the outputs:")
            lines += [wrap_note(text) for text in texts[:NOTES_SHOWN]]
            if len(texts) > NOTES_SHOWN:
                lines.append(
                    f"  and {len(texts) - NOTES_SHOWN} more (padiff-gen inspect lists all)"
                )
    if training:
        texts = _grouped(training)
        lines.append(
            "note: a setting that changes only training differs (the outputs are "
            f"equal): {texts[0]}"
            + (f" (and {len(texts) - 1} more)" if len(texts) > 1 else "")
        )
    if len(unpaired) == 1:
        lines.append(f"note: {unpaired[0].text}")
    elif unpaired:
        lines.append(f"note: {_unpaired_summary(unpaired)}")
    return "\n".join(lines)


def unknown(note: SettingNote) -> bool:
    """A layer without a partner that no run showed computed or not by the other model."""
    return note.setting == "presence" and not note.computed and not note.evidence


def script_lines(notes: Sequence[SettingNote], unknowns: bool = False) -> list[str]:
    """The script's comment on the layers without weights that differ (unit pairs are
    marked on their table rows), wrapped to fit a comment; with ``unknowns``, on those
    only one model has that no run could judge instead."""
    notes = [n for n in notes if not n.unit and unknown(n) == unknowns]
    facts = [n for n in notes if n.setting != "presence"]
    unpaired = [n for n in notes if n.setting == "presence" and not n.computed]
    texts = _grouped(facts)
    if len(unpaired) == 1:
        texts.append(unpaired[0].text)
    elif unpaired:
        texts.append(_unpaired_summary(unpaired))
    lines = []
    for text in texts:
        lines += textwrap.wrap(
            text,
            width=84,
            initial_indent="- ",
            subsequent_indent="  ",
            break_on_hyphens=False,
            break_long_words=False,
        )
    return lines
