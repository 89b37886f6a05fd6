"""padiff_gen's logger in a program that calls it in process (padiff_gen.log, cli.main)."""

from __future__ import annotations

import io
import logging
import sys

from padiff_gen.cli.cli import main
from padiff_gen.log import LOGGER_NAME, _StderrHandler


def test_a_note_goes_to_the_stderr_of_the_moment_after_the_last_one_closed(
    monkeypatch, tmp_path
):
    """A test's capture (a file) closes the stream a note went to; the next note must
    reach the new sys.stderr (it raised "I/O operation on closed file", flushing the
    old one)."""
    logger = logging.getLogger(f"{LOGGER_NAME}.closed_stream_test")
    logger.propagate = False
    logger.handlers[:] = [_StderrHandler()]
    first = open(tmp_path / "first", "w", buffering=1)
    monkeypatch.setattr(sys, "stderr", first)
    logger.warning("one")
    first.close()
    with open(tmp_path / "second", "w") as second:
        monkeypatch.setattr(sys, "stderr", second)
        logger.warning("two")
    assert (tmp_path / "second").read_text() == "two\n"


def test_main_leaves_the_logger_as_it_found_it(tmp_path, monkeypatch):
    """cli.main() configures its own handler and level (--quiet: errors only); a
    program that calls it keeps its own notes afterwards."""
    logger = logging.getLogger(LOGGER_NAME)
    mine = logging.StreamHandler(io.StringIO())
    monkeypatch.setattr(logger, "handlers", [mine])
    monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--quiet", str(tmp_path / "missing.py")]) != 0
    assert logger.handlers == [mine]
    assert logger.level == logging.INFO
