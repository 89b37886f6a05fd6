"""Fold repeated table rows: rows that differ only by layer or expert indices are said once.

A model of 48 layers of 128 experts has thousands of rows that differ only by their
indices. Such a run is written as one entry over an index range::

    {"for": "layer", "range": (0, 48), "rows": (
        ("model.layers.{layer}.mlp.gate.weight", ...),
        {"for": "expert", "range": (0, 128), "rows": (
            ("model.layers.{layer}.mlp.experts.gate_up_proj", "model.layers.{layer}.mlp.
            experts.{expert}.up_gate_proj.weight", "select(axis=0, index={expert}) | ...",
            ...),
        )},
    )},

which stands for its rows once for each index, in order, with ``{layer}`` in every string
replaced by the index (:func:`padiff_gen.runtime.core.tables.expand_rows` does it in the
script, so that the runtime reads the flat table as before). Nothing is declared by hand:
the folds are found in the flat table, and a row that does not repeat regularly stays a
row of its own. Only the *indices* are folded, the numbers of a dotted path
(``layers.3.``) or an ``index=`` argument that grow by one from a block of rows to the
next; every other number (shapes, sizes, axes) must be equal for rows to fold.

A script whose tables all have fewer than :data:`FOLD_MIN_ROWS` rows is left flat: it is
read at a glance.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence, Union

from ..runtime.core.tables import expand_rows

# A table with fewer rows is written flat.
FOLD_MIN_ROWS = 100
# The longest block of rows looked for as repeating (a layer's rows, an expert's).
MAX_BLOCK = 64
# Inside a row: the fewest items of a tuple said once, the longest block of them.
MIN_VALUE_RUN = 8
MAX_VALUE_BLOCK = 4
# An index: digits that are a component of a dotted path (``layers.3.``, `` `h.0` ``) or
# an ``index=`` argument; the names of the folds come from the component before it.
INDEX = re.compile(r"(?:^|(?<=[.`])|(?<=index=))(\d+)(?=[.`),]|$)")
ENTRY_OPEN = re.compile(
    r'^\s*\{"for": "(\w+)", "range": \((-?\d+), (-?\d+)\), "rows": \($'
)
ENTRY_CLOSE = re.compile(r"^\s*\)\},$")


@dataclass
class Row:
    """One table row: its values (strings, ints, tuples of them) and trailing comment."""

    value: tuple
    comment: str = ""


@dataclass
class Fold:
    """`body` once for each index in range(start, stop), `{name}` standing for it."""

    name: str
    start: int
    stop: int
    body: list = field(default_factory=list)


Item = Union[Row, Fold]


# ---------------------------------------------------------------- reading items
def _key_and_slots(value: Any, slots: list[int]) -> Any:
    """A hashable skeleton of `value` with its indices taken out into `slots`."""
    if isinstance(value, str):
        pieces = INDEX.split(value)
        slots.extend(int(p) for p in pieces[1::2])
        return ("s", tuple(pieces[0::2]))
    if isinstance(value, tuple):
        return ("t", tuple(_key_and_slots(v, slots) for v in value))
    if isinstance(value, dict):  # a folded run inside a row (see fold_values)
        return ("d", tuple((k, _key_and_slots(v, slots)) for k, v in value.items()))
    return ("v", value)


def _signature(item: Item) -> tuple[Any, tuple[int, ...]]:
    slots: list[int] = []
    if isinstance(item, Row):
        key = (
            "row",
            _key_and_slots(item.value, slots),
            _key_and_slots(item.comment, slots),
        )
    else:
        parts = []
        for inner in item.body:
            inner_key, inner_slots = _signature(inner)
            parts.append(inner_key)
            slots.extend(inner_slots)
        key = ("fold", item.name, item.start, item.stop, tuple(parts))
    return key, tuple(slots)


def _substitute(value: Any, mask: list[bool], name: str) -> Any:
    """`value` with the indices `mask` (consumed in order) marks replaced by {name}."""
    if isinstance(value, str):
        pieces = INDEX.split(value)
        out = pieces[0]
        for position in range(1, len(pieces), 2):
            out += ("{" + name + "}") if mask.pop(0) else pieces[position]
            out += pieces[position + 1]
        return out
    if isinstance(value, tuple):
        return tuple(_substitute(v, mask, name) for v in value)
    if isinstance(value, dict):
        return {k: _substitute(v, mask, name) for k, v in value.items()}
    return value


def _substituted(item: Item, mask: list[bool], name: str) -> Item:
    if isinstance(item, Row):
        value = _substitute(item.value, mask, name)
        return Row(value, _substitute(item.comment, mask, name))
    return Fold(
        item.name,
        item.start,
        item.stop,
        [_substituted(inner, mask, name) for inner in item.body],
    )


def _names(items: Sequence[Item]) -> set[str]:
    """The names of the folds in `items`, those inside rows' values included."""
    found = set()
    for item in items:
        if isinstance(item, Fold):
            found |= {item.name} | _names(item.body)
        else:
            found |= _value_names(item.value)
    return found


