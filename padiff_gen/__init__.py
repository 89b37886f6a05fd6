"""padiff-gen: generate reviewable scripts that copy weights between torch and paddle models."""

from .version import __version__  # noqa: E402
from .api import assign_weight, emit  # noqa: E402
from .errors import MappingError, PadiffGenError  # noqa: E402
from .analysis.proxy import ProxyModel, create_model  # noqa: E402
from .special_init import add_special_init, global_special_init_pool  # noqa: E402

__all__ = [
    "MappingError",
    "PadiffGenError",
    "ProxyModel",
    "__version__",
    "add_special_init",
    "assign_weight",
    "create_model",
    "emit",
    "global_special_init_pool",
]
