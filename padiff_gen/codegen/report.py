"""The paired table ``padiff-gen inspect`` prints, for people (aligned text) and as data.

Built from a :class:`~padiff_gen.plan.plan.Pairing`, which keeps every mismatch on its pair, so
the whole table shows even when the models do not map: the first mismatch is marked, rows
matched by name are marked, the units without a partner on either side are listed after
the table, and so are the settings that differ outside the weights.
"""

from __future__ import annotations

import textwrap
from typing import Any, Optional

from ..analysis.compare_settings import wrap_note, unknown
from ..analysis.match import UNPAIRED
from ..plan.operations import COPY, TRANSPOSE
from ..plan.plan import ModelInfo, Pairing, TensorRef, Unit, UnitPair
from ..term import align, clip_right, fit_columns, paint

FIRST_MARK = ">"  # the first mismatch
ERROR_MARK = "!"  # any later mismatch (often a consequence of the first)
SHAPES_SHOWN = 4  # per unit in the text table; --json lists all


# ---------------------------------------------------------------- as data


def _tensor_data(tensor: TensorRef) -> dict[str, Any]:
    return {"path": tensor.path, "shape": list(tensor.shape), "dtype": tensor.dtype}


def _unit_data(unit: Optional[Unit]) -> Optional[dict[str, Any]]:
    if unit is None:
        return None
    return {
        "path": unit.path,
        "class": unit.class_name,
        "special": unit.special,
        "tensors": [_tensor_data(t) for t in unit.tensors],
    }


def _model_data(info: ModelInfo) -> dict[str, Any]:
    return {
        "framework": info.framework,
        "class": info.class_name,
        "spec": info.spec.text if info.spec else None,
        "kwargs": dict(info.spec.kwargs) if info.spec else {},
    }


def how(pair: UnitPair) -> str:
    """'copy', 'transpose', 'layout' (fused, stacked or reshaped), 'initializer',
    'undecided' (several layouts fit) or 'mismatch'."""
    if pair.error is not None:
        return "mismatch"
    if pair.question is not None:
        return "undecided"
    if pair.initializer is not None:
        return "initializer"
    if any(copy.transform not in (COPY, TRANSPOSE) for copy in pair.copies):
        return "layout"
    if any(copy.transform == TRANSPOSE for copy in pair.copies):
        return "transpose"
    return "copy"


# How a row was matched, when not by its position in definition order.
MATCH_MARKS = {
    "name": "matched by name",
    "map": "matched by --map",
    "calls": "matched in call order",
}


def paired(pairing: Pairing) -> list[UnitPair]:
    """The pairs with a unit on both sides (the table's rows); a row that only carries
    the error about units without a partner is none."""
    return [
        p
        for p in pairing.pairs
        if p.base is not None and p.raw is not None and p.matched_by != UNPAIRED
    ]


def leftovers(pairing: Pairing) -> tuple[tuple[Unit, ...], tuple[Unit, ...]]:
    """Units of either model that no row pairs with anything, in definition order."""
    rows = paired(pairing)
    base_paths = {p.base.path for p in rows}
    raw_paths = {p.raw.path for p in rows}
    return (
        tuple(u for u in pairing.base_units if u.path not in base_paths),
        tuple(u for u in pairing.raw_units if u.path not in raw_paths),
    )


def _first_mismatch(pairing: Pairing) -> Optional[tuple[Optional[int], UnitPair]]:
    """(row index, or None when the first error is about leftovers, and its pair)."""
    rows = paired(pairing)
    for pair in pairing.pairs:
        if pair.error is not None:
            return (rows.index(pair) if pair in rows else None), pair
    return None