def _value_names(value: Any) -> set[str]:
    if isinstance(value, dict):
        return ({value.get("for", "")} | _value_names(value["each"])) - {""}
    if isinstance(value, tuple):
        return set().union(*(_value_names(v) for v in value)) if value else set()
    return set()


def _index_name(block: Sequence[Item], mask: Sequence[bool]) -> str:
    """The name of a new fold: the path component before its first index, singular
    (``layers.3`` -> ``layer``), unless an inner fold has it."""
    strings = [text for item in _rows_of(block) for text in _strings(item)]
    name, position = "index", 0
    for text in strings:
        pieces = INDEX.split(text)
        for index in range(1, len(pieces), 2):
            if mask[position] and name == "index":
                word = re.search(r"(\w+)[.`]$", pieces[index - 1])
                if word and not word.group(1).isdigit():
                    name = word.group(1)
                    if len(name) > 3 and name.endswith("s"):
                        name = name[:-1]
            position += 1
    taken = _names(block)
    base, number = name, 2
    while name in taken:
        name, number = f"{base}{number}", number + 1
    return name


# ---------------------------------------------------------------- folding
def _repeats(
    signatures, start: int, size: int
) -> Optional[tuple[int, list[bool], int]]:
    """(count, mask, first index) of the blocks of `size` items from `start` that repeat
    with indices growing by one; None for fewer than two."""
    first_keys = [signatures[start + j][0] for j in range(size)]
    first_slots = [s for j in range(size) for s in signatures[start + j][1]]
    mask: Optional[list[bool]] = None
    count = 1
    while start + (count + 1) * size <= len(signatures):
        offset = start + count * size
        if [signatures[offset + j][0] for j in range(size)] != first_keys:
            break
        slots = [s for j in range(size) for s in signatures[offset + j][1]]
        steps = [b - a for a, b in zip(first_slots, slots)]
        if mask is None:
            if set(steps) - {0, count} or count not in steps:
                break
            candidate = [step == count for step in steps]
            firsts = {a for a, moves in zip(first_slots, candidate) if moves}
            if len(firsts) != 1:
                break
            mask = candidate
        elif steps != [count if moves else 0 for moves in mask]:
            break
        count += 1
    if count < 2 or mask is None:
        return None
    first = next(a for a, moves in zip(first_slots, mask) if moves)
    return count, mask, first


