"""The copy kernels that generated scripts inline, tested directly and bit for bit.

Every path of copy_torch.copy_tensor (memcpy, cast, torch's transpose for small and for
large matrices, cast-then-transpose) and of copy_paddle.copy_tensor is compared with the
destination framework's own cast of the source: a copy may lose nothing beyond that cast.
The GPU path (DLPack views of CUDA tensors, copies on the device) cannot run on this
machine and is not tested here.
"""

from __future__ import annotations

import numpy as np
import paddle
import pytest
import torch

from padiff_gen.runtime.core import checks, common, copy_paddle, copy_torch

DTYPES = ("float32", "bfloat16", "float16", "float64")
# (rows, columns): torch transposes matrices of 60 x 60 or more in blocks, smaller ones
# element by element; odd sizes leave partial blocks.
SHAPES = ((3, 5), (701, 517))

INTEGER_OF_WIDTH = {1: torch.uint8, 2: torch.int16, 4: torch.int32, 8: torch.int64}


def bits(tensor) -> torch.Tensor:
    """The tensor's raw bits, so that comparisons are exact (NaN-safe, -0.0 != 0.0)."""
    view = copy_torch.as_torch(tensor)
    return view.view(INTEGER_OF_WIDTH[view.element_size()])


def source_values(shape, seed=0) -> np.ndarray:
    # Values with many significant bits, so that every cast must round.
    return (np.random.default_rng(seed).standard_normal(shape) * 3).astype(np.float32)


def make_tensor(framework: str, values: np.ndarray, dtype: str = "float32"):
    if framework == "torch":
        return torch.from_numpy(values.copy()).to(getattr(torch, dtype))
    return paddle.to_tensor(values).astype(dtype)


def expected_copy(framework: str, values: np.ndarray, transform: str, dtype: str):
    """What the destination framework itself makes of the (transposed) fp32 source."""
    if framework == "torch":
        source = torch.from_numpy(values.copy())
        source = source.t() if transform == "transpose" else source
        return source.to(getattr(torch, dtype)).contiguous()
    source = paddle.to_tensor(values)
    source = source.t() if transform == "transpose" else source
    return paddle.cast(source, dtype)


def empty_like(framework: str, shape, dtype: str):
    if framework == "torch":
        return torch.full(shape, 7.0, dtype=getattr(torch, dtype))
    return paddle.full(shape, 7.0, dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES, ids=["small", "large"])
@pytest.mark.parametrize("transform", ("copy", "transpose"))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "src_fw,dst_fw", [("torch", "paddle"), ("paddle", "torch"), ("torch", "torch")]
)
def test_torch_kernel_equals_the_frameworks_own_cast(
    src_fw, dst_fw, dtype, transform, shape
):
    values = source_values(shape)
    source = make_tensor(src_fw, values)
    out_shape = shape[::-1] if transform == "transpose" else shape
    target = empty_like(dst_fw, out_shape, dtype)
    address = copy_torch.as_torch(target).data_ptr()

    copy_torch.copy_tensor(target, source, transform)

    assert copy_torch.as_torch(target).data_ptr() == address, "not copied in place"
    assert str(target.dtype).endswith(dtype), "the raw dtype was not kept"
    assert torch.equal(
        bits(target), bits(expected_copy(dst_fw, values, transform, dtype))
    )


@pytest.mark.parametrize("dtype", ("bfloat16", "float16", "float64"))
@pytest.mark.parametrize("transform", ("copy", "transpose"))
def test_torch_kernel_from_a_non_float32_source_is_exact(dtype, transform):
    """bf16/fp16/fp64 sources into fp32: widening is exact; fp64 narrows like torch."""
    values = source_values(SHAPES[1], seed=1)
    source = torch.from_numpy(values).to(getattr(torch, dtype))
    expected = (source.t() if transform == "transpose" else source).to(torch.float32)
    target = paddle.zeros(expected.shape, dtype="float32")
    copy_torch.copy_tensor(target, source, transform)
    assert torch.equal(bits(target), bits(expected.contiguous()))


@pytest.mark.parametrize(
    "make_view",
    [
        lambda t: t[::2, 1:],  # strided rows and an offset
        lambda t: t.t(),  # a transposed view: column-major memory
        lambda t: t[:, ::3],  # strided columns
    ],
    ids=["row-step", "transposed-view", "column-step"],
)
@pytest.mark.parametrize("transform", ("copy", "transpose"))
@pytest.mark.parametrize("dtype", ("float32", "bfloat16"))
def test_torch_kernel_reads_non_contiguous_sources(make_view, transform, dtype):
    base = torch.from_numpy(source_values((1200, 900), seed=2))
    source = make_view(base)
    assert not source.is_contiguous()
    expected = (source.t() if transform == "transpose" else source).to(
        getattr(torch, dtype)
    )
    target = paddle.zeros(list(expected.shape), dtype=dtype)
    copy_torch.copy_tensor(target, source, transform)
    assert torch.equal(bits(target), bits(expected.contiguous()))


