"""Analyze: find the units of both models, resolve the layer map, pair units and tensors."""

from __future__ import annotations

import difflib
import math
from typing import Any, Optional

from .errors import MappingError, Side, UsageError, format_shape
from .frameworks import class_name
from .match import Titles, choose_pairs
from .plan import (
    COPY,
    RESHAPE,
    TRANSPOSE,
    MapOptions,
    ModelInfo,
    Pairing,
    TensorCopy,
    Unit,
    UnitPair,
)
from .proxy import ProxyModel
from .special_init import InitKey, SettingDifference, SpecialInitPool
from .walk import collect_units, iter_layers, layers_by_path


def _side(unit: Optional[Unit]) -> Optional[Side]:
    if unit is None:
        return None
    return Side(unit.path, unit.class_name, unit.shapes)


def _describe(role: str, unit: Unit) -> str:
    return _side(unit).describe(role)


def _mapping_error(
    message: str, hint: str, base: Optional[Unit], raw: Optional[Unit]
) -> MappingError:
    return MappingError(message, hint, _side(base), _side(raw))


# ---------------------------------------------------------------- layer map


def _explicit_pairs(
    base: ProxyModel, raw: ProxyModel, options: MapOptions
) -> list[tuple[str, str]]:
    """Manual layer-map pairs: ``--map`` paths plus the proxies' set_layer_map lists."""
    pairs = list(options.maps)
    base_paths, raw_paths = base.layer_map_paths(), raw.layer_map_paths()
    if (base_paths is None) != (raw_paths is None):
        missing = "raw" if raw_paths is None else "base"
        raise UsageError(
            f"Only one model has a layer map: set_layer_map was not called on the {missing} model.",
            "Call set_layer_map on both models with matching lists.",
        )
    if base_paths is not None:
        if len(base_paths) != len(raw_paths):
            raise UsageError(
                f"The layer maps have different lengths: {len(base_paths)} base sub-layers "
                f"({', '.join(base_paths) or 'none'}) and {len(raw_paths)} raw sub-layers "
                f"({', '.join(raw_paths) or 'none'}).",
                "Give set_layer_map one entry per pair, in the same order on both models.",
            )
        pairs.extend(zip(base_paths, raw_paths))
    return pairs


def _check_map_paths(
    pairs: list[tuple[str, str]], layers: dict[str, dict[str, Any]]
) -> None:
    for base_path, raw_path in pairs:
        for role, path in (("base", base_path), ("raw", raw_path)):
            if path not in layers[role] or not path:
                near = difflib.get_close_matches(
                    path, [p for p in layers[role] if p], n=3
                )
                suggestion = f" Close matches: {', '.join(near)}." if near else ""
                raise UsageError(
                    f"--map {base_path}={raw_path}: the {role} model has no sub-layer "
                    f"{path!r}.{suggestion}",
                    f"Use dotted sub-layer paths as `padiff-gen inspect` shows them.",
                )


def _inside(path: str, ancestors: set[str]) -> bool:
    """True when ``path`` is one of ``ancestors`` or lies below one."""
    return any(a == "" or path == a or path.startswith(a + ".") for a in ancestors)


def _auto_paths(model: Any, classes: set[str], excluded: set[str]) -> list[str]:
    """Outermost layers whose class has an initializer, skipping manual entries.

    The model itself counts: a bare MultiheadAttention pair is one layer-map entry.
    """
    return [
        path
        for path, layer in iter_layers(
            model, prune=lambda p, l: class_name(l) in classes or p in excluded
        )
        if class_name(layer) in classes and not _inside(path, excluded)
    ]


def resolve_layer_map(
    base: ProxyModel, raw: ProxyModel, options: MapOptions, pool: SpecialInitPool
) -> tuple[list[tuple[str, str]], frozenset[str], frozenset[str]]:
    """(explicit pairs, all base layer-map paths, all raw layer-map paths)."""
    layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
    explicit = _explicit_pairs(base, raw, options)
    _check_map_paths(explicit, layers)
    base_special = {b for b, _ in explicit}
    raw_special = {r for _, r in explicit}
    if options.layer_map == "auto":
        fws = (base.framework, raw.framework)
        base_special.update(
            _auto_paths(
                base.model, pool.classes(fws[0], "base", fws[1]), set(base_special)
            )
        )
        raw_special.update(
            _auto_paths(
                raw.model, pool.classes(fws[1], "raw", fws[0]), set(raw_special)
            )
        )
    return explicit, frozenset(base_special), frozenset(raw_special)


# ---------------------------------------------------------------- pairing


def _transform(base: Unit, raw: Unit, name: str, ndim: int, cross: bool) -> str:
    if cross and (base.linear or raw.linear) and name == "weight" and ndim == 2:
        return TRANSPOSE  # torch Linear is [out, in], paddle Linear is [in, out]
    return COPY


