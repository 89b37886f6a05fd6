"""Progress on a terminal: one transient status line on stderr, with the seconds elapsed.

Off unless the CLI turns it on (stderr is a terminal and --quiet was not given), so library
users, pipes and CI logs never see it. A stage that takes long enough shows a ticking
counter, so a big model's slow build does not look like a hang.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import time
from typing import Iterator, Optional, TextIO

# Stages faster than this never show, so quick runs print nothing at all.
SHOW_AFTER_S = 0.5
TICK_S = 0.25
_CLEAR = "\r\033[K"


class _State:
    def __init__(self) -> None:
        self.stream: Optional[TextIO] = None
        self.lock = threading.Lock()
        self.prefix = ""
        self.shown = False  # whether a status line is on the screen now


_state = _State()


def configure(enabled: bool, stream: Optional[TextIO] = None) -> None:
    _state.stream = (stream or sys.stderr) if enabled else None


def enabled() -> bool:
    return _state.stream is not None


def should_show(stream: TextIO, quiet: bool) -> bool:
    """Progress goes to terminals only."""
    isatty = getattr(stream, "isatty", None)
    return not quiet and bool(isatty and isatty())


def clear() -> None:
    """Remove the status line (before printing something that must stay)."""
    with _state.lock:
        _clear_locked()


def _clear_locked() -> None:
    if _state.shown and _state.stream is not None:
        _state.stream.write(_CLEAR)
        _state.stream.flush()
        _state.shown = False


@contextlib.contextmanager
def prefix(text: str) -> Iterator[None]:
    """Prefix the stages inside, e.g. with ``[2/5] init_resnet.py:``."""
    previous = _state.prefix
    _state.prefix = f"{previous}{text} "
    try:
        yield
    finally:
        _state.prefix = previous


@contextlib.contextmanager
def stage(message: str) -> Iterator[None]:
    """Show ``message ... 3 s`` while the block runs (if it runs long enough)."""
    if _state.stream is None:
        yield
        return
    text = f"{_state.prefix}{message}"
    started = time.monotonic()
    done = threading.Event()

    def tick() -> None:
        if done.wait(SHOW_AFTER_S):
            return
        while True:
            elapsed = int(time.monotonic() - started)
            with _state.lock:
                if done.is_set() or _state.stream is None:
                    return
                _state.stream.write(f"{_CLEAR}{text} ... {elapsed} s")
                _state.stream.flush()
                _state.shown = True
            if done.wait(TICK_S):
                return

    ticker = threading.Thread(target=tick, name="padiff-gen-progress", daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()
        clear()


class ProgressAwareHandler(logging.StreamHandler):
    """A log handler that clears the status line first, so messages never interleave."""

    def emit(self, record: logging.LogRecord) -> None:
        clear()
        super().emit(record)
