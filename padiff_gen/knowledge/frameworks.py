"""What padiff-gen needs to know about torch and paddle, and nothing else: one adapter
per framework (:class:`Torch`, :class:`Paddle`, got with :func:`adapter`), the only
place in the analysis where the two are told apart (``tests/unit/test_imports.py``
holds every other module to it; the runtime and the built-in initializers, which
scripts inline and which cannot import padiff_gen, tell them apart themselves).

Frameworks are imported on first use (paddle's import is slow and noisy), so code that only
handles torch never pays for paddle.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import io
import os
import sys
import warnings
from functools import lru_cache
from typing import Any, Callable, Iterator, Optional

import numpy as np

FRAMEWORKS = ("torch", "paddle")
# Frameworks whose import prints warnings a generated script silences.
NOISY_IMPORTS = frozenset({"paddle"})


def import_framework(framework: str) -> Any:
    """Import torch or paddle, keeping paddle's import-time chatter out of our output."""
    if framework not in FRAMEWORKS:
        raise ValueError(framework)
    if framework in sys.modules:
        return sys.modules[framework]
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        os.environ.setdefault("GLOG_minloglevel", "2")
        return importlib.import_module(framework)


class Framework:
    """What padiff-gen does with a framework's layers and tensors. Methods import the
    framework on first use; ``loaded_*`` ones answer without importing it (None or
    False when it is not imported: nothing of it can have been made then)."""

    name = ""
    layer_class_name = ""  # for messages: "torch.nn.Module"
    # Whether the framework checks the shapes a layer is given (torch does; a paddle
    # conv's CPU kernel given an input smaller than its kernel corrupts memory instead).
    checks_shapes = False
    # Whether layers may hold torch-style parametrizations (weight_norm's original0/1).
    parametrizations = False
    eps_keyword = "eps"  # the constructor argument of a norm's epsilon
    copy_kernel = ""  # the runtime module a script copies with when this is on a side

    @property
    def module(self) -> Any:
        return import_framework(self.name)

    def loaded(self) -> Any:
        return sys.modules.get(self.name)

    def layer_class(self) -> type:
        raise NotImplementedError

    def loaded_layer_class(self) -> Optional[type]:
        return self.layer_class() if self.loaded() is not None else None

    def is_tensor(self, value: Any) -> bool:
        module = self.loaded()
        return module is not None and isinstance(value, module.Tensor)

    # ------------------------------------------------------------ model structure

    def non_persistent_buffers(self, layer: Any) -> set:
        raise NotImplementedError

    def layers(self, model: Any) -> list:
        """The model and every sub-layer, depth-first."""
        raise NotImplementedError

    def runs(self, layer: Any) -> bool:
        """False for a container without a forward of its own (ModuleList, LayerList)."""
        return type(layer).forward is not self.layer_class().forward

    def guards(self, layer: Any) -> bool:
        """Whether a layer's input must be checked before it runs (see guard)."""
        return False

    @staticmethod
    def guard(layer: Any, inputs: Any) -> None:
        """A forward pre-hook raising ValueError for an input the layer cannot take."""

    def has_meta_tensors(self, model: Any) -> bool:
        """Whether some buffer of the model has no storage (torch's meta device)."""
        return False

    def is_trainable(self, tensor: Any) -> bool:
        """False for a parameter the model keeps fixed."""
        raise NotImplementedError

    # ------------------------------------------------------------ building, running

    def lazy_build(self) -> contextlib.AbstractContextManager:
        """Build layers without allocating weights."""
        raise NotImplementedError

    def no_grad(self) -> contextlib.AbstractContextManager:
        return self.module.no_grad()

    def run(self, layer: Any, *args: Any, **kwargs: Any) -> Any:
        """``layer(*args, **kwargs)`` without gradients."""
        with self.no_grad():
            return layer(*args, **kwargs)

    def pre_hook(self, layer: Any, hook: Callable) -> Any:
        return layer.register_forward_pre_hook(hook)

    def post_hook(self, layer: Any, hook: Callable, with_kwargs: bool = False) -> Any:
        """Call ``hook(layer, args, output)`` after each forward (``hook(layer, args,
        kwargs, output)`` with ``with_kwargs``); the handle removes it."""
        raise NotImplementedError

    def float64_copy(self, layer: Any) -> Any:
        """A float64 copy of a layer, in eval mode."""
        raise NotImplementedError

    def random_copy(self, layer: Any) -> Any:
        """A copy of a layer with storage for every tensor and standard normal
        parameters (seeded), in eval mode."""
        raise NotImplementedError

    # ------------------------------------------------------------ tensors and arrays

    def tensor(self, array: np.ndarray) -> Any:
        """A tensor holding a copy of ``array``."""
        raise NotImplementedError

    def tensor_view(self, array: np.ndarray) -> Any:
        """A tensor sharing ``array``'s memory where the framework can."""
        raise NotImplementedError

    def tensor_as(self, array: np.ndarray, dtype: str) -> Any:
        """A tensor of ``array``'s values in ``dtype`` ("bfloat16" included)."""
        raise NotImplementedError

    def array(self, tensor: Any, float64: bool = False) -> np.ndarray:
        """A tensor's values as a numpy array: floats as float32 (numpy has no
        bfloat16), or float64."""
        raise NotImplementedError

    def assign(self, tensor: Any, values: np.ndarray) -> None:
        """Write ``values`` into ``tensor`` in place, in the tensor's dtype."""
        raise NotImplementedError