def pairing_data(pairing: Pairing) -> dict[str, Any]:
    """Everything the text table shows, as JSON-ready data."""
    first = _first_mismatch(pairing)
    base_left, raw_left = leftovers(pairing)
    pairs = []
    for index, pair in enumerate(paired(pairing), start=1):
        initializer = pair.initializer
        pairs.append(
            {
                "index": index,
                "base": _unit_data(pair.base),
                "raw": _unit_data(pair.raw),
                "how": how(pair),
                "copies": [
                    {
                        "base": (
                            c.base_path
                            if len(c.base) == 1
                            else [t.path for t in c.base]
                        ),
                        "raw": c.raw.path,
                        "transform": c.transform.text(),
                        "note": c.note or None,
                        "condition": c.condition or None,
                    }
                    for c in pair.copies
                ],
                "layout": pair.layout or None,
                "choices": [c.layout.choice for c in pair.candidates],
                "initializer": (
                    {"name": initializer.name, "origin": initializer.origin}
                    if initializer is not None
                    else None
                ),
                "matched_by": pair.matched_by,
                "matched_by_name": pair.matched_by in MATCH_MARKS,
                "differs": pair.difference or None,
                "error": pair.error.text if pair.error is not None else None,
            }
        )
    undecided = pairing.undecided
    return {
        "ok": first is None and not undecided,  # as inspect's exit status says
        "undecided": [
            {
                "base": pair.base.path,
                "raw": pair.raw.path,
                "message": pair.question.text,
            }
            for pair in undecided
        ],
        "base": _model_data(pairing.base),
        "raw": _model_data(pairing.raw),
        "pairs": pairs,
        "first_mismatch": (
            {
                "index": None if first[0] is None else first[0] + 1,
                "where": "leftovers" if first[0] is None else "pair",
                "message": first[1].error.text,
            }
            if first is not None
            else None
        ),
        "leftovers": {
            "base": [_unit_data(u) for u in base_left],
            "raw": [_unit_data(u) for u in raw_left],
        },
        "settings": [note.data() for note in pairing.notes],
    }


# ---------------------------------------------------------------- as text


def _shape_text(shape: tuple[int, ...]) -> str:
    return "[" + ",".join(str(d) for d in shape) + "]" if shape else "scalar"


def _shapes(unit: Unit) -> str:
    """Shapes, a run of equal ones counted (BatchNorm's ``4x[64] scalar``)."""
    runs: list[list] = []
    for shape in unit.shapes:
        text = _shape_text(shape)
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    shown = [text if n == 1 else f"{n}x{text}" for text, n in runs]
    if len(shown) > SHAPES_SHOWN:
        shown = shown[:SHAPES_SHOWN] + [f"+{len(shown) - SHAPES_SHOWN}"]
    return " ".join(shown)


# How a row's pair was found, when not by position (see padiff_gen.analysis.match): a column of
# its own, shown when some row has it.
MATCHED_BY = {"name": "by name", "map": "by --map", "calls": "in call order"}


def _how_text(pair: UnitPair) -> str:
    kind = how(pair)
    if kind == "mismatch":
        text = "MISMATCH"
    elif kind == "undecided":
        text = f"UNDECIDED: {len(pair.candidates)} layouts fit"
    elif kind == "layout":
        text = pair.layout or "; ".join(
            sorted({c.transform.text() for c in pair.copies})
        )
    elif kind == "initializer":
        text = f"{pair.initializer.name} ({pair.initializer.origin})"
    elif kind == "transpose":
        names = [c.raw.name for c in pair.copies if c.transform == TRANSPOSE]
        text = "transpose " + ", ".join(names)
    else:
        text = "copy"
    if pair.difference and kind != "mismatch":
        text += f"; differs: {pair.difference}"
    return text


def _model_line(role: str, info: ModelInfo) -> str:
    where = info.spec.text if info.spec else "(a model passed in memory)"
    return f"{role + ':':<5} {where} ({info.framework} {info.class_name})"


def _wrap(text: str, indent: str, width: Optional[int] = None) -> str:
    return textwrap.fill(
        text,
        width=min(width or 100, 100),
        initial_indent=indent,
        subsequent_indent=indent,
    )


