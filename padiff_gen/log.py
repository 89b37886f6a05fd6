"""padiff-gen's notes and warnings: the ``padiff_gen`` logger, in our own format.

Without this, a note logged while the API runs inside someone's program would come out in
the format of whichever library configured the root logger first (paddle does, on import),
or not at all. The logger writes plain ``padiff-gen: note: ...`` lines to stderr and does
not propagate; the ``padiff-gen`` command replaces the handler with its own (progress-aware,
wrapped). A program that wants the notes elsewhere replaces the handlers of
``logging.getLogger("padiff_gen")``.
"""

from __future__ import annotations

import logging
import sys

LOGGER_NAME = "padiff_gen"


class _StderrHandler(logging.StreamHandler):
    """Writes to the sys.stderr of the moment (tests and programs may swap it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        # Not setStream: it flushes the stream of before, which a test's capture may
        # have closed since.
        self.stream = sys.stderr
        super().emit(record)


def get_logger() -> logging.Logger:
    """The ``padiff_gen`` logger, given our handler if nobody gave it one."""
    logger = logging.getLogger(LOGGER_NAME)
    if not logger.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("padiff-gen: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
