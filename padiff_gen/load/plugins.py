"""Third-party initializer packages, found through the entry-point group ``padiff_gen.special_inits``.

A distribution declares its initializers in its own ``pyproject.toml``::

    [project.entry-points."padiff_gen.special_inits"]
    my_layers = "my_package.padiff_inits"            # a module whose import registers them
    more = "my_package.padiff_inits:register"        # or a callable taking the pool

Plugins load once per process, after the built-ins (so they may replace a built-in) and before
``--init-module`` modules (which may replace a plugin's). Their functions are inlined into
generated scripts like the built-ins, so a script never needs the plugin installed to run.

Every registration remembers where it came from (``Initializer.origin``); the labels are
made and read here, so that ``list-inits`` can tell the kinds apart.
"""

from __future__ import annotations

import importlib.metadata
import types
from typing import Optional

from ..errors import UsageError
from ..special_init import SpecialInitPool, global_special_init_pool

GROUP = "padiff_gen.special_inits"
BUILTIN = "built-in"
_INIT_MODULE_PREFIX = "--init-module "
_PLUGIN_PREFIX = "plugin "

_loaded: set[int] = set()  # ids of the pools plugins were loaded into


def init_module_origin(module: str) -> str:
    return f"{_INIT_MODULE_PREFIX}{module}"


def plugin_origin(distribution: str, version: str) -> str:
    return f"{_PLUGIN_PREFIX}{distribution} {version}"


def origin_kind(origin: str) -> str:
    """'built-in', 'plugin', 'init-module', or 'module' (registered by some other import)."""
    if origin == BUILTIN:
        return "built-in"
    if origin.startswith(_PLUGIN_PREFIX):
        return "plugin"
    if origin.startswith(_INIT_MODULE_PREFIX):
        return "init-module"
    return "module"


def origin_detail(origin: str) -> dict[str, Optional[str]]:
    """The parts of an origin label, as ``list-inits --json`` reports them."""
    kind = origin_kind(origin)
    detail: dict[str, Optional[str]] = {"kind": kind, "label": origin}
    if kind == "plugin":
        distribution, _, version = origin[len(_PLUGIN_PREFIX) :].rpartition(" ")
        detail.update(distribution=distribution, version=version)
    elif kind == "init-module":
        detail["module"] = origin[len(_INIT_MODULE_PREFIX) :]
    elif kind == "module":
        detail["module"] = origin
    return detail


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=GROUP)
    # Sorted, so that two plugins registering the same pair resolve the same way everywhere.
    return sorted(found, key=lambda ep: (_distribution(ep)[0].lower(), ep.name))


def _distribution(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "unknown-distribution", "?"
    return dist.metadata["Name"] or "unknown-distribution", dist.version or "?"


def load_plugins(pool: SpecialInitPool = global_special_init_pool) -> None:
    """Import every installed plugin into ``pool`` (once per pool and process)."""
    if id(pool) in _loaded:
        return
    for entry_point in _entry_points():
        name, version = _distribution(entry_point)
        with pool.origin(plugin_origin(name, version)):
            _load_one(entry_point, name, pool)
    _loaded.add(id(pool))


def _load_one(
    entry_point: importlib.metadata.EntryPoint, distribution: str, pool: SpecialInitPool
) -> None:
    where = (
        f"The padiff-gen plugin {entry_point.name} = {entry_point.value} (from the "
        f"installed distribution {distribution})"
    )
    hint = (
        f"Fix the plugin, or uninstall it (pip uninstall {distribution}); --debug shows "
        "the traceback."
    )
    try:
        loaded = entry_point.load()
        if isinstance(loaded, types.ModuleType):
            return  # importing the module registered its initializers
        if not callable(loaded):
            raise UsageError(
                f"{where} names a {type(loaded).__name__}, not a module or a callable.",
                "Point the entry point at a module, or at a function taking the pool.",
            )
        loaded(pool)
    except UsageError as error:
        raise UsageError(f"{where} failed: {error.message}", error.hint) from error
    except Exception as error:
        raise UsageError(
            f"{where} failed to load: {type(error).__name__}: {error}.", hint
        ) from error