# The table's columns give up room in this order when it is wider than the terminal:
# paths first (their ends stay), then shapes, classes, and last what is done.
BASE_PATH, BASE_CLASS, BASE_SHAPES, RAW_PATH, RAW_CLASS, RAW_SHAPES = 2, 3, 4, 5, 6, 7
SHRINK = (
    ((BASE_PATH, RAW_PATH), 16, True),
    ((BASE_SHAPES, RAW_SHAPES), 12, False),
    ((BASE_CLASS, RAW_CLASS), 12, False),
    ((-1,), 16, False),  # how: the last column
    # Still too wide (a narrow terminal): the same again, down to a few characters.
    ((BASE_PATH, RAW_PATH), 9, True),
    ((BASE_SHAPES, RAW_SHAPES), 7, False),
    ((BASE_CLASS, RAW_CLASS), 7, False),
    ((-1,), 8, False),
)


def format_pairing(
    pairing: Pairing, color: bool = False, width: Optional[int] = None
) -> str:
    """The aligned, optionally coloured table with mismatches and leftovers.

    ``width``: the columns to fit (a terminal's); long paths then lose their head
    (``...blocks.11.attn``), and so on (see SHRINK). None: as wide as it takes.
    """
    first = _first_mismatch(pairing)
    rows = paired(pairing)
    header = ["", "#", "base", "class", "shapes", "raw", "class", "shapes", "how"]
    matched = any(pair.matched_by in MATCHED_BY for pair in rows)
    if matched:
        header.insert(-1, "paired")
    cells = [header]
    for index, pair in enumerate(rows):
        mark = ""
        if pair.error is not None:
            mark = FIRST_MARK if first is not None and first[0] == index else ERROR_MARK
        cells.append(
            [
                mark,
                str(index + 1),
                pair.base.path or "<root>",
                pair.base.class_name,
                _shapes(pair.base),
                pair.raw.path or "<root>",
                pair.raw.class_name,
                _shapes(pair.raw),
                *([MATCHED_BY.get(pair.matched_by, "")] if matched else []),
                _how_text(pair),
            ]
        )
    shrink = [  # -1 is the last column, whichever it is
        (tuple(column % len(header) for column in columns), narrowest, left)
        for columns, narrowest, left in SHRINK
    ]
    cells = fit_columns(cells, width, shrink)
    lines = [
        clip_right(_model_line("base", pairing.base), width or 10**6),
        clip_right(_model_line("raw", pairing.raw), width or 10**6),
        "",
    ]
    for row_index, row in enumerate(align(cells)):
        line = "".join(row).rstrip()
        if row_index == 0:
            lines.append(paint(line, color, "bold"))
            continue
        pair = rows[row_index - 1]
        kind = how(pair)
        if kind == "mismatch":
            styles = ("red", "bold") if row[0].strip() == FIRST_MARK else ("red",)
            lines.append(paint(line, color, *styles))
        elif kind == "initializer":
            head, tail = "".join(row[:-1]), row[-1]
            lines.append(head + paint(tail, color, "cyan"))
        elif kind == "transpose":
            head, tail = "".join(row[:-1]), row[-1]
            lines.append(head + paint(tail, color, "blue"))
        else:
            lines.append(line)
    if not rows:
        lines.append("(no pairs)")
    lines += _leftover_lines(pairing, first, color)
    lines += _settings_lines(pairing, color)
    lines.append("")
    lines.append(_summary(pairing, first, color, width))
    if first is not None:
        where = "#" + str(first[0] + 1) if first[0] is not None else "the leftovers"
        lines.append(
            paint(
                _wrap(f"{FIRST_MARK} first mismatch, at {where}:", "", width),
                color,
                "red",
                "bold",
            )
        )
        lines.append(_wrap(first[1].error.text, "  ", width))
    elif pairing.undecided:
        count = len(pairing.undecided)
        lines.append(
            paint(
                _wrap(
                    f"{count} pair{'s' if count != 1 else ''} undecided; the first:",
                    "",
                    width,
                ),
                color,
                "red",
                "bold",
            )
        )
        lines.append(_wrap(pairing.undecided[0].question.text, "  ", width))
    return "\n".join(lines) + "\n"


