"""Errors that padiff-gen reports to users.

Every error a user can cause is a :class:`PadiffGenError`. It carries a one-paragraph
message that names the culprit and the fix; the CLI prints it without a traceback and maps
``exit_code`` to the process exit status (2 for usage errors, 1 for mapping failures).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence


class PadiffGenError(Exception):
    """A mistake in the user's input, explained in one paragraph."""

    exit_code = 2

    def __init__(self, message: str, hint: str = "", *, detail: str = "") -> None:
        self.message = message
        self.hint = hint
        # Pre-formatted lines shown after the paragraph (e.g. both trees side by side).
        self.detail = detail
        super().__init__(self.text)

    @property
    def text(self) -> str:
        return f"{self.message} {self.hint}".strip()

    def add_remark(self, remark: str) -> None:
        """Put what a caller knows about the cause first: the API knows how the models
        were built, the analysis that raised the error does not."""
        self.message = f"{remark} {self.message}"
        self.args = (self.text,)

    def __str__(self) -> str:
        return f"{self.text}\n{self.detail}" if self.detail else self.text


class UsageError(PadiffGenError):
    """Bad command-line arguments, specs, options or files."""


class SpecError(UsageError):
    """A model spec that cannot be resolved or built."""


class InlineError(PadiffGenError):
    """An initializer whose source cannot be inlined into a standalone script."""


class OutputError(UsageError):
    """The output path cannot be written safely."""


@dataclass(frozen=True)
class Side:
    """One side of a mapping failure: where it happened and what was there."""

    path: str
    class_name: str = ""
    shapes: Sequence[tuple] = ()

    def describe(self, role: str) -> str:
        where = f"{role} `{self.path or '<root>'}`"
        if self.class_name:
            where += f" ({self.class_name}"
            if self.shapes:
                where += ", " + ", ".join(format_shape(s) for s in self.shapes)
            where += ")"
        return where


class MappingError(PadiffGenError):
    """The two models do not pair up: counts, classes or shapes differ."""

    exit_code = 1

    def __init__(
        self,
        message: str,
        hint: str = "",
        base: Optional[Side] = None,
        raw: Optional[Side] = None,
        *,
        detail: str = "",
    ) -> None:
        self.base = base
        self.raw = raw
        super().__init__(message, hint, detail=detail)


def format_shape(shape: Sequence[int]) -> str:
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"
