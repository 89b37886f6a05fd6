"""The tensor layouts of padiff_gen.analysis.layouts on synthetic units (no models run).

Each layout kind answers only pairs of its kind, gives its row as operations whose
numpy reference turns the base tensor into one of the raw tensor's shape, and leaves
to evidence what the shapes cannot decide. Both directions come from one declaration:
the pair swapped gives the inverse row.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from padiff_gen.analysis.layouts import TENSOR_LAYOUTS, TensorPair, decide
from padiff_gen.analysis.layouts.batched import BatchedMatrices
from padiff_gen.plan.operations import COPY, TRANSPOSE
from padiff_gen.plan.plan import TensorRef, Unit


def unit(path, shape, kind="", layout="", name="w"):
    tensor = TensorRef(f"{path}.{name}", tuple(shape), "float32")
    return Unit(
        path, "Custom" if not kind else kind, (tensor,), kind=kind, layout=layout
    )


def no_probe(side, unit, tensor):
    raise AssertionError("no layout here needs a probe run")


def pair(base, raw, cross=True):
    return TensorPair(base, raw, base.tensors[0], raw.tensors[0], cross, no_probe)


def test_every_layout_follows_the_protocol():
    names = [layout.name for layout in TENSOR_LAYOUTS]
    assert len(set(names)) == len(names)
    for layout in TENSOR_LAYOUTS:
        assert layout.evidence and callable(layout.decide)


sizes = st.integers(1, 5)


@given(st.lists(sizes, min_size=1, max_size=2), sizes, sizes)
def test_stacked_matrices_swapped_are_transposed_both_ways(lead, rows, columns):
    """[..., out, in] against [..., in, out] (unequal): transpose, each way; the numpy
    reference makes the raw tensor from the base one."""
    if rows == columns:
        rows += 1
    base_shape = (*lead, rows, columns)
    raw_shape = (*lead, columns, rows)
    forward = decide(pair(unit("e", base_shape), unit("e", raw_shape)))
    backward = decide(pair(unit("e", raw_shape), unit("e", base_shape)))
    assert forward.transform == backward.transform == TRANSPOSE
    assert not forward.problem and not backward.problem
    array = np.arange(np.prod(base_shape), dtype=np.float32).reshape(base_shape)
    made = forward.transform.numpy([array])
    assert made.shape == raw_shape
    assert np.array_equal(made[..., 0, -1], array[..., -1, 0])
    back = backward.transform.numpy([made])
    assert np.array_equal(back, array)


@given(st.lists(sizes, min_size=1, max_size=2), st.integers(2, 6))
def test_a_square_stack_leaves_copy_and_transpose_to_evidence(lead, n):
    shape = (*lead, n, n)
    decision = decide(pair(unit("e", shape), unit("e", shape)))
    assert decision.problem == "square"
    assert decision.candidates == (COPY, TRANSPOSE)


@pytest.mark.parametrize(
    "base, raw, cross",
    [
        # a conv's [out, in, k, k] is a conv's kernel, not a stack of matrices
        (
            unit("c", (4, 3, 3, 3), kind="conv"),
            unit("c", (4, 3, 3, 3), kind="conv"),
            True,
        ),
        # a transposed conv's [in, out, k] is laid out alike in both frameworks
        (
            unit("t", (4, 3, 3), kind="conv_transpose"),
            unit("t", (4, 3, 3), kind="conv_transpose"),
            True,
        ),
        # one framework on both sides: no Linear is the other way round
        (unit("e", (2, 3, 3)), unit("e", (2, 3, 3)), False),
        # 2-D: a matrix, the Matrix layout's
        (unit("e", (3, 5)), unit("e", (5, 3)), True),
        # leading axes differ: not the same stack
        (unit("e", (2, 3, 5)), unit("e", (3, 2, 5)), True),
    ],
)
def test_stacked_matrices_answer_only_their_kind(base, raw, cross):
    assert BatchedMatrices().decide(pair(base, raw, cross)) is None


def test_what_no_layout_answers_is_a_shape_mismatch_and_alike_is_a_copy():
    """Negative control for the order of TENSOR_LAYOUTS: without the stacked-matrices
    layout, a square stack would be copied unasked; the mismatch stays refused."""
    assert decide(pair(unit("e", (2, 3, 5)), unit("e", (2, 3, 4)))).problem == "shape"
    shape = (2, 4, 4)
    same_framework = decide(pair(unit("e", shape), unit("e", shape), cross=False))
    assert same_framework.transform == COPY and not same_framework.problem
    conv = unit("c", (4, 3, 3, 3), kind="conv")
    assert decide(pair(conv, conv)).transform == COPY


def test_a_permuted_stack_is_refused_saying_the_sizes_agree():
    """[E, out, in] against [in, E, out]: refused, and the remedy does not tell the
    user to make sizes agree that already do (the negative control: a true size
    mismatch keeps that advice)."""
    from padiff_gen.analysis.transforms import pair_unit_tensors

    def refusal(base_shape, raw_shape):
        _, error = pair_unit_tensors(
            unit("e", base_shape), unit("e", raw_shape), True, no_probe
        )
        return error.text

    permuted = refusal((3, 8, 16), (16, 3, 8))
    assert "same sizes in another order" in permuted
    assert "Make the layer sizes agree" not in permuted
    assert "Make the layer sizes agree" in refusal((3, 8, 16), (3, 8, 15))


def layer(path, *named_shapes, kind=""):
    """A unit holding several tensors: (name, shape) pairs."""
    tensors = tuple(
        TensorRef(f"{path}.{n}", tuple(s), "float32") for n, s in named_shapes
    )
    return Unit(path, "Custom", tensors, kind=kind)


@pytest.mark.parametrize(
    "raw_down, expected",
    [
        ((4, 6, 10), COPY),  # down held alike: the layer keeps its matrices alike
        ((4, 10, 6), TRANSPOSE),  # down swapped: it keeps them transposed
    ],
)
def test_a_square_stack_follows_the_layers_other_stacks(raw_down, expected):
    """GPT-OSS keeps gate_up [E, H, 2I] square (H == 2I) beside down [E, I, H]: the
    non-square sibling says which way round the layer holds its matrices."""
    base = layer("e", ("gate_up", (4, 10, 10)), ("down", (4, 6, 10)))
    raw = layer("e", ("gate_up", (4, 10, 10)), ("down", raw_down))
    decision = decide(
        TensorPair(base, raw, base.tensors[0], raw.tensors[0], True, no_probe)
    )
    assert decision.transform == expected and not decision.problem
    # negative control: siblings that disagree leave it to evidence
    base = layer(
        "e", ("gate_up", (4, 10, 10)), ("down", (4, 6, 10)), ("up", (4, 10, 6))
    )
    raw = layer("e", ("gate_up", (4, 10, 10)), ("down", (4, 6, 10)), ("up", (4, 6, 10)))
    mixed = decide(
        TensorPair(base, raw, base.tensors[0], raw.tensors[0], True, no_probe)
    )
    assert mixed.problem == "square" and mixed.candidates == (COPY, TRANSPOSE)
