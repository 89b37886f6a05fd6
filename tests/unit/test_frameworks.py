"""The framework adapters (padiff_gen.knowledge.frameworks): torch and paddle answer the
same questions the same way, each with its own API.

Every operation padiff-gen needs is implemented by both (none left to the base class's
NotImplementedError), and the round trips that probes and verify rest on hold: an array
made a tensor and back is the same array, a float64 copy of a layer computes what the
layer computes, a post-hook sees the output, a layer runs without gradients.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from padiff_gen.knowledge import frameworks
from padiff_gen.knowledge.frameworks import FRAMEWORKS, Framework, adapter


def operations() -> list[str]:
    return [
        name
        for name, value in vars(Framework).items()
        if callable(value) and not name.startswith("_")
    ]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_operation_is_the_frameworks_own(framework):
    """What raises NotImplementedError in Framework is overridden by each adapter."""
    fw = adapter(framework)
    abstract = [
        name
        for name in operations()
        if "NotImplementedError" in inspect.getsource(getattr(Framework, name))
    ]
    assert abstract  # the reading finds the abstract ones
    missing = [n for n in abstract if getattr(type(fw), n) is getattr(Framework, n)]
    assert not missing, missing
    assert fw.name == framework and fw.layer_class_name.startswith(framework)


def linear(framework):
    fw = adapter(framework)
    nn = fw.module.nn
    layer = nn.Linear(3, 2)
    fw.assign(layer.weight, np.arange(6, dtype=np.float32).reshape(layer.weight.shape))
    return fw, layer


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_arrays_tensors_and_runs_round_trip(framework):
    fw, layer = linear(framework)
    array = np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)
    assert np.array_equal(fw.array(fw.tensor(array)), array)
    assert fw.array(fw.tensor(array), float64=True).dtype == np.float64
    assert frameworks.framework_of_tensor(fw.tensor(array)) == framework
    assert frameworks.framework_of_layer(layer) == framework
    seen = []
    handle = fw.post_hook(layer, lambda l, args, out: seen.append(fw.array(out)))
    out = fw.array(fw.run(layer, fw.tensor(array)))
    handle.remove()
    fw.run(layer, fw.tensor(array))
    assert len(seen) == 1 and np.array_equal(seen[0], out)  # removed: seen once
    twin = fw.float64_copy(layer)
    got = fw.array(fw.run(twin, fw.tensor(array.astype(np.float64))), float64=True)
    np.testing.assert_allclose(got, out, rtol=1e-6)
    assert fw.is_trainable(layer.weight)


def test_the_two_adapters_disagree_only_where_the_frameworks_do():
    """Negative control: the facts that differ do differ (a test of sameness above
    could otherwise pass with one adapter serving both)."""
    torch_fw, paddle_fw = adapter("torch"), adapter("paddle")
    assert torch_fw.eps_keyword != paddle_fw.eps_keyword
    assert torch_fw.checks_shapes and not paddle_fw.checks_shapes
    assert frameworks.copy_kernel(("paddle", "paddle")) == "copy_paddle"
    assert frameworks.copy_kernel(("torch", "paddle")) == "copy_torch"
    assert frameworks.copy_kernel(("paddle", "torch")) == "copy_torch"
    with pytest.raises(ValueError):
        adapter("jax")