class Torch(Framework):
    name = "torch"
    layer_class_name = "torch.nn.Module"
    checks_shapes = True
    parametrizations = True
    eps_keyword = "eps"
    copy_kernel = "copy_torch"

    def layer_class(self) -> type:
        return self.module.nn.Module

    def non_persistent_buffers(self, layer: Any) -> set:
        return getattr(layer, "_non_persistent_buffers_set", set())

    def layers(self, model: Any) -> list:
        return list(model.modules())

    def has_meta_tensors(self, model: Any) -> bool:
        return any(buffer.is_meta for buffer in model.buffers())

    def is_trainable(self, tensor: Any) -> bool:
        nn = self.module.nn
        return not isinstance(tensor, nn.Parameter) or tensor.requires_grad

    @contextlib.contextmanager
    def lazy_build(self) -> Iterator[None]:
        # The same mode generated scripts use: random fills of meta tensors are skipped.
        from ..runtime.conversion.io_torch import SkipMetaInit

        with self.module.device("meta"), SkipMetaInit():
            yield

    def post_hook(self, layer: Any, hook: Callable, with_kwargs: bool = False) -> Any:
        if with_kwargs:
            return layer.register_forward_hook(hook, with_kwargs=True)
        return layer.register_forward_hook(hook)

    def float64_copy(self, layer: Any) -> Any:
        return copy.deepcopy(layer).double().eval()

    def random_copy(self, layer: Any) -> Any:
        torch = self.module
        twin = copy.deepcopy(layer)
        if any(t.is_meta for t in list(twin.parameters()) + list(twin.buffers())):
            twin = twin.to_empty(device="cpu")
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for tensor in twin.parameters():
                tensor.copy_(torch.randn(tensor.shape, generator=generator))
        return twin.eval()

    def tensor(self, array: np.ndarray) -> Any:
        return self.module.from_numpy(array.copy())

    def tensor_view(self, array: np.ndarray) -> Any:
        return self.module.from_numpy(array)

    def tensor_as(self, array: np.ndarray, dtype: str) -> Any:
        tensor = self.tensor(array)
        if tensor.is_floating_point():
            tensor = tensor.to(getattr(self.module, dtype))
        return tensor

    def array(self, tensor: Any, float64: bool = False) -> np.ndarray:
        value = tensor.detach().cpu()
        if value.is_floating_point():
            value = value.double() if float64 else value.float()
        return np.array(value.numpy())

    def assign(self, tensor: Any, values: np.ndarray) -> None:
        with self.module.no_grad():
            tensor.copy_(self.module.from_numpy(values))


