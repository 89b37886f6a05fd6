"""create_model and the model proxy that carries a layer map (PaDiff's names)."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from ..errors import UsageError
from ..knowledge.frameworks import framework_of_layer
from ..load.load import ModelSpec
from .walk import layer_paths


class ProxyModel:
    """A model plus what padiff-gen needs to know about it.

    ``.model`` is the wrapped model, ``.framework`` "torch" or "paddle".
    """

    def __init__(
        self,
        model: Any,
        name: Optional[str] = None,
        *,
        spec: Optional[ModelSpec] = None,
        note: str = "",
    ) -> None:
        framework = framework_of_layer(model)
        if framework is None:
            raise UsageError(
                f"create_model got a {type(model).__module__}.{type(model).__qualname__}, "
                "which is neither a torch.nn.Module nor a paddle.nn.Layer.",
                "Pass a model instance (or a spec such as 'torch:pkg.module.Net').",
            )
        self.model = model
        self.framework = framework
        self.name = name or type(model).__name__
        self.spec = spec
        self.note = note
        self.layer_map: Optional[list[Any]] = None
        self.auto_role: Optional[str] = None
        # The model built again to run its layers, once asked for (block_probe).
        self.probe_build: Any = None

    def set_layer_map(self, layers: Iterable[Any]) -> "ProxyModel":
        """Sub-layers handled by special initializers, in the order they pair up."""
        layers = list(layers)
        paths = layer_paths(self.model)
        for index, layer in enumerate(layers):
            if id(layer) not in paths:
                raise UsageError(
                    f"set_layer_map entry {index} of {self.name} ({type(layer).__name__}) is "
                    f"not a sub-layer of {self.name}.",
                    "Pass sub-layers of this very model, e.g. model.model.encoder.",
                )
        self.layer_map = layers
        return self

    def auto_layer_map(self, role: str) -> "ProxyModel":
        """Map every sub-layer whose class has a registered initializer; role 'base' or 'raw'."""
        if role not in ("base", "raw"):
            raise UsageError(
                f"auto_layer_map takes 'base' or 'raw', got {role!r}.",
                "Say which side of the copy this model is on.",
            )
        self.auto_role = role
        return self

    def layer_map_paths(self) -> Optional[list[str]]:
        if self.layer_map is None:
            return None
        paths = layer_paths(self.model)
        return [paths[id(layer)] for layer in self.layer_map]

    def __repr__(self) -> str:
        return f"<ProxyModel {self.name} ({self.framework})>"


def create_model(model: Any, name: Optional[str] = None) -> ProxyModel:
    """Wrap a torch or paddle model (PaDiff's ``create_model``)."""
    if isinstance(model, ProxyModel):
        if name:
            model.name = name
        return model
    return ProxyModel(model, name)