def _flattened_layer_norm(base: Unit, raw: Unit, base_shape, raw_shape) -> bool:
    """paddle flattens a LayerNorm over several dimensions: torch [5, 8] is paddle [40]."""
    return (
        base.class_name == raw.class_name == "LayerNorm"
        and (len(base_shape) == 1) != (len(raw_shape) == 1)
        and math.prod(base_shape) == math.prod(raw_shape)
    )


def _tensor_list(unit: Unit) -> str:
    return ", ".join(f"{t.name} {format_shape(t.shape)}" for t in unit.tensors)


def pair_tensors(
    base: Unit,
    raw: Unit,
    cross: bool,
    pool: SpecialInitPool,
    frameworks: tuple[str, str],
) -> tuple[tuple[TensorCopy, ...], Optional[MappingError]]:
    hint = _initializer_hint(base, raw, pool, frameworks)
    if len(base.tensors) != len(raw.tensors):
        return (), _mapping_error(
            f"{_describe('base', base)} has {len(base.tensors)} tensors ({_tensor_list(base)}) "
            f"but {_describe('raw', raw)} has {len(raw.tensors)} ({_tensor_list(raw)}).",
            hint
            or "Make the layers hold the same tensors, or register an initializer for "
            "this pair (--init-module) and map it (--map BASE_PATH=RAW_PATH).",
            base,
            raw,
        )
    copies = []
    for base_tensor, raw_tensor in zip(base.tensors, raw.tensors):
        transform = _transform(
            base, raw, base_tensor.name, len(base_tensor.shape), cross
        )
        if cross and _flattened_layer_norm(
            base, raw, base_tensor.shape, raw_tensor.shape
        ):
            transform = RESHAPE
        expected = (
            base_tensor.shape[::-1] if transform == TRANSPOSE else base_tensor.shape
        )
        if transform == RESHAPE:
            expected = raw_tensor.shape
        if expected != raw_tensor.shape:
            layout = (
                " Linear weights are [out, in] in torch and [in, out] in paddle, so the raw "
                f"weight should be {format_shape(expected)}."
                if transform == TRANSPOSE
                else ""
            )
            return (), _mapping_error(
                f"Shape mismatch: base `{base_tensor.path}` {format_shape(base_tensor.shape)} "
                f"({base.class_name}) vs raw `{raw_tensor.path}` {format_shape(raw_tensor.shape)} "
                f"({raw.class_name}).{layout}",
                hint
                or "Make the layer sizes agree; if the layers are defined in a different "
                "order, reorder them so both models define them alike.",
                base,
                raw,
            )
        copies.append(TensorCopy(base_tensor, raw_tensor, transform))
    return tuple(copies), None


def _initializer_hint(
    base: Unit, raw: Unit, pool: SpecialInitPool, frameworks: tuple[str, str]
) -> str:
    entry = pool.get(
        InitKey(frameworks[0], base.class_name, frameworks[1], raw.class_name)
    )
    if entry is None:
        return ""
    return (
        f"The initializer `{entry.name}` ({entry.origin}) handles {entry.key.describe()}: "
        f"drop `--layer-map none` to map it automatically, or add "
        f"`--map {base.path}={raw.path}`."
    )


def _pair_special(
    base: Unit,
    raw: Unit,
    explicit: dict[str, str],
    layers: dict[str, dict[str, Any]],
    pool: SpecialInitPool,
    frameworks: tuple[str, str],
) -> UnitPair:
    if not (base.special and raw.special):
        special, plain = (base, raw) if base.special else (raw, base)
        role = "base" if base.special else "raw"
        return UnitPair(
            base,
            raw,
            error=_mapping_error(
                f"In definition order, {_describe('base', base)} meets {_describe('raw', raw)}, "
                f"but only the {role} one is in the layer map.",
                "A layer is missing, extra or defined in a different order on one side; or map "
                f"both with --map BASE_PATH=RAW_PATH (check with `padiff-gen inspect`).",
                base,
                raw,
            ),
        )
    if base.path in explicit and explicit[base.path] != raw.path:
        return UnitPair(
            base,
            raw,
            error=_mapping_error(
                f"The layer map pairs base `{base.path}` with raw `{explicit[base.path]}`, but in "
                f"definition order {_describe('base', base)} meets {_describe('raw', raw)}.",
                "Layer-map pairs must appear in the same order in both models; fix the --map "
                "pairs or the order of the layers.",
                base,
                raw,
            ),
        )
    key = InitKey(frameworks[0], base.class_name, frameworks[1], raw.class_name)
    entry = pool.get(key)
    if entry is None:
        near = pool.near(key)
        listing = "; ".join(f"{e.key.describe()} ({e.name})" for e in near)
        return UnitPair(
            base,
            raw,
            error=_mapping_error(
                f"No special initializer is registered for {key.describe()}, needed for the "
                f"layer-map pair base `{base.path}` / raw `{raw.path}`."
                + (f" Near matches: {listing}." if listing else ""),
                "Register one with add_special_init or @global_special_init_pool.register in a "
                "module passed with --init-module, or remove the pair from the layer map.",
                base,
                raw,
            ),
        )
    if entry.validate is not None:
        reason = entry.validate(layers["base"][base.path], layers["raw"][raw.path])
        if isinstance(reason, SettingDifference):
            return UnitPair(base, raw, initializer=entry, difference=str(reason))
        if reason:
            return UnitPair(
                base,
                raw,
                initializer=entry,
                error=_mapping_error(
                    f"{_describe('base', base)} and {_describe('raw', raw)} cannot be copied by "
                    f"`{entry.name}`: {reason}.",
                    "Build both layers with the same configuration.",
                    base,
                    raw,
                ),
            )
    return UnitPair(base, raw, initializer=entry)