def _leftover_lines(pairing: Pairing, first, color: bool) -> list[str]:
    lines: list[str] = []
    for role, units in zip(("base", "raw"), leftovers(pairing)):
        if not units:
            continue
        lines += [
            "",
            paint(f"left over on the {role} side ({len(units)}):", color, "bold"),
        ]
        cells = []
        for number, unit in enumerate(units):
            mark = (
                FIRST_MARK
                if first is not None and first[0] is None and number == 0
                else ""
            )
            cells.append([mark, unit.path or "<root>", unit.class_name, _shapes(unit)])
        for row in align(cells):
            lines.append(paint("".join(row).rstrip(), color, "red"))
    return lines


def _wrapped(text: str) -> str:
    return wrap_note(text, first="  ")


def _differences(pairing: Pairing) -> list:
    """The notes on what differs outside the weights: not the layers without a partner
    that running them showed the other model computes in its forward code, nor those
    no run could judge."""
    return [n for n in pairing.notes if not n.computed and not unknown(n)]


def _settings_lines(pairing: Pairing, color: bool) -> list[str]:
    notes = _differences(pairing)
    computed = [note for note in pairing.notes if note.computed]
    unknowns = [note for note in pairing.notes if unknown(note)]
    lines = []
    if notes:
        lines += [
            "",
            paint(
                f"differences outside the weights ({len(notes)}): the outputs differ "
                "even with equal weights",
                color,
                "bold",
            ),
        ]
    for note in notes:
        lines.append(paint(_wrapped(note.text), color, "yellow"))
    if unknowns:
        lines += [
            "",
            paint(
                f"layers without weights only one model has, not run here "
                f"({len(unknowns)}): whether the outputs differ is unknown",
                color,
                "bold",
            ),
        ]
    for note in unknowns:
        lines.append(paint(_wrapped(note.text), color, "yellow"))
    if computed:
        first = computed[0]
        layer = first.base or first.raw
        more = (
            f" and {len(computed) - 1} more like it (judged by the first)"
            if len(computed) > 1
            else ""
        )
        lines += [
            "",
            textwrap.fill(
                f"layers without a partner that the other model computes in its "
                f"forward code ({len(computed)}): `{layer.name}` ({layer.class_name})"
                f"{more}; {first.evidence}.",
                width=100,
                subsequent_indent="  ",
                break_on_hyphens=False,
                break_long_words=False,
            ),
        ]
    return lines


def _summary(pairing: Pairing, first, color: bool, width: Optional[int] = None) -> str:
    rows = paired(pairing)
    kinds = [how(pair) for pair in rows]
    base_left, raw_left = leftovers(pairing)
    text = (
        f"{len(rows)} pairs: {kinds.count('copy')} copied as is, "
        f"{kinds.count('transpose')} with a transpose, "
        f"{kinds.count('layout')} fused, stacked or reshaped, "
        f"{kinds.count('initializer')} by initializers, "
        f"{kinds.count('undecided')} undecided (several layouts fit), "
        f"{kinds.count('mismatch')} mismatched; "
        f"{len(base_left)} base and {len(raw_left)} raw units left over."
    )
    moved = sum(1 for pair in rows if pair.matched_by in MATCHED_BY)
    if moved:
        text += (
            f" {moved} pair{'s were' if moved != 1 else ' was'} matched by name or "
            "--map: the models define those layers in a different order."
        )
    if _differences(pairing):
        count = len(_differences(pairing))
        text += f" {count} difference{'s' if count != 1 else ''} outside the weights."
    unknowns = sum(1 for note in pairing.notes if unknown(note))
    if unknowns:
        text += (
            f" {unknowns} layer{'s' if unknowns != 1 else ''} without weights only one "
            "model has could not be run here."
        )
    settled = first is None and not pairing.undecided
    if settled:
        text += " Everything pairs."
    if width:
        text = _wrap(text, "", width)
    return paint(text, color, "green") if settled else text
