"""Both models' units side by side, for errors that say where the two trees diverge.

Rows are (base unit, raw unit) as a matching strategy lined them up: in definition order
row i holds the i-th unit of each model; by name, the units paired by path, then those
left over. The marked row is where the strategy went wrong.
"""

from __future__ import annotations

from typing import Optional, Sequence

from ..plan.plan import Unit

# Rows shown around the marked one; long models would otherwise bury it.
ROWS_BEFORE = 4
ROWS_AFTER = 6
CELL_WIDTH = 58
MARK = ">>"


def _shapes(unit: Unit) -> str:
    """Shapes, a run of equal ones shown once with a count: BatchNorm's four [64]."""
    runs: list[list] = []
    for shape in unit.shapes:
        text = "[" + ",".join(str(d) for d in shape) + "]"
        if runs and runs[-1][0] == text:
            runs[-1][1] += 1
        else:
            runs.append([text, 1])
    return " ".join(text if n == 1 else f"{n}x{text}" for text, n in runs)


def describe_unit(unit: Optional[Unit], width: int = 10_000) -> str:
    """`path  Class  shapes` in at most ``width`` characters, "-" for no unit.

    A long path loses its head ("...block.8.conv"): class and shapes say most.
    Layer-map units are marked.
    """
    if unit is None:
        return "-"
    kind = f"{unit.class_name} (layer map)" if unit.special else unit.class_name
    tail = f"  {kind}  {_shapes(unit)}"
    path = unit.path or "<root>"
    room = width - len(tail)
    if len(path) > room:
        path = "..." + path[len(path) - max(room - 3, 1) :]
    return (path + tail)[:width]


def _fit(text: str, width: int) -> str:
    return text.ljust(width)


Row = tuple[Optional[Unit], Optional[Unit]]


def rows_in_order(base_units: Sequence[Unit], raw_units: Sequence[Unit]) -> list[Row]:
    """Row i: the i-th unit of each model, as pairing in definition order sees them."""
    count = max(len(base_units), len(raw_units))
    return [
        (
            base_units[i] if i < len(base_units) else None,
            raw_units[i] if i < len(raw_units) else None,
        )
        for i in range(count)
    ]


def side_by_side(
    rows: Sequence[Row], mark: int, base_title: str, raw_title: str
) -> str:
    """A window of rows around row ``mark`` (0-based), that row flagged with ``>>``."""
    total = len(rows)
    mark = min(max(mark, 0), max(total - 1, 0))
    first, last = max(0, mark - ROWS_BEFORE), min(total, mark + ROWS_AFTER + 1)
    shown = [
        (str(i), describe_unit(base, CELL_WIDTH), describe_unit(raw, CELL_WIDTH))
        for i, (base, raw) in enumerate(rows[first:last], start=first)
    ]
    number_width = len(str(max(last - 1, 0)))
    indent = len(MARK) + 1 + number_width + 2
    left_width = min(
        CELL_WIDTH, max([len(base_title)] + [len(left) for _, left, _ in shown])
    )
    lines = [f"{' ' * indent}{_fit(base_title[:left_width], left_width)} | {raw_title}"]
    if first > 0:
        lines.append(f"{' ' * indent}... {first} rows above")
    for i, (number, left, right) in enumerate(shown, start=first):
        flag = MARK if i == mark else " " * len(MARK)
        lines.append(
            f"{flag} {number.rjust(number_width)}  {_fit(left, left_width)} | {right}"
        )
    if last < total:
        lines.append(f"{' ' * indent}... {total - last} rows below")
    return "\n".join(lines)