class Paddle(Framework):
    name = "paddle"
    layer_class_name = "paddle.nn.Layer"
    eps_keyword = "epsilon"
    copy_kernel = "copy_paddle"

    def layer_class(self) -> type:
        return self.module.nn.Layer

    def non_persistent_buffers(self, layer: Any) -> set:
        return getattr(layer, "_non_persistable_buffer_names_set", set())

    def layers(self, model: Any) -> list:
        return list(model.sublayers(include_self=True))

    def guards(self, layer: Any) -> bool:
        """Whether ``layer`` is a paddle conv: its CPU kernels, given an input smaller
        than the kernel, compute with negative sizes and corrupt the process's memory
        instead of raising (paddle 3.3.1), so its input is checked first."""
        nn = self.module.nn
        return isinstance(layer, (nn.Conv1D, nn.Conv2D, nn.Conv3D))

    @staticmethod
    def guard(layer: Any, inputs: Any) -> None:
        """Raise ValueError where a conv's input is too small for its kernel."""
        if not inputs or not hasattr(inputs[0], "shape"):
            return
        spatial = list(inputs[0].shape[2:])
        kernel = list(layer._kernel_size)
        dilation = list(getattr(layer, "_dilation", [1] * len(kernel)))
        padding = getattr(layer, "_padding", 0)
        if isinstance(padding, str):
            padding = 0 if padding.lower() == "valid" else None
        if padding is None:  # "same": any size runs
            return
        pads = [padding] * len(kernel) if isinstance(padding, int) else list(padding)
        if len(pads) == 2 * len(kernel):  # [before, after] per axis
            pads = [(pads[2 * i] + pads[2 * i + 1]) / 2 for i in range(len(kernel))]
        for size, k, d, p in zip(spatial, kernel, dilation, pads):
            if size + 2 * p < d * (k - 1) + 1:
                raise ValueError(f"an input of {spatial} is too small for the conv")

    def is_trainable(self, tensor: Any) -> bool:
        parameter = self.module.base.framework.EagerParamBase
        return not isinstance(tensor, parameter) or not tensor.stop_gradient

    @contextlib.contextmanager
    def lazy_build(self) -> Iterator[None]:
        with self.module.LazyGuard():
            yield

    def post_hook(self, layer: Any, hook: Callable, with_kwargs: bool = False) -> Any:
        if not with_kwargs:
            return layer.register_forward_post_hook(lambda l, i, o: hook(l, i, o))
        try:
            return layer.register_forward_post_hook(hook, with_kwargs=True)
        except TypeError:  # paddle before 3.0: positional arguments only
            return layer.register_forward_post_hook(
                lambda layer, args, output: hook(layer, args, {}, output)
            )

    def float64_copy(self, layer: Any) -> Any:
        duplicate = copy.deepcopy(layer)
        duplicate.to(dtype="float64")
        duplicate.eval()
        return duplicate

    def random_copy(self, layer: Any) -> Any:
        twin = copy.deepcopy(layer)
        rng = np.random.default_rng(0)
        for tensor in twin.parameters():
            if not tensor._is_initialized():
                tensor.initialize()
            value = rng.standard_normal(tuple(tensor.shape)).astype("float32")
            tensor.set_value(self.module.to_tensor(value).astype(tensor.dtype))
        twin.eval()
        return twin

    def tensor(self, array: np.ndarray) -> Any:
        return self.module.to_tensor(array)

    def tensor_view(self, array: np.ndarray) -> Any:
        if array.dtype == np.int64 or array.dtype == np.int32:
            return self.module.to_tensor(array)
        return self.module.from_dlpack(array)

    def tensor_as(self, array: np.ndarray, dtype: str) -> Any:
        tensor = self.tensor(array)
        if tensor.is_floating_point():
            tensor = tensor.astype(dtype)
        return tensor

    def array(self, tensor: Any, float64: bool = False) -> np.ndarray:
        if tensor.is_floating_point():
            tensor = tensor.astype("float64" if float64 else "float32")
        return np.array(tensor.numpy())

    def assign(self, tensor: Any, values: np.ndarray) -> None:
        # via float32: numpy has no bfloat16
        value = self.module.to_tensor(values.astype("float32")).astype(tensor.dtype)
        tensor.set_value(value)


ADAPTERS = {"torch": Torch(), "paddle": Paddle()}


def adapter(framework: str) -> Framework:
    """The adapter of "torch" or "paddle"."""
    try:
        return ADAPTERS[framework]
    except KeyError:
        raise ValueError(framework) from None


def copy_kernel(frameworks: tuple[str, str]) -> str:
    """The runtime module a script of these frameworks copies with: copy_torch whenever
    torch is on either side (DLPack views reach paddle tensors from torch), copy_paddle
    when neither side needs torch."""
    kernels = {adapter(f).copy_kernel for f in frameworks}
    return "copy_torch" if "copy_torch" in kernels else kernels.pop()


def framework_of_layer(obj: Any) -> str | None:
    """'torch' or 'paddle' for a model object, else None."""
    for framework in FRAMEWORKS:
        base = ADAPTERS[framework].loaded_layer_class()
        if base is not None and isinstance(obj, base):
            return framework
    return None


def framework_of_tensor(value: Any) -> str | None:
    """'torch' or 'paddle' for a tensor, else None."""
    for framework in FRAMEWORKS:
        if ADAPTERS[framework].is_tensor(value):
            return framework
    return None


def class_name(layer: Any) -> str:
    return type(layer).__name__


def named_children(layer: Any) -> list[tuple[str, Any]]:
    """Direct sub-layers in definition order (both frameworks keep insertion order)."""
    return [
        (name, child) for name, child in layer.named_children() if child is not None
    ]


def direct_tensors(layer: Any, framework: str) -> list[tuple[str, Any]]:
    """Parameters, then persistent buffers, owned directly by ``layer``.

    Non-persistent buffers are not part of the model's state and are left out.
    """
    skip = adapter(framework).non_persistent_buffers(layer)
    tensors = [(n, p) for n, p in layer._parameters.items() if p is not None]
    tensors += [
        (n, b) for n, b in layer._buffers.items() if b is not None and n not in skip
    ]
    return tensors


def shape_of(tensor: Any) -> tuple[int, ...]:
    return tuple(int(d) for d in tensor.shape)


def dtype_name(tensor: Any) -> str:
    """'float32', 'bfloat16', ... for either framework."""
    return str(tensor.dtype).replace("torch.", "").replace("paddle.", "")


def lazy_build(framework: str) -> contextlib.AbstractContextManager:
    """Build layers without allocating weights: torch's meta device, paddle's LazyGuard."""
    return adapter(framework).lazy_build()
