"""Run the CLI with stdout and/or stderr on a pseudo-terminal, as a user at a terminal does."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from conftest import ROOT, subprocess_env

_PROGRESS_AT_ONCE = (
    "from padiff_gen import progress; progress.SHOW_AFTER_S = 0.0; "
    "from padiff_gen.__main__ import run; run()"
)


@dataclass
class TerminalRun:
    returncode: int
    terminal: str  # what reached the terminal (stdout and/or stderr), "\r\n" made "\n"
    piped: str  # whichever of stdout/stderr was not on the terminal


def run_cli_in_terminal(
    *args: str,
    cwd: Path = ROOT,
    stdout_tty: bool = True,
    stderr_tty: bool = True,
    progress_at_once: bool = False,
) -> TerminalRun:
    """`padiff-gen ARGS` with the chosen streams on a pty and the other one piped.

    ``progress_at_once`` shows every stage's status line from its start instead of after
    half a second, so a test does not depend on how fast this machine builds a model.
    """
    command = ["-m", "padiff_gen"]
    if progress_at_once:
        command = ["-c", _PROGRESS_AT_ONCE]
    master, slave = pty.openpty()
    env = subprocess_env()
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    process = subprocess.Popen(
        [sys.executable, *command, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=slave if stdout_tty else subprocess.PIPE,
        stderr=slave if stderr_tty else subprocess.PIPE,
    )
    os.close(slave)
    # The piped stream is drained on a thread while the terminal is read here: a script
    # longer than the pipe's buffer would otherwise block the child, and the child's
    # terminal end would never close.
    piped_stream = process.stderr if stdout_tty else process.stdout
    piped_chunks: list[bytes] = []
    drain = threading.Thread(
        target=lambda: (
            piped_chunks.append(piped_stream.read()) if piped_stream else None
        )
    )
    drain.start()
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end of the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    drain.join(timeout=600)
    piped = b"".join(piped_chunks).decode()
    process.wait(timeout=600)
    terminal = b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    return TerminalRun(process.returncode, terminal, piped)
