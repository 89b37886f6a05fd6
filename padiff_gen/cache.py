"""What padiff-gen computed before and will compute alike again, kept on disk.

Copying the runtime into a script (libcst parses and resolves padiff-gen's own modules)
takes seconds and gives the same code for the same inputs. An entry is JSON in one file
named by the digest of everything that made it: padiff-gen's own sources (every ``.py``
of the package, so any change to padiff-gen makes new entries) and the caller's key.
A cache that cannot be read or written is no cache: nothing fails for it.

The folder is ``$PADIFF_GEN_CACHE``, else ``$XDG_CACHE_HOME/padiff-gen``, else
``~/.cache/padiff-gen``; ``PADIFF_GEN_CACHE=off`` turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

PACKAGE = Path(__file__).resolve().parent


def folder() -> Optional[Path]:
    """Where entries live, or None when the cache is off."""
    chosen = os.environ.get("PADIFF_GEN_CACHE")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(
        os.path.expanduser("~"), ".cache"
    )
    return Path(base) / "padiff-gen"


@lru_cache(maxsize=1)
def _sources_digest() -> str:
    """The digest of padiff-gen's own source files (read once per process)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def key(kind: str, *parts: Any) -> str:
    """The name of the entry for ``parts`` (JSON-ready data) of this padiff-gen."""
    text = json.dumps([kind, _sources_digest(), *parts], sort_keys=True)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"


def load(name: str) -> Optional[Any]:
    """The entry ``name``, or None when there is none (or it cannot be read)."""
    where = folder()
    if where is None:
        return None
    try:
        return json.loads((where / f"{name}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def store(name: str, value: Any) -> None:
    """Keep ``value`` (JSON-ready) as the entry ``name``; written whole or not at all."""
    where = folder()
    if where is None:
        return
    try:
        where.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=where, suffix=".partial")
    except OSError:
        return
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(value, handle)
        os.replace(temporary, where / f"{name}.json")
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