def fold_items(items: Sequence[Item]) -> list[Item]:
    """Runs of blocks that repeat with growing indices, folded, innermost first; the
    flat rows they stand for are exactly `items`' (see :func:`flat`)."""
    items = list(items)
    signatures = [_signature(item) for item in items]
    size = 1
    while size <= min(MAX_BLOCK, len(items) // 2):
        folded, position, changed = [], 0, False
        while position < len(items):
            found = None
            if (
                position + 2 * size <= len(items)
                and signatures[position][0] == signatures[position + size][0]
            ):
                found = _repeats(signatures, position, size)
            if found is None:
                folded.append(items[position])
                position += 1
                continue
            count, mask, first = found
            block = items[position : position + size]
            name = _index_name(block, mask)
            marks = list(mask)
            body = [_substituted(item, marks, name) for item in block]
            folded.append(Fold(name, first, first + count, body))
            position += count * size
            changed = True
        if changed:
            items, size = folded, 1
            signatures = [_signature(item) for item in items]
        else:
            size += 1
    return items


def fold_tables(tables: dict[str, Sequence[Row]]) -> dict[str, list[Item]]:
    """A script's tables, all folded when one holds FOLD_MIN_ROWS rows or more and no
    row has a brace (which would read as an index's place): first the long runs inside
    rows (the per-expert checkpoint keys of a stacked tensor), then the rows."""
    rows = [row for table in tables.values() for row in table]
    longest = max((len(table) for table in tables.values()), default=0)
    if longest < FOLD_MIN_ROWS or any(
        "{" in text or "}" in text for row in rows for text in _strings(row)
    ):
        return {name: list(table) for name, table in tables.items()}
    return {
        name: fold_items([Row(fold_values(row.value), row.comment) for row in table])
        for name, table in tables.items()
    }


def fold_values(value: Any) -> Any:
    """A row's value with every run of MIN_VALUE_RUN items or more inside a tuple of
    strings or tuples folded: ``{"for": "expert", "range": (0, 128), "each": (...)}``
    for items whose indices grow by one, ``{"repeat": 256, "each": (...)}`` for equal
    ones (the shapes of the keys); the runtime splices them back into the tuple."""
    if not isinstance(value, tuple):
        return value
    items = [fold_values(v) for v in value]
    if len(items) < MIN_VALUE_RUN or any(isinstance(v, (int, float)) for v in items):
        return tuple(items)
    rows = [Row((v,)) for v in items]
    signatures = [_signature(row) for row in rows]
    out, position = [], 0
    while position < len(rows):
        entry = _value_run(rows, signatures, position)
        if entry is None:
            out.append(items[position])
            position += 1
            continue
        folded, used = entry
        out.append(folded)
        position += used
    return tuple(out)


def _value_run(rows, signatures, start: int) -> Optional[tuple[dict, int]]:
    """The folded run of items from `start` and how many items it stands for."""
    for size in range(1, MAX_VALUE_BLOCK + 1):
        if start + 2 * size > len(rows):
            break
        if signatures[start][0] != signatures[start + size][0]:
            continue
        block = rows[start : start + size]
        each = tuple(row.value[0] for row in block)
        found = _repeats(signatures, start, size)
        if found is not None and found[0] * size >= MIN_VALUE_RUN:
            count, mask, first = found
            name = _index_name(block, mask)
            marks = list(mask)
            each = tuple(_substituted(row, marks, name).value[0] for row in block)
            return {"for": name, "range": (first, first + count), "each": each}, (
                count * size
            )
        count = 1
        while start + (count + 1) * size <= len(rows) and all(
            signatures[start + count * size + j] == signatures[start + j]
            for j in range(size)
        ):
            count += 1
        if count * size >= MIN_VALUE_RUN:
            return {"repeat": count, "each": each}, count * size
    return None


def _strings(row: Row) -> list[str]:
    """The strings of a row, in the order its indices are read: value, then comment."""
    return list(_strings_in(row.value)) + [row.comment]


def _strings_in(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, (tuple, dict)):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings_in(item)


def _rows_of(items: Sequence[Item]) -> list[Row]:
    """The rows of items, those inside folds included, in order."""
    rows = []
    for item in items:
        rows.extend([item] if isinstance(item, Row) else _rows_of(item.body))
    return rows


def flat(items: Sequence[Item]) -> list[Row]:
    """The rows folded items stand for, in order, comments filled in too (by the
    script's own expansion, so that what is tested is what scripts run)."""
    return [Row(value, comment) for value, comment in expand_rows(_as_table(items))]


def _as_table(items: Sequence[Item]) -> tuple:
    """Folded items as a script's table holds them, each row with its comment."""
    return tuple(
        (
            (item.value, item.comment)
            if isinstance(item, Row)
            else {
                "for": item.name,
                "range": (item.start, item.stop),
                "rows": _as_table(item.body),
            }
        )
        for item in items
    )


# ---------------------------------------------------------------- writing and reading
def lines(items: Sequence[Item], literal, indent: str = "    ") -> list[str]:
    """The table's lines: one per row (with its comment), a fold opening and closing."""
    out = []
    for item in items:
        if isinstance(item, Row):
            comment = f"  # {item.comment}" if item.comment else ""
            out.append(f"{indent}{literal(item.value)},{comment}")
            continue
        out.append(
            f'{indent}{{"for": "{item.name}", "range": ({item.start}, {item.stop}), "rows": ('
        )
        out.extend(lines(item.body, literal, indent + "    "))
        out.append(f"{indent})}},")
    return out


def table_in(text: str, name: str) -> list[Row]:
    """The flat rows of table `name` in a script's text, with their comments (the
    tables are one row a line: they are not formatted); [] if it has none."""
    rows: list[tuple[int, Row]] = []
    stack: list[Fold] = [Fold("", 0, 1)]
    inside = False
    for line in text.splitlines():
        if not inside:
            inside = line == f"{name} = ("
            continue
        if line == ")":
            break
        opened = ENTRY_OPEN.match(line)
        if opened:
            fold = Fold(opened.group(1), int(opened.group(2)), int(opened.group(3)))
            stack[-1].body.append(fold)
            stack.append(fold)
            continue
        if ENTRY_CLOSE.match(line):
            stack.pop()
            continue
        code, _, comment = line.partition("  # ")
        stack[-1].body.append(Row(ast.literal_eval(code.strip().rstrip(",")), comment))
    return flat(stack[0].body)
