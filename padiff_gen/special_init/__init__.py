"""Special initializers: the registry and the built-in ``init_*.py`` modules.

Every module named ``init_*.py`` in this package is imported on first use of the package, so
adding a built-in initializer is adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil

from .special_init_pool import (
    InitKey,
    Initializer,
    SettingDifference,
    SpecialInitPool,
    TrainingDifference,
    add_special_init,
    global_special_init_pool,
)

__all__ = [
    "InitKey",
    "Initializer",
    "SettingDifference",
    "SpecialInitPool",
    "TrainingDifference",
    "add_special_init",
    "global_special_init_pool",
]


def _discover_builtin_modules() -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("init_")
    )
    for name in names:
        importlib.import_module(f"{__name__}.{name}")


_discover_builtin_modules()
