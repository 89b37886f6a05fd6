"""Terminal colour: on for terminals, off for pipes, files, NO_COLOR and TERM=dumb."""

from __future__ import annotations

import os
import shutil
import textwrap
from typing import Optional, Sequence, TextIO

CODES = {
    "bold": "1",
    "dim": "2",
    "red": "31",
    "green": "32",
    "yellow": "33",
    "blue": "34",
    "cyan": "36",
}
COLOR_CHOICES = ("auto", "always", "never")


def use_color(stream: TextIO, mode: str = "auto") -> bool:
    """Whether to colour what goes to ``stream`` (``--color auto|always|never``)."""
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, color: bool, *styles: str) -> str:
    if not color or not styles or not text:
        return text
    codes = ";".join(CODES[style] for style in styles)
    return f"\033[{codes}m{text}\033[0m"


def align(rows: list[list[str]], gap: str = "  ") -> list[list[str]]:
    """Pad every cell but the last of each row to its column's width (before colouring)."""
    widths: list[int] = []
    for row in rows:
        for index, cell in enumerate(row[:-1]):
            if index == len(widths):
                widths.append(0)
            widths[index] = max(widths[index], len(cell))
    return [
        [cell.ljust(widths[i]) + gap for i, cell in enumerate(row[:-1])] + row[-1:]
        for row in rows
    ]


def fill_paragraph(text: str, width: int = 100) -> str:
    """Wrap a message for the terminal, but never inside a flag, a path or a spec."""
    return textwrap.fill(
        text, width=width, break_on_hyphens=False, break_long_words=False
    )


def terminal_width(stream: TextIO) -> Optional[int]:
    """Columns to fit: $COLUMNS when set, else the terminal's; None when piped."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return shutil.get_terminal_size().columns
    return None


ELLIPSIS = "..."


def clip_left(text: str, width: int) -> str:
    """``...block.8.conv``: a path keeps its end, which says most."""
    if len(text) <= width:
        return text
    return ELLIPSIS + text[len(text) - max(width - len(ELLIPSIS), 1) :]


def clip_right(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(width - len(ELLIPSIS), 1)] + ELLIPSIS


def fit_columns(
    rows: list[list[str]],
    width: Optional[int],
    shrink: Sequence[tuple[Sequence[int], int, bool]],
    gap: int = 2,
) -> list[list[str]]:
    """Clip cells so that the aligned rows fit in ``width`` columns.

    ``shrink`` lists groups of columns in the order they give up room: (column indexes,
    the narrowest they may get, clip from the left). Within a group the widest column
    gives first. Rows that cannot fit even then stay as wide as they must.
    """
    if width is None or not rows:
        return rows
    count = max(len(row) for row in rows)
    widths = [max(len(row[i]) for row in rows if i < len(row)) for i in range(count)]
    excess = sum(widths) + gap * (count - 1) - width
    limits = list(widths)
    for columns, narrowest, _ in shrink:
        while excess > 0:
            column = max(columns, key=lambda i: limits[i])
            if limits[column] <= narrowest:
                break
            limits[column] -= 1
            excess -= 1
    clip = {
        c: (clip_left if left else clip_right) for cs, _, left in shrink for c in cs
    }
    return [
        [clip[i](cell, limits[i]) if i in clip else cell for i, cell in enumerate(row)]
        for row in rows
    ]
