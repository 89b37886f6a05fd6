"""What an analysis read, so that ``check`` answers an unchanged project without
building the models.

A script depends on the models' source files, the data files their constructors read
(a configuration JSON), the versions of the installed libraries, padiff-gen's own
sources and the options. After ``emit`` writes a script, or ``check`` finds one up to
date, :func:`snapshot` records the first three for it: every file of a module loaded in
this process and every file opened for reading while the script was derived (Python's
``open`` audit event), except files of the installed libraries, which count by their
distributions' versions instead (all of them: a model's code may call into any). padiff-gen's sources and the options are part of the
record's name (:mod:`padiff_gen.cache`). :func:`unchanged` compares a record with the
files and libraries as they are now: same digests, same versions.

The record is a hint that saves time, never evidence: a model that reads something
else (the network, the clock, an environment variable) is re-derived only when a
recorded input changes, so ``check --full`` (or ``PADIFF_GEN_CACHE=off``) derives
every script again.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

PACKAGE = Path(__file__).resolve().parent.parent  # padiff_gen/
_collecting: list[set[str]] = []
_hooked = False


def _on_event(event: str, arguments: tuple) -> None:
    if event != "open" or not _collecting:
        return
    path, mode = arguments[0], arguments[1] if len(arguments) > 1 else None
    if not isinstance(path, (str, bytes, os.PathLike)):
        return  # a file descriptor
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return  # written, not read
    if mode is None and len(arguments) > 2 and isinstance(arguments[2], int):
        if arguments[2] & (os.O_WRONLY | os.O_RDWR):  # os.open
            return
    found = os.path.abspath(os.fsdecode(path))
    for collected in _collecting:
        collected.add(found)


@contextlib.contextmanager
def reading() -> Iterator[set[str]]:
    """The paths of the files opened for reading inside the block."""
    global _hooked
    if not _hooked:
        sys.addaudithook(_on_event)  # cannot be removed; idle outside reading()
        _hooked = True
    collected: set[str] = set()
    _collecting.append(collected)
    try:
        yield collected
    finally:
        _collecting.remove(collected)


@lru_cache(maxsize=1)
def _library_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    folders = {paths[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    folders |= {sys.prefix, sys.base_prefix, sys.exec_prefix}
    return tuple(sorted(os.path.realpath(f) + os.sep for f in folders if f))


def _in_library(path: str) -> bool:
    return os.path.realpath(path).startswith(_library_folders())


def _own(path: str) -> bool:
    """A file of the project (not a library's, padiff-gen's, the system's or a cache)."""
    if path.startswith(("/proc/", "/sys/", "/dev/")) or path.endswith(".pyc"):
        return False
    if path.startswith(str(PACKAGE) + os.sep) or _in_library(path):
        return False
    from ..cache import folder

    cache = folder()
    return not (cache and path.startswith(str(cache) + os.sep)) and os.path.isfile(path)


def _digest(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def _module_files() -> set[str]:
    return {
        os.path.abspath(file)
        for module in list(sys.modules.values())
        if isinstance(file := getattr(module, "__file__", None), str)
    }


def _library_versions() -> dict[str, str]:
    """{distribution: version} of every library installed where this Python installs
    them (a model's code may call into any): an install or upgrade changes it."""
    paths = sysconfig.get_paths()
    folders = sorted({paths["purelib"], paths["platlib"]})
    versions = {}
    for distribution in importlib.metadata.distributions(path=folders):
        name = distribution.metadata["Name"]
        if name:
            versions[name] = distribution.version
    return dict(sorted(versions.items()))


def snapshot(opened: set[str]) -> dict[str, Any]:
    """The record of what a derivation read: ``opened`` (from :func:`reading`) and the
    files of every module loaded, with their digests, and the libraries' versions."""
    files = sorted(path for path in opened | _module_files() if _own(path))
    return {
        "python": sys.version,
        "files": {path: _digest(path) for path in files},
        "libraries": _library_versions(),
    }


def unchanged(record: Any) -> bool:
    """Whether every input in ``record`` (from :func:`snapshot`) is as it was."""
    try:
        if record["python"] != sys.version:
            return False
        for distribution, version in record["libraries"].items():
            if importlib.metadata.version(distribution) != version:
                return False
        return all(_digest(path) == digest for path, digest in record["files"].items())
    except (
        KeyError,
        TypeError,
        AttributeError,
        importlib.metadata.PackageNotFoundError,
    ):
        return False