def test_only_same_dtype_contiguous_cpu_copies_are_memcpy(monkeypatch):
    calls = []
    memmove = copy_torch.ctypes.memmove
    monkeypatch.setattr(
        copy_torch.ctypes, "memmove", lambda *args: calls.append(args) or memmove(*args)
    )
    source = torch.from_numpy(source_values((300, 200), seed=3))
    target = paddle.zeros([300, 200])
    copy_torch.copy_tensor(target, source)
    assert len(calls) == 1 and calls[0][2] == 300 * 200 * 4
    assert torch.equal(copy_torch.as_torch(target), source)
    copy_torch.copy_tensor(paddle.zeros([200, 300]), source, "transpose")
    copy_torch.copy_tensor(paddle.zeros([300, 200], dtype="bfloat16"), source)
    copy_torch.copy_tensor(paddle.zeros([150, 200]), source[::2])
    assert len(calls) == 1


@pytest.mark.parametrize("transform", ("copy", "transpose"))
@pytest.mark.parametrize("dtype", DTYPES)
def test_paddle_kernel_equals_paddles_own_cast(dtype, transform):
    values = source_values((37, 19), seed=4)
    out_shape = (19, 37) if transform == "transpose" else (37, 19)
    target = paddle.create_parameter(
        list(out_shape), dtype, default_initializer=paddle.nn.initializer.Constant(7.0)
    )
    address = copy_torch.as_torch(target).data_ptr()
    copy_paddle.copy_tensor(target, paddle.to_tensor(values), transform)
    assert copy_torch.as_torch(target).data_ptr() == address, "not copied in place"
    assert torch.equal(
        bits(target), bits(expected_copy("paddle", values, transform, dtype))
    )


def test_copies_into_tensors_without_storage_fail_loudly():
    """A meta tensor swallows copy_ silently; the kernels must refuse instead."""
    with torch.device("meta"):
        meta = torch.empty(4, 3)
    with pytest.raises(ValueError, match="without storage"):
        copy_torch.copy_tensor(meta, torch.ones(4, 3))
    with paddle.LazyGuard():
        lazy = paddle.nn.Linear(3, 4).weight
    with pytest.raises(ValueError, match="without storage"):
        copy_paddle.copy_tensor(lazy, paddle.ones([3, 4]))
    assert not copy_torch.has_data(meta) and not copy_torch.has_data(lazy)
    assert copy_torch.has_data(torch.ones(1)) and copy_paddle.has_data(paddle.ones([1]))


def test_check_data_names_the_tensors_of_a_model_built_without_weights():
    with torch.device("meta"):
        base = torch.nn.Linear(3, 4)
    raw = paddle.nn.Linear(3, 4)
    table = (
        ("weight", "weight", "transpose", (4, 3), (3, 4)),
        ("bias", "bias", "copy", (4,), (4,)),
    )
    with pytest.raises(common.WeightMismatchError) as error:
        checks.check_data(base, raw, table, (), copy_torch.has_data)
    message = str(error.value)
    assert "base `weight`, base `bias` have no data" in message
    assert "raw" not in message.split("have no data")[0]
    checks.check_data(torch.nn.Linear(3, 4), raw, table, (), copy_torch.has_data)


def test_synchronize_devices_is_harmless_without_a_gpu():
    copy_torch.synchronize_devices()
    copy_paddle.synchronize_devices()


def test_parallel_copies_copy_everything_before_the_block_ends(monkeypatch):
    monkeypatch.setattr(copy_torch, "COPY_THREADS", 2)
    monkeypatch.setattr(copy_torch, "BACKGROUND_MIN_BYTES", 1000)
    sources = [
        torch.from_numpy(source_values((200, 100 + i), seed=i)) for i in range(7)
    ]
    targets = [paddle.zeros([100 + i, 200]) for i in range(7)]
    with copy_torch.ParallelCopies() as copies:
        for target, source in zip(targets, sources):
            copies.copy(target, source, "transpose")
        assert copies.pool is not None, "no copy ran in the background"
    for target, source in zip(targets, sources):
        assert torch.equal(copy_torch.as_torch(target), source.t())


