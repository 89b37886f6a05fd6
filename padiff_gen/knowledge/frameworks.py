"""What padiff-gen needs to know about torch and paddle, and nothing else.

Frameworks are imported on first use (paddle's import is slow and noisy), so code that only
handles torch never pays for paddle.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import sys
import warnings
from typing import Any, Iterator

FRAMEWORKS = ("torch", "paddle")


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


def _base_layer_class(framework: str) -> type | None:
    """The framework's layer base class, if the framework is already imported."""
    if framework not in sys.modules:
        return None
    if framework == "torch":
        return sys.modules["torch"].nn.Module
    return sys.modules["paddle"].nn.Layer


def framework_of_layer(obj: Any) -> str | None:
    """'torch' or 'paddle' for a model object, else None."""
    for framework in FRAMEWORKS:
        base = _base_layer_class(framework)
        if base is not None and isinstance(obj, base):
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
    if framework == "torch":
        skip = getattr(layer, "_non_persistent_buffers_set", set())
    else:
        skip = getattr(layer, "_non_persistable_buffer_names_set", set())
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


@contextlib.contextmanager
def lazy_build(framework: str) -> Iterator[None]:
    """Build layers without allocating weights: torch's meta device, paddle's LazyGuard."""
    module = import_framework(framework)
    if framework == "torch":
        # The same mode generated scripts use: random fills of meta tensors are skipped.
        from ..runtime.conversion.io_torch import SkipMetaInit

        with module.device("meta"), SkipMetaInit():
            yield
    else:
        with module.LazyGuard():
            yield
