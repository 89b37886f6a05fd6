"""Terminal colour: on for terminals, off for pipes, files, NO_COLOR and TERM=dumb."""

from __future__ import annotations

import os
import textwrap
from typing import TextIO

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