def test_parallel_copies_raise_the_error_of_a_background_copy(monkeypatch):
    monkeypatch.setattr(copy_torch, "COPY_THREADS", 2)
    monkeypatch.setattr(copy_torch, "BACKGROUND_MIN_BYTES", 1000)
    copies = copy_torch.ParallelCopies()
    submitted = False
    with pytest.raises(RuntimeError):
        with copies:
            # the element counts agree but the shapes do not: torch refuses when copying
            copies.copy(torch.zeros(300, 20), torch.ones(20, 300, dtype=torch.float64))
            submitted = True
    assert submitted and copies.pool is not None, "the copy did not run in a thread"


def test_parallel_copies_can_be_turned_off():
    with copy_torch.ParallelCopies(parallel=False) as copies:
        copies.copy(torch.zeros(2000, 1000), torch.ones(1000, 2000), "transpose")
        assert copies.pool is None


# ------------------------------------------------------------------ conversion helpers

KERNELS = {"torch": copy_torch, "paddle": copy_paddle}


@pytest.mark.parametrize("dtype", DTYPES + ("int64", "int32", "bool", "uint8"))
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_sentinels_tell_an_unwritten_element(framework, dtype):
    """mark_unwritten + is_unwritten: a tensor is unwritten while any element (for
    one-byte numbers: every element) still holds the sentinel."""
    kernel = KERNELS[framework]
    tensor = kernel.empty_tensor((3, 5), dtype)
    kernel.mark_unwritten(tensor)
    assert kernel.is_unwritten(tensor)
    view = copy_torch.as_torch(tensor)
    view[:2] = 0 if dtype != "bool" else False
    assert kernel.is_unwritten(tensor) == (dtype != "uint8")
    view[2] = 1 if dtype != "bool" else True
    assert not kernel.is_unwritten(tensor)


@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_a_cast_of_any_value_never_looks_unwritten(framework):
    """Every float32 value cast to bfloat16/float16 (NaN, inf, extremes included) is
    told apart from the sentinel: a NaN from a cast carries no payload like it."""
    values = np.array(
        [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 3.4e38, 1e-45, 65504.0, 7e4],
        dtype=np.float32,
    )
    for dtype in ("bfloat16", "float16", "float32", "float64"):
        target = KERNELS[framework].empty_tensor((len(values),), dtype)
        KERNELS[framework].mark_unwritten(target)
        copy_torch.copy_tensor(target, torch.from_numpy(values))
        assert not KERNELS[framework].is_unwritten(target), dtype


@pytest.mark.parametrize("dtype", ("bfloat16", "float16", "float32"))
@pytest.mark.parametrize("framework", ["torch", "paddle"])
def test_cast_and_bytes_are_the_frameworks_own(framework, dtype):
    values = source_values((17, 9))
    source = make_tensor(framework, values)
    cast = KERNELS[framework].cast_tensor(source, dtype)
    expected = expected_copy(framework, values, "copy", dtype)
    assert torch.equal(bits(cast), bits(expected))
    data = KERNELS[framework].tensor_bytes(cast)
    assert data.dtype == np.uint8 and data.nbytes == 17 * 9 * bits(cast).element_size()
    assert data.tobytes() == bits(expected).numpy().tobytes()


def test_a_rehearsal_checks_but_writes_nothing():
    target = torch.zeros(4, 3)
    common.WRITES.rehearsing = True
    try:
        copy_torch.copy_tensor(target, torch.ones(3, 4), "transpose")
        copy_torch.fill_tensor(target, 5.0)
        with pytest.raises(ValueError, match="shape"):  # the shapes are still checked
            copy_torch.copy_tensor(target, torch.ones(3, 4))
    finally:
        common.WRITES.rehearsing = False
    assert torch.equal(target, torch.zeros(4, 3))
    assert common.WRITES.covers(copy_torch.memory_span(target))
    common.WRITES.clear()


# (kernel, source framework): the paddle kernel serves paddle -> paddle scripts only
@pytest.mark.parametrize(
    "kernel, src_framework",
    (("torch", "torch"), ("torch", "paddle"), ("paddle", "paddle")),
)
def test_a_stack_of_matrices_is_transposed_matrix_by_matrix(kernel, src_framework):
    """transpose swaps the last two axes of a tensor of any rank ([E, out, in] ->
    [E, in, out]: a stack of matrices), as numpy's swapaxes does."""
    values = source_values((2, 3, 5, 4), seed=5)
    source = make_tensor(src_framework, values)
    target = empty_like(
        "paddle" if kernel == "paddle" else "torch", (2, 3, 4, 5), "float32"
    )
    module = copy_paddle if kernel == "paddle" else copy_torch
    module.copy_tensor(target, source, "transpose")
    got = copy_torch.as_torch(target).numpy()
    assert np.array_equal(got, np.swapaxes(values, -1, -2))
    assert not np.array_equal(got.reshape(values.shape), values)  # moved, not copied
