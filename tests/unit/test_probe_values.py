"""Unit tests of padiff_gen.analysis.evidence.probe_values: values defined element by element, so that any
view of a base tensor is made without the rest (no subprocess, no framework)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from padiff_gen.analysis.evidence import probe_models
from padiff_gen.analysis.evidence.probe_models import _array_view
from padiff_gen.analysis.evidence.probe_values import (
    IndexMap,
    Values,
    family_path,
    seed_of,
    stretched,
)


def _view_steps(draw, shape):
    """A few of the runtime's views that apply to ``shape``, in order."""
    steps = []
    shape = list(shape)
    for _ in range(draw(st.integers(0, 3))):
        options = ["narrow", "unsqueeze"]
        if len(shape) >= 2:
            options += ["transpose", "select"]
        name = draw(st.sampled_from(options))
        if name == "transpose":
            steps.append(("transpose",))
            shape[-2], shape[-1] = shape[-1], shape[-2]
        elif name == "narrow":
            axis = draw(st.integers(0, len(shape) - 1))
            start = draw(st.integers(0, shape[axis] - 1))
            length = draw(st.integers(1, shape[axis] - start))
            steps.append(("narrow", axis, start, length))
            shape[axis] = length
        elif name == "select":
            axis = draw(st.integers(0, len(shape) - 1))
            steps.append(("select", axis, draw(st.integers(0, shape[axis] - 1))))
            del shape[axis]
        else:
            axis = draw(st.integers(0, len(shape)))
            steps.append(("unsqueeze", axis))
            shape.insert(axis, 1)
    return steps


@st.composite
def tensors_and_views(draw):
    shape = tuple(draw(st.lists(st.integers(1, 6), min_size=1, max_size=4)))
    alike = draw(st.sampled_from([None, 0])) if len(shape) >= 2 else None
    return shape, alike, _view_steps(draw, shape)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(tensors_and_views(), st.integers(0, 2**32 - 1))
def test_a_view_made_alone_equals_the_same_view_of_the_whole_tensor(case, seed):
    shape, alike, steps = case
    values = Values(seed, shape, std=0.7, shift=0.1, alike_axis=alike)
    whole = values.array()
    where = values.index_map()
    for step in steps:
        where = where.view(step)
    made = np.empty(where.shape, np.float32)
    values.fill(made, where)
    assert np.array_equal(made, _array_view(whole, steps))


def test_values_are_the_same_on_every_call_and_differ_between_seeds():
    one = Values(seed_of("a.weight"), (64, 32), std=1.0)
    assert np.array_equal(one.array(), one.array())
    other = Values(seed_of("b.weight"), (64, 32), std=1.0)
    assert np.abs(np.corrcoef(one.array().ravel(), other.array().ravel())[0, 1]) < 0.05


def test_values_have_the_scale_asked_for():
    values = Values(7, (512, 512), std=0.02, shift=1.0).array()
    assert abs(values.std() - 0.02) < 0.001
    assert abs(values.mean() - 1.0) < 0.001


def test_a_tensor_alike_along_an_axis_holds_one_slice():
    values = Values(3, (64, 8, 4), std=1.0, alike_axis=0).array()
    assert values.strides[0] == 0
    assert np.array_equal(values[0], values[63])
    assert not np.array_equal(values[0, 0], values[0, 1])


def test_a_stretched_array_is_written_through_its_one_slice():
    single = np.zeros((1, 3), np.float32)
    view = stretched(single, 0, 5)
    view[2, 1] = 4.0
    assert single[0, 1] == 4.0 and view[4, 1] == 4.0


@pytest.mark.parametrize(
    "path, prefix, family",
    [
        (
            "mlp.experts.5.gate_proj.weight",
            "mlp.experts",
            "mlp.experts.*.gate_proj.weight",
        ),
        (
            "model.layers.1.mlp.experts.12.w",
            "model.layers.1.mlp.experts",
            "model.layers.1.mlp.experts.*.w",
        ),
        ("mlp.experts.gate_up_proj", "mlp.experts", "mlp.experts.gate_up_proj"),
        ("other.3.weight", "mlp.experts", "other.3.weight"),
    ],
)
def test_the_experts_of_a_list_share_one_family_path(path, prefix, family):
    assert family_path(path, prefix) == family


def test_a_view_that_is_not_contiguous_cannot_be_reshaped():
    where = IndexMap.whole((4, 6)).view(("transpose",))
    with pytest.raises(ValueError):
        where.view(("reshape", (24,)))


def test_an_array_asked_for_again_displaces_arrays_asked_for_once(monkeypatch):
    """The probe's cache keeps arrays first come, but one asked for again (the values
    a list's experts share) takes the place of arrays no one asked for twice: else a
    block run before the experts kept them from being kept, and every expert was made
    again (DeepSeek-V3 at its published size: 185 s)."""
    monkeypatch.setattr(probe_models, "CACHE_BYTES", 3 * 800)
    made = []
    maker = _maker(made)

    cache = probe_models._Cache()
    for key in ("a", "b", "c"):  # fill it, each asked for once
        cache.get(key, maker(key))
    cache.get("a", maker("a"))  # "a" asked for again: kept, a hit
    for _ in range(3):  # an expert's values, asked for again and again
        cache.get("expert", maker("expert"))
    assert made == ["a", "b", "c", "expert", "expert"], made
    assert "a" in cache.entries and "b" not in cache.entries
    assert cache.bytes <= probe_models.CACHE_BYTES


def test_an_array_asked_for_again_may_be_as_large_as_the_cache(monkeypatch):
    """Above the size of an entry, an array is kept once asked for again (the raw
    o_proj of GLM-4.5-Air, 201 MB, made again for each of the q/k/v layouts tried)."""
    monkeypatch.setattr(probe_models, "CACHE_BYTES", 2000)
    monkeypatch.setattr(probe_models, "CACHE_ENTRY_BYTES", 800)
    made = []

    def make():
        made.append(1)
        return np.zeros(200, np.float64)  # 1600 bytes: above an entry, within the cache

    cache = probe_models._Cache()
    for _ in range(4):
        cache.get("o_proj", make)
    assert len(made) == 2 and cache.bytes == 1600
    too_large = np.zeros(300, np.float64)  # 2400 bytes: never kept
    for _ in range(2):
        cache.get("larger", lambda: too_large)
    assert "larger" not in cache.entries and cache.bytes <= 2000


def test_an_array_made_again_and_again_displaces_arrays_used_less(monkeypatch):
    """Arrays asked for twice fill the cache; an array made a third time still finds
    room, in place of those used less than it was made (GLM-4.5-Air's raw o_proj was
    made again for each of 12 q/k/v layouts: 60 s -> 40 s)."""
    monkeypatch.setattr(probe_models, "CACHE_BYTES", 2 * 800)
    made = []
    maker = _maker(made)

    cache = probe_models._Cache()
    for key in ("k", "v"):
        cache.get(key, maker(key))
        cache.get(key, maker(key))  # one hit each
    for _ in range(4):
        cache.get("o_proj", maker("o_proj"))
    assert made.count("o_proj") == 3, made  # kept once made more often than k was used
    assert "o_proj" in cache.entries and cache.bytes <= probe_models.CACHE_BYTES


def _maker(made: list):
    """make(key) for a cache: an 800-byte array, each making noted in ``made``."""

    def maker(key):
        def make():
            made.append(key)
            return np.zeros(100, np.float64)

        return make

    return maker
