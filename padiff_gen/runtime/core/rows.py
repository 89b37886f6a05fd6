"""The one place that knows what a TENSOR_TABLE row holds and how it makes a raw tensor.

A row is ``(base path, raw path, transform, base shape, raw shape)``: the raw tensor at
``raw path`` is the base tensor at ``base path``, copied as is ("copy"), transposed
("transpose", a Linear weight between the frameworks) or reshaped ("reshape", paddle's
flattened LayerNorm weights). A *composite* row names several base tensors (a tuple of
paths, with a tuple of shapes), or takes part of one, and its transform is a pipeline of
operations (``transpose | concatenate(axis=1, groups=2)``: see layouts). Everything else
in the script (the checks, init_weights, the checkpoint conversion) reads rows only
through the functions below.
"""

from .copy_torch import copy_blocks, copy_tensor
from .layouts import SIMPLE_TRANSFORMS


def row_raw_path(row):
    """The dotted path of the raw tensor a row produces."""
    return row[1]


def row_base_paths(row):
    """The dotted paths of the base tensors a row reads."""
    return row[0] if isinstance(row[0], tuple) else (row[0],)


def row_tensors(row):
    """(side, path, shape) of every tensor a row reads or writes, for the checks."""
    base_path, raw_path, _, base_shape, raw_shape = row
    shapes = base_shape if isinstance(base_path, tuple) else (base_shape,)
    reads = tuple(("base", p, s) for p, s in zip(row_base_paths(row), shapes))
    return reads + (("raw", raw_path, raw_shape),)


def fill_raw_tensor(dst, row, read_base, copy=None):
    """Write the raw tensor of `row` into `dst`, in place, in dst's dtype.

    `read_base(path)` gives the base tensor at a dotted path (from a model, or from a
    checkpoint one tensor at a time). `copy(dst, src, transform)` copies; by default
    copy_tensor, and ParallelCopies.copy to run large copies in a thread.
    """
    base_path, _, transform, base_shape, _ = row
    copy = copy or copy_tensor
    if transform in SIMPLE_TRANSFORMS:
        copy(dst, read_base(base_path), transform)
        return
    paths = row_base_paths(row)
    shapes = base_shape if isinstance(base_path, tuple) else (base_shape,)
    copy_blocks(dst, paths, transform, shapes, read_base, copy)


def fill_simple_tensor(dst, row, read_base, copy=None):
    """Write the raw tensor of `row` into `dst`, in place, in dst's dtype: the base
    tensor at the row's path copied, transposed or reshaped. (padiff-gen inlines this
    as fill_raw_tensor where every row is one of those, without the code of composite
    rows.)"""
    base_path, raw_path, transform, _, _ = row
    if isinstance(base_path, tuple) or transform not in SIMPLE_TRANSFORMS:
        raise ValueError(
            f"the row of `{raw_path}` is composite ({transform!r}), and this script "
            "was generated without the code of composite rows: generate it again"
        )
    (copy or copy_tensor)(dst, read_base(base_path), transform)