def _leftover_error(base_units: list[Unit], raw_units: list[Unit]) -> UnitPair:
    count = min(len(base_units), len(raw_units))
    base = base_units[count] if len(base_units) > count else None
    raw = raw_units[count] if len(raw_units) > count else None
    extra, role, other = (
        (base, "base", "raw") if base is not None else (raw, "raw", "base")
    )
    left = (base_units if base is not None else raw_units)[count:]
    listing = ", ".join(f"`{u.path}` ({u.class_name})" for u in left[:5])
    if len(left) > 5:
        listing += f" and {len(left) - 5} more"
    # Name the other side too: where its model ended, so both trees can be looked at.
    if count:
        last = (
            f" The last pair was base `{base_units[count - 1].path}` / raw "
            f"`{raw_units[count - 1].path}`."
        )
    else:
        last = f" The {other} model has no units with weights at all."
    return UnitPair(
        base,
        raw,
        error=_mapping_error(
            f"The base model has {len(base_units)} units with weights but the raw model has "
            f"{len(raw_units)}: nothing on the {other} side pairs with {role} {listing}."
            + last,
            f"Add the missing layers to the {other} model or remove the extra ones from the "
            f"{role} model (compare the trees with `padiff-gen inspect`).",
            base,
            raw,
        ),
    )


def analyze(
    base: ProxyModel, raw: ProxyModel, options: MapOptions, pool: SpecialInitPool
) -> Pairing:
    """Pair the units of two models (in definition order, or by name: ``options.match``).

    Mismatches are kept in the pairs, not raised.
    """
    for proxy, role in ((base, "base"), (raw, "raw")):
        if proxy.auto_role not in (None, role):
            raise UsageError(
                f"{proxy.name} was marked auto_layer_map({proxy.auto_role!r}) but is passed as "
                f"the {role} model.",
                f"Call auto_layer_map({role!r}) on it, or swap the models.",
            )
    frameworks = (base.framework, raw.framework)
    explicit, base_special, raw_special = resolve_layer_map(base, raw, options, pool)
    base_units = collect_units(base.model, base_special)
    raw_units = collect_units(raw.model, raw_special)
    layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
    explicit_map = dict(explicit)
    cross = frameworks[0] != frameworks[1]

    def pair_units(base_unit: Unit, raw_unit: Unit) -> UnitPair:
        if base_unit.special or raw_unit.special:
            return _pair_special(
                base_unit, raw_unit, explicit_map, layers, pool, frameworks
            )
        copies, error = pair_tensors(base_unit, raw_unit, cross, pool, frameworks)
        return UnitPair(base_unit, raw_unit, copies, error=error)

    def registered(base_unit: Unit, raw_unit: Unit) -> bool:
        key = InitKey(
            frameworks[0], base_unit.class_name, frameworks[1], raw_unit.class_name
        )
        return pool.get(key) is not None

    order_pairs = [pair_units(b, r) for b, r in zip(base_units, raw_units)]
    if len(base_units) != len(raw_units):
        order_pairs.append(_leftover_error(base_units, raw_units))
    base_info = ModelInfo(base.framework, class_name(base.model), base.spec)
    raw_info = ModelInfo(raw.framework, class_name(raw.model), raw.spec)
    pairs = choose_pairs(
        order_pairs,
        base_units,
        raw_units,
        mode=options.match,
        pair=pair_units,
        explicit=explicit_map,
        registered=registered,
        titles=Titles(
            f"base: {base_info.framework} {base_info.class_name}",
            f"raw: {raw_info.framework} {raw_info.class_name}",
        ),
    )
    return Pairing(
        base_info, raw_info, tuple(base_units), tuple(raw_units), tuple(pairs)
    )
