"""The laws of the typed operations (padiff_gen.plan.operations), on shapes hypothesis picks.

- the text of every pipeline reads back as the same pipeline (what the script's table
  shows is what the runtime reads);
- an operation followed by its inverse gives its inputs back;
- a declared join (parts into a fused tensor, experts into a stacked one, a conv kernel
  into a Linear weight) narrowed back to each input gives that input: one declaration
  serves both directions;
- the runtime's copy of a row (padiff_gen.runtime.core.rows.fill_raw_tensor, the code the
  scripts inline) equals the numpy reference, both ways.

Values are compared exactly: every operation moves elements, none computes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from padiff_gen.plan.operations import (
    COPY,
    OPERATIONS,
    RESHAPE,
    TRANSPOSE,
    Concatenate,
    Item,
    NotInvertible,
    Pipeline,
    Reshape,
    Select,
    Split,
    Stack,
    Transpose,
    Unstack,
)
from padiff_gen.runtime.core import rows

SETTINGS = dict(max_examples=60, deadline=None)
sizes = st.integers(min_value=1, max_value=5)


def arrays_of(shapes, seed=0) -> list[np.ndarray]:
    """Distinct values everywhere, so that any misplaced element shows."""
    rng = np.random.default_rng(seed)
    total = sum(math.prod(s) for s in shapes)
    values = rng.permutation(total).astype(np.float32)
    out, start = [], 0
    for shape in shapes:
        size = math.prod(shape)
        out.append(values[start : start + size].reshape(shape))
        start += size
    return out


def runtime_fill(pipeline: Pipeline, arrays: list[np.ndarray], target) -> np.ndarray:
    """What a script makes of a table row with this transform, through the runtime."""
    paths = tuple(f"t{i}" for i in range(len(arrays)))
    shapes = tuple(a.shape for a in arrays)
    row = (
        paths if len(paths) > 1 else paths[0],
        "raw",
        pipeline.text(),
        shapes if len(paths) > 1 else shapes[0],
        tuple(target),
    )
    source = {p: torch.from_numpy(a.copy()) for p, a in zip(paths, arrays)}
    dst = torch.full(tuple(target), -1.0)
    rows.fill_raw_tensor(dst, row, source.__getitem__)
    return dst.numpy()


@st.composite
def fused_joins(draw):
    """Parts [out_i, in] (torch Linear weights) joined along the output axis, maybe
    transposed first (paddle's [in, out] fused weight), maybe grouped per KV head."""
    count = draw(st.integers(1, 4))
    groups = draw(st.sampled_from([1, 2, 3]))
    inputs = draw(sizes)
    outs = [groups * draw(sizes) for _ in range(count)]
    transpose = draw(st.booleans())
    shapes = [(out, inputs) for out in outs]
    join = Pipeline.of(Concatenate(1 if transpose else 0, groups))
    if transpose:
        join = Pipeline.of(Transpose()).then(*join.operations)
    return join, shapes


@st.composite
def stacked_joins(draw):
    """Experts' parts (count per expert) joined and stacked into [E, ...] tensors."""
    experts = draw(st.integers(1, 4))
    count = draw(st.integers(1, 3))
    transpose = draw(st.booleans())
    shape = (draw(sizes), draw(sizes))
    join = Pipeline.of(Transpose()) if transpose else Pipeline()
    if count > 1:
        axis = draw(st.sampled_from([0, 1, -1]))
        join = join.then(Concatenate(axis, every=count))
    join = join.then(Stack(draw(st.sampled_from([0, 1]))))
    return join, [shape] * (experts * count)


@st.composite
def conv_joins(draw):
    """A conv kernel [out, in, k...] seen as a Linear weight [out, in * k...]."""
    kernel = tuple(draw(sizes) for _ in range(draw(st.integers(1, 2))))
    shape = (draw(sizes), draw(sizes)) + kernel
    join = Pipeline.of(Reshape((shape[0], math.prod(shape[1:]))))
    if draw(st.booleans()):
        join = join.then(Transpose())
    return join, [shape]


joins = st.one_of(fused_joins(), stacked_joins(), conv_joins())


@settings(**SETTINGS)
@given(joins)
def test_the_text_of_a_pipeline_reads_back_as_the_same_pipeline(case):
    join, shapes = case
    pipelines = [join] + [join.part(k, shapes) for k in range(len(shapes))]
    for pipeline in pipelines:
        assert Pipeline.parse(pipeline.text()) == pipeline


@settings(**SETTINGS)
@given(joins)
def test_a_join_narrowed_back_to_each_input_gives_that_input(case):
    join, shapes = case
    arrays = arrays_of(shapes)
    whole = join.numpy(arrays)
    assert whole.shape == join.result_shape(shapes)
    for k, array in enumerate(arrays):
        part = join.part(k, shapes)
        assert not any(isinstance(op, Unstack) for op in part.operations)
        np.testing.assert_array_equal(part.numpy([whole]), array)


@settings(**SETTINGS)
@given(joins)
def test_the_runtime_makes_what_the_numpy_reference_makes_both_ways(case):
    join, shapes = case
    arrays = arrays_of(shapes, seed=1)
    whole = join.numpy(arrays)
    np.testing.assert_array_equal(runtime_fill(join, arrays, whole.shape), whole)
    for k, array in enumerate(arrays):
        made = runtime_fill(join.part(k, shapes), [whole], array.shape)
        np.testing.assert_array_equal(made, array)


@st.composite
def single_operations(draw):
    """(operation, input shapes) for every invertible operation."""
    kind = draw(st.sampled_from(["transpose", "reshape", "split", "concat", "stack"]))
    if kind == "transpose":
        shape = tuple(draw(sizes) for _ in range(draw(st.integers(2, 3))))
        return Transpose(), [shape] * draw(st.integers(1, 3))
    if kind == "reshape":
        shape = (draw(sizes), draw(sizes), draw(sizes))
        return Reshape((shape[0] * shape[1], shape[2])), [shape]
    if kind == "split":
        groups = draw(st.sampled_from([1, 2]))
        parts = tuple(groups * draw(sizes) for _ in range(draw(st.integers(1, 3))))
        other = draw(sizes)
        axis = draw(st.sampled_from([0, 1, -1]))
        shape = (sum(parts), other) if axis == 0 else (other, sum(parts))
        return Split(axis, parts, groups), [shape] * draw(st.integers(1, 2))
    if kind == "concat":
        groups = draw(st.sampled_from([1, 2]))
        every = draw(st.integers(1, 3))
        runs = draw(st.integers(1, 2))
        other = draw(sizes)
        sizes_ = [groups * draw(sizes) for _ in range(every)]
        shapes = [(size, other) for size in sizes_] * runs
        return Concatenate(0, groups, every if runs > 1 else 0), shapes
    shape = (draw(sizes), draw(sizes))
    every = draw(st.integers(1, 3))
    runs = draw(st.integers(1, 2))
    return Stack(draw(st.sampled_from([0, 1, 2])), every if runs > 1 else 0), [
        shape
    ] * (every * runs)


@settings(**SETTINGS)
@given(single_operations())
def test_an_operation_followed_by_its_inverse_is_the_identity(case):
    operation, shapes = case
    arrays = arrays_of(shapes, seed=2)
    out = operation.numpy(arrays)
    assert [a.shape for a in out] == operation.shapes(shapes)
    back = operation.inverse(shapes).numpy(out)
    assert len(back) == len(arrays)
    for got, want in zip(back, arrays):
        np.testing.assert_array_equal(got, want)


def test_todays_table_vocabulary_is_kept():
    """The texts scripts already hold (goldens, users' committed scripts) are what the
    operations write, and the simple transforms are the pipelines of one step or none.
    """
    assert COPY.text() == "copy" and TRANSPOSE.text() == "transpose"
    assert RESHAPE.text() == "reshape"
    assert COPY.simple and TRANSPOSE.simple and RESHAPE.simple
    qkv = Pipeline.of(Transpose(), Concatenate(1, groups=2))
    assert qkv.text() == "transpose | concatenate(axis=1, groups=2)"
    shapes = [(64, 32), (16, 32), (16, 32)]
    assert qkv.part(1, shapes).text() == (
        "split(axis=1, sizes=(64, 16, 16), groups=2) | item(index=1) | transpose"
    )
    experts = Pipeline.of(Transpose(), Concatenate(0, every=2), Stack(0))
    assert experts.part(3, [(8, 4)] * 6).text() == (
        "select(axis=0, index=1) | split(axis=0, sizes=(4, 4)) | item(index=1) | "
        "transpose"
    )
    assert not qkv.simple and qkv.transposes and not COPY.transposes


def test_a_projection_has_no_inverse_of_its_own():
    with pytest.raises(NotInvertible):
        Select(0, 1).inverse([(3, 2)])
    with pytest.raises(NotInvertible):
        Item(0).inverse([(3, 2)])
    with pytest.raises(NotInvertible):
        Reshape((6,)).inverse([(3, 2), (2, 3)])


def test_a_text_that_names_no_operation_is_refused():
    with pytest.raises(ValueError, match="unknown operation 'rotate'"):
        Pipeline.parse("transpose | rotate(axis=1)")
    with pytest.raises(ValueError):
        Pipeline.parse("split(1, 2)")


def test_shapes_that_do_not_fit_are_refused():
    with pytest.raises(ValueError, match="do not add up"):
        Split(0, (2, 2)).shapes([(5, 3)])
    with pytest.raises(ValueError, match="groups"):
        Concatenate(0, groups=2).shapes([(3, 4), (2, 4)])
    with pytest.raises(ValueError, match="leaves 2 tensors"):
        Pipeline.of(Split(0, (2, 3))).result_shape([(5, 3)])


def test_every_operation_is_known_by_its_name():
    assert set(OPERATIONS) == {
        "transpose",
        "reshape",
        "select",
        "item",
        "split",
        "concatenate",
        "stack",
        "unstack",
    }
    for name, operation in OPERATIONS.items():
        assert operation.name == name


def test_a_script_without_composite_code_refuses_a_composite_row_by_name():
    """Scripts whose rows are all simple carry rows.fill_simple_tensor as
    fill_raw_tensor: a composite row added by hand is named, not miscopied."""
    dst = torch.zeros(4, 3)
    source = {"a": torch.ones(3, 4), "b": torch.ones(3, 4)}
    rows.fill_simple_tensor(
        dst, ("a", "raw.w", "transpose", (3, 4), (4, 3)), source.get
    )
    assert torch.equal(dst, torch.ones(4, 3))
    composite = (("a", "b"), "raw.w", "concatenate(axis=0)", ((3, 4),) * 2, (6, 4))
    with pytest.raises(ValueError, match="row of `raw.w` is composite"):
        rows.fill_simple_tensor(torch.zeros(6, 4), composite, source.get)
