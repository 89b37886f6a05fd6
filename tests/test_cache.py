"""The on-disk cache of what emit computes alike each time (padiff_gen.cache): the
runtime copied into scripts and its formatting. A script made with a cold cache, a warm
one and none is the same, byte for byte; a cache that is broken or cannot be written
changes nothing but the time."""

from __future__ import annotations

import pytest

from padiff_gen import cache
from padiff_gen.api import emit_text

PAIR = dict(base="torch:examples.mlp.TorchMLP", raw="paddle:examples.mlp.PaddleMLP")


@pytest.fixture
def cache_in(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("PADIFF_GEN_CACHE", str(folder))
    return folder


def test_a_script_is_the_same_from_a_cold_cache_a_warm_one_and_none(
    cache_in, monkeypatch
):
    cold = emit_text(**PAIR)
    entries = sorted(path.name for path in cache_in.iterdir())
    assert any(name.startswith("runtime-") for name in entries), entries
    assert any(name.startswith("black-") for name in entries), entries
    warm = emit_text(**PAIR)
    monkeypatch.setenv("PADIFF_GEN_CACHE", "off")
    none = emit_text(**PAIR)
    assert cold == warm == none


def test_a_broken_entry_is_made_again(cache_in):
    first = emit_text(**PAIR)
    for path in cache_in.iterdir():
        path.write_text("{not json")
    assert emit_text(**PAIR) == first


def test_a_cache_that_cannot_be_written_is_no_cache(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("PADIFF_GEN_CACHE", str(blocker / "cache"))  # under a file
    cache.store("entry", {"a": 1})  # nothing raised
    assert cache.load("entry") is None
    assert emit_text(**PAIR) == emit_text(**PAIR)


def test_entries_are_keyed_by_padiff_gen_s_own_sources(monkeypatch):
    """Any change to padiff-gen makes new entries: an old one is never read."""
    before = cache.key("runtime", ["x"])
    monkeypatch.setattr(cache, "_sources_digest", lambda: "another padiff-gen")
    assert cache.key("runtime", ["x"]) != before
