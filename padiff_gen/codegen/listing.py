"""What ``padiff-gen list-inits`` prints: every registered initializer and where it is from."""

from __future__ import annotations

from typing import Any

from ..load.plugins import origin_detail
from ..special_init import Initializer, SpecialInitPool
from ..term import align, paint

KIND_STYLE = {"built-in": "dim", "plugin": "cyan", "init-module": "yellow"}


def _replaced(pool: SpecialInitPool) -> dict[int, list[str]]:
    """id(active entry) -> origins of the registrations it replaced, oldest first."""
    active = {id(entry): entry for entry in pool.entries()}
    earlier: dict[Any, list[str]] = {}
    replaced: dict[int, list[str]] = {}
    for entry in pool.history():
        if id(entry) in active:
            replaced[id(entry)] = [
                o for o in earlier.get(entry.key, []) if o != entry.origin
            ]
        earlier.setdefault(entry.key, []).append(entry.origin)
    return replaced


def inits_data(pool: SpecialInitPool) -> list[dict[str, Any]]:
    replaced = _replaced(pool)
    return [
        {
            "base": {"framework": e.key.base_framework, "class": e.key.base_class},
            "raw": {"framework": e.key.raw_framework, "class": e.key.raw_class},
            "function": e.name,
            "module": getattr(e.func, "__module__", None),
            "origin": origin_detail(e.origin),
            "validates": e.validate is not None,
            "replaces": replaced.get(id(e), []),
        }
        for e in pool.entries()
    ]


def format_inits(pool: SpecialInitPool, color: bool = False) -> str:
    replaced = _replaced(pool)
    entries: list[Initializer] = pool.entries()
    cells = [["base", "", "", "raw", "", "initializer", "origin"]]
    for e in entries:
        origin = e.origin
        if replaced.get(id(e)):
            origin += f" (replaces {', '.join(replaced[id(e)])})"
        cells.append(
            [
                e.key.base_framework,
                e.key.base_class,
                "->",
                e.key.raw_framework,
                e.key.raw_class,
                e.name,
                origin,
            ]
        )
    lines = []
    for index, row in enumerate(align(cells)):
        if index == 0:
            lines.append(paint("".join(row).rstrip(), color, "bold"))
            continue
        kind = origin_detail(entries[index - 1].origin)["kind"]
        head, tail = "".join(row[:-1]), row[-1]
        styles = (KIND_STYLE[kind],) if kind in KIND_STYLE else ()
        lines.append(head + paint(tail, color, *styles))
    kinds = [origin_detail(e.origin)["kind"] for e in entries]
    lines.append("")
    lines.append(
        f"{len(entries)} initializers: {kinds.count('built-in')} built-in, "
        f"{kinds.count('plugin')} from plugins, "
        f"{len(entries) - kinds.count('built-in') - kinds.count('plugin')} from modules."
    )
    return "\n".join(lines) + "\n"
