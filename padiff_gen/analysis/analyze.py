"""Analyze: find the units of both models, resolve the layer map, pair units and tensors."""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any, Optional, Sequence

from ..errors import MappingError, Side, UsageError
from ..knowledge.frameworks import class_name, direct_tensors, framework_of_layer
from ..plan.choices import with_candidates
from .layouts.fused import layer_group_counts
from .layouts.merged import Candidate, Layout
from .regroup import Regrouped, merge_partner, merged_candidates, regroup
from ..knowledge.layer_kinds import affine_norm_family, class_names
from .match import Titles, choose_pairs
from ..plan.plan import (
    MapOptions,
    ModelInfo,
    Pairing,
    TensorCopy,
    TensorRef,
    Unit,
    UnitPair,
)
from .evidence.probe import matrix_layout
from .proxy import ProxyModel
from ..special_init import InitKey, SettingDifference, SpecialInitPool
from .transforms import pair_unit_tensors
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
            if path not in layers[role]:
                near = difflib.get_close_matches(
                    path, [p for p in layers[role] if p], n=3
                )
                suggestion = f" Close matches: {', '.join(near)}." if near else ""
                raise UsageError(
                    f"--map {base_path or '<root>'}={raw_path or '<root>'}: the {role} "
                    f"model has no sub-layer {path!r}.{suggestion}",
                    "Use dotted sub-layer paths as `padiff-gen inspect` shows them "
                    "(`<root>` for the model itself).",
                )


def _inside(path: str, ancestors: set[str]) -> bool:
    """True when ``path`` is one of ``ancestors`` or lies below one."""
    return any(a == "" or path == a or path.startswith(a + ".") for a in ancestors)


def _auto_paths(model: Any, classes: set[str], excluded: set[str]) -> list[str]:
    """Outermost layers whose class, or an ancestor class, has an initializer, skipping
    manual entries.

    The model itself counts: a bare MultiheadAttention pair is one layer-map entry.
    """
    framework = framework_of_layer(model)

    def registered(layer: Any) -> bool:
        return any(name in classes for name in class_names(layer, framework))

    return [
        path
        for path, layer in iter_layers(
            model, prune=lambda p, l: registered(l) or p in excluded
        )
        if registered(layer) and not _inside(path, excluded)
    ]


def resolve_layer_map(
    base: ProxyModel, raw: ProxyModel, options: MapOptions, pool: SpecialInitPool
) -> tuple[list[tuple[str, str]], frozenset[str], frozenset[str], dict[str, str]]:
    """(explicit layer-map pairs, all base layer-map paths, all raw layer-map paths,
    pairing hints).

    A ``--map`` pair of layers no initializer is registered for on either side (two
    Linear layers named differently, ``gate`` and ``router``) is no layer-map entry: it
    says which layers pair, and their tensors are copied by table rows as usual.
    """
    layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
    explicit = _explicit_pairs(base, raw, options)
    _check_map_paths(explicit, layers)
    fws = (base.framework, raw.framework)
    registered = {
        "base": pool.classes(fws[0], "base", fws[1]),
        "raw": pool.classes(fws[1], "raw", fws[0]),
    }

    def plain(role: str, path: str) -> bool:
        layer = layers[role][path]
        framework = fws[0] if role == "base" else fws[1]
        return not set(class_names(layer, framework)) & registered[role]

    hints = {b: r for b, r in explicit if plain("base", b) and plain("raw", r)}
    explicit = [(b, r) for b, r in explicit if b not in hints]
    base_special = {b for b, _ in explicit}
    raw_special = {r for _, r in explicit}
    if options.layer_map == "auto":
        for role, proxy, special in (
            ("base", base, base_special),
            ("raw", raw, raw_special),
        ):
            left_out = {path for side, path in options.unmapped if side == role}
            found = _auto_paths(proxy.model, registered[role], set(special))
            special.update(path for path in found if path not in left_out)
    return explicit, frozenset(base_special), frozenset(raw_special), hints


def plain_map_notes(
    base: ProxyModel, raw: ProxyModel, options: MapOptions, pool: SpecialInitPool
) -> list[str]:
    """emit's notes on --map pairs no initializer is registered for: they pair the two
    layers, whose tensors are then copied by table rows like any pair's."""
    if not options.maps:
        return []
    layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
    fws = (base.framework, raw.framework)
    registered = {
        "base": pool.classes(fws[0], "base", fws[1]),
        "raw": pool.classes(fws[1], "raw", fws[0]),
    }
    notes = []
    for base_path, raw_path in options.maps:
        found = {
            "base": layers["base"].get(base_path),
            "raw": layers["raw"].get(raw_path),
        }
        if any(layer is None for layer in found.values()):
            continue
        names = {
            role: class_names(layer, fws[0] if role == "base" else fws[1])
            for role, layer in found.items()
        }
        if any(set(names[role]) & registered[role] for role in names):
            continue
        notes.append(
            f"note: --map {base_path or '<root>'}={raw_path or '<root>'}: no special "
            "initializer is registered "
            f"for {fws[0]} {names['base'][0]} / {fws[1]} {names['raw'][0]}, so the map "
            "only pairs the two layers; their tensors are copied by table rows (paired "
            "by name and shape, as any pair's)."
        )
    return notes


# ---------------------------------------------------------------- pairing


def _find_initializer(
    pool: SpecialInitPool, frameworks: tuple[str, str], base: Unit, raw: Unit
):
    return pool.find(frameworks[0], base.ancestry, frameworks[1], raw.ancestry)


def _ancestors(path: str) -> list[str]:
    """``path`` and the paths of the layers holding it, nearest first ("" is the root)."""
    found = [path]
    while path:
        path = path.rpartition(".")[0]
        found.append(path)
    return found


def _initializer_hint(
    base: Unit,
    raw: Unit,
    pool: SpecialInitPool,
    frameworks: tuple[str, str],
    layers: dict[str, dict[str, Any]],
) -> str:
    """A remedy for two units whose tensors do not pair: the initializer registered for
    them, or for the layers holding them (a torch MultiheadAttention's in_proj_weight
    against a paddle MultiHeadAttention's q_proj), which the layer map was told not to
    use (``--layer-map none``)."""
    entry, pair = None, ("", "")
    for base_path in _ancestors(base.path):
        for raw_path in _ancestors(raw.path):
            base_layer = layers["base"].get(base_path)
            raw_layer = layers["raw"].get(raw_path)
            if base_layer is None or raw_layer is None:
                continue
            entry = pool.find(
                frameworks[0],
                class_names(base_layer, frameworks[0]),
                frameworks[1],
                class_names(raw_layer, frameworks[1]),
            )
            if entry is not None and entry.by_class:
                pair = (base_path or "<root>", raw_path or "<root>")
                break
            entry = None
        if entry is not None:
            break
    if entry is None:
        return ""
    return (
        f"The initializer `{entry.name}` ({entry.origin}) handles {entry.key.describe()}: "
        f"drop `--layer-map none` to map it automatically, or add "
        f"`--map {pair[0]}={pair[1]}`."
    )


def _tied_tensors(units: Sequence[Unit]) -> frozenset[str]:
    """Paths of the tensors a model uses in more than one layer (a tied embedding)."""
    tied = {t.tied_to for unit in units for t in unit.tensors if t.tied_to}
    return frozenset(tied | {t.path for u in units for t in u.tensors if t.tied_to})


def _copied_by_table(
    base: Unit,
    raw: Unit,
    shared: dict[str, frozenset[str]],
    layers: dict[str, dict[str, Any]],
    pool: SpecialInitPool,
    frameworks: tuple[str, str],
) -> bool:
    """Whether a pair mapped to a built-in initializer is copied tensor by tensor
    instead, by the tensor table.

    - When the initializer says it would only copy these two layers' tensors as they
      are (``copies_as_is``: an Embedding pair without a paddle padding_idx), and its
      validator finds nothing wrong: the table shows the copy to a reviewer, and a
      checkpoint conversion streams it instead of making both layers.
    - When both layers share their tensor with another layer. A built-in initializer
      may write values the base tensor does not hold, to reconcile the layer's own
      computation (torch's row at paddle's Embedding padding_idx is set to zero). A
      tensor the model also uses elsewhere (a head tied to the embedding, in both
      models) needs the values as they are there; what the initializer reconciled then
      becomes a setting difference, which the settings table notes."""
    if not (base.special and raw.special):
        return False
    entry = _find_initializer(pool, frameworks, base, raw)
    if entry is None or entry.origin != "built-in":
        return False
    if entry.copies_as_is is not None:
        base_layer, raw_layer = layers["base"][base.path], layers["raw"][raw.path]
        reason = entry.validate(base_layer, raw_layer) if entry.validate else None
        valid = not reason or isinstance(reason, SettingDifference)
        if valid and entry.copies_as_is(base_layer, raw_layer):
            return True
    return any(t.path in shared["base"] for t in base.tensors) and any(
        t.path in shared["raw"] for t in raw.tensors
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
        error = _mapping_error(
            f"In definition order, {_describe('base', base)} meets {_describe('raw', raw)}, "
            f"but only the {role} one is in the layer map.",
            "A layer is missing, extra or defined in a different order on one side; or map "
            f"both with --map BASE_PATH=RAW_PATH (check with `padiff-gen inspect`).",
            base,
            raw,
        )
        error.one_sided = (role, special.path)  # see analyze: tried without it
        return UnitPair(base, raw, error=error)
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
    entry = _find_initializer(pool, frameworks, base, raw)
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
            return UnitPair(base, raw, initializer=entry, difference=reason)
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
    fix = (
        f"Add the missing layers to the {other} model or remove the extra ones from the "
        f"{role} model (compare the trees with `padiff-gen inspect`)."
    )
    ties = [t for unit in left for t in unit.tensors if t.tied_to]
    if ties and all(t.tied_to for unit in left for t in unit.tensors):
        # Every extra unit only holds a tensor of another layer (an LM head tied to the
        # embedding): the other model may use that tensor in its forward code instead.
        named = ", ".join(f"`{t.path}` is `{t.tied_to}`" for t in ties[:3])
        last += (
            f" {named} (tied: one tensor), so the {other} model may compute with it "
            "directly (a matmul with the embedding's weight), which padiff-gen cannot "
            "pair with a layer."
        )
        fix = (
            f"Give the {other} model a layer that holds the tied tensor and computes "
            "with it (a head keeping the embedding's weight as its own), so that the "
            "two pair; or untie it in both models."
        )
    return UnitPair(
        base,
        raw,
        error=_mapping_error(
            f"The base model has {len(base_units)} units with weights but the raw model has "
            f"{len(raw_units)}: nothing on the {other} side pairs with {role} {listing}."
            + last,
            fix,
            base,
            raw,
        ),
    )


def _group_counts(layers: dict[str, dict[str, Any]]):
    """unit -> KV-head counts its parent layer declares (for grouped fused layouts)."""

    def counts(unit: Unit) -> list[int]:
        parent = unit.path.rpartition(".")[0]
        found = []
        for side in ("base", "raw"):
            layer = layers[side].get(parent)
            if layer is not None:
                found.extend(layer_group_counts(layer))
        return found

    return counts


def _layout_probe(layers: dict[str, dict[str, Any]], frameworks: tuple[str, str]):
    """(side, unit, tensor) -> the layout a probe of the unit's layer finds for its
    square matrix ("" when it cannot tell); each layer is probed once."""
    found: dict[tuple[str, str], str] = {}

    def probe(side: str, unit: Unit, tensor: TensorRef) -> str:
        key = (side, tensor.path)
        if key not in found:
            layer = layers[side].get(unit.path)
            framework = frameworks[0] if side == "base" else frameworks[1]
            name = tensor.path.rpartition(".")[2]
            found[key] = "" if layer is None else matrix_layout(layer, framework, name)
        return found[key]

    return probe


def _pair_merged(
    base: Unit,
    raw: Unit,
    regrouped: Regrouped,
    group_counts,
    options: MapOptions,
) -> UnitPair:
    merged = base if base.members else raw
    other = raw if merged is base else base
    merge = regrouped.merges[merged.path]
    if (base.members and raw.members) or merge_partner(merge) != other.path:
        return UnitPair(
            base,
            raw,
            error=MappingError(
                f"{_describe('base', base)} meets {_describe('raw', raw)}, but "
                f"`{merged.path}` stands for `{merge_partner(merge)}` ({merge.what}).",
                "A layer is missing, extra or defined in a different order on one side "
                "(check with `padiff-gen inspect`).",
                _side(base),
                _side(raw),
            ),
        )
    found = merged_candidates(merge, group_counts)
    if found.problem:
        return UnitPair(
            base,
            raw,
            error=MappingError(
                f"{_describe('base', base)} and {_describe('raw', raw)} look like "
                f"{found.what} layers, but {found.problem}.",
                "Register an initializer for this pair (--init-module) and map it "
                "(--map BASE_PATH=RAW_PATH).",
                _side(base),
                _side(raw),
            ),
        )
    return with_candidates(
        UnitPair(base, raw), found.candidates, found.what, options.layouts
    )


# How many times analyze pairs again, leaving out of the auto layer map a layer met by
# one of a class no initializer takes.
MAX_UNMAPPED_ROUNDS = 8
# The condition on the rows of such a pair, checked by running the layers holding it.
UNMAPPED_CONDITION = (
    "exact if layers of these two classes compute alike: no initializer takes them, "
    "they hold tensors of the same names and shapes"
)


def analyze(
    base: ProxyModel, raw: ProxyModel, options: MapOptions, pool: SpecialInitPool
) -> Pairing:
    """Pair the units of two models (in definition order, or by name: ``options.match``).

    Runs of units that stand for one unit of the other model (fused or stacked layouts)
    are merged first (:mod:`padiff_gen.analysis.regroup`). Mismatches are kept in the pairs, not
    raised; so are layouts that nothing decided (``Pairing.undecided``).

    A layer the auto layer map took (its class has an initializer) that meets a layer
    of a class no initializer takes (paddle.compat.nn's MultiheadAttention, which keeps
    torch's tensors) is paired again as plain layers, by their tensors; the rows of such
    pairs carry a condition, checked by running the layers holding them
    (:mod:`padiff_gen.analysis.evidence.block_probe`).
    """
    pairing = _analyze(base, raw, options, pool)
    unmapped = set(options.unmapped)
    explicit = {path for pair in options.maps for path in pair}
    for _ in range(MAX_UNMAPPED_ROUNDS):
        found = {
            pair.error.one_sided
            for pair in pairing.pairs
            if pair.error is not None
            and getattr(pair.error, "one_sided", None)
            and pair.error.one_sided[1] not in explicit
        } - unmapped
        if not found:
            break
        unmapped |= found
        trial = dataclasses.replace(options, unmapped=tuple(sorted(unmapped)))
        retried = _analyze(base, raw, trial, pool)
        if _errors(retried):
            # Still no full pairing: the mismatch was something else (a layer missing
            # on one side shifts every later pair); keep the first analysis and its
            # messages, unless only layer-map mismatches remain to be tried.
            if any(
                p.error is not None and not getattr(p.error, "one_sided", None)
                for p in retried.pairs
            ):
                break
        pairing, options = retried, trial
    if _errors(pairing) and (_bare_norms(base.model) or _bare_norms(raw.model)):
        # A norm built without scale and shift holds no tensor, so it is no unit, and a
        # norm of the other model that holds one (a shift alone) shifts every later
        # pair: pair such norms too, and keep that pairing if it pairs everything.
        retried = _analyze(base, raw, options, pool, bare=True)
        if not _errors(retried):
            pairing = retried
    if not options.unmapped:
        return pairing
    return dataclasses.replace(
        pairing, pairs=tuple(_conditioned(p, options.unmapped) for p in pairing.pairs)
    )


def _bare_norms(model: Any) -> bool:
    """Whether the model has a norm built without scale and shift (no unit of its own)."""
    framework = framework_of_layer(model)
    return any(
        affine_norm_family(layer, framework) and not direct_tensors(layer, framework)
        for _, layer in iter_layers(model)
    )


def _errors(pairing: Pairing) -> int:
    return sum(1 for pair in pairing.pairs if pair.error is not None)


def _conditioned(pair: UnitPair, unmapped) -> UnitPair:
    """A pair inside a layer left out of the auto layer map, with the condition on its
    rows."""
    inside = any(
        unit is not None and _inside(unit.path, {path})
        for side, path in unmapped
        for unit in ((pair.base,) if side == "base" else (pair.raw,))
    )
    if not inside or not pair.copies or pair.base is None or pair.raw is None:
        return pair
    if pair.base.kind and pair.raw.kind:  # the kinds' rows decided, not the names
        return pair
    copies = tuple(
        dataclasses.replace(c, condition=c.condition or UNMAPPED_CONDITION)
        for c in pair.copies
    )
    return dataclasses.replace(pair, copies=copies)


def _analyze(
    base: ProxyModel,
    raw: ProxyModel,
    options: MapOptions,
    pool: SpecialInitPool,
    bare: bool = False,
) -> Pairing:
    for proxy, role in ((base, "base"), (raw, "raw")):
        if proxy.auto_role not in (None, role):
            raise UsageError(
                f"{proxy.name} was marked auto_layer_map({proxy.auto_role!r}) but is passed as "
                f"the {role} model.",
                f"Call auto_layer_map({role!r}) on it, or swap the models.",
            )
    frameworks = (base.framework, raw.framework)
    explicit, base_special, raw_special, hints = resolve_layer_map(
        base, raw, options, pool
    )
    base_collected = collect_units(base.model, base_special, bare)
    raw_collected = collect_units(raw.model, raw_special, bare)
    if options.calls[0] and options.calls[1]:
        base_collected = in_call_order(base_collected, options.calls[0])
        raw_collected = in_call_order(raw_collected, options.calls[1])
    regrouped = regroup(base_collected, raw_collected)
    base_units, raw_units = list(regrouped.base_units), list(regrouped.raw_units)
    layers = {"base": layers_by_path(base.model), "raw": layers_by_path(raw.model)}
    explicit_map = {**dict(explicit), **hints}
    cross = frameworks[0] != frameworks[1]
    probe = _layout_probe(layers, frameworks)
    group_counts = _group_counts(layers)

    shared = {
        "base": _tied_tensors(base_units),
        "raw": _tied_tensors(raw_units),
    }

    def pair_units(base_unit: Unit, raw_unit: Unit) -> UnitPair:
        if _one_sided_affine(base_unit, raw_unit, layers, frameworks):
            found = _find_initializer(pool, frameworks, base_unit, raw_unit)
            if found is not None:
                return _pair_special(
                    dataclasses.replace(base_unit, special=True),
                    dataclasses.replace(raw_unit, special=True),
                    explicit_map,
                    layers,
                    pool,
                    frameworks,
                )
        if _copied_by_table(base_unit, raw_unit, shared, layers, pool, frameworks):
            plain = (
                dataclasses.replace(base_unit, special=False),
                dataclasses.replace(raw_unit, special=False),
            )
            alternatives, error = pair_unit_tensors(
                *plain, cross, probe, "", options.layouts
            )
            if error is None and len(alternatives) == 1:
                return UnitPair(*plain, alternatives[0])
        if base_unit.special or raw_unit.special:
            return _pair_special(
                base_unit, raw_unit, explicit_map, layers, pool, frameworks
            )
        if base_unit.members or raw_unit.members:
            return _pair_merged(base_unit, raw_unit, regrouped, group_counts, options)
        hint = _initializer_hint(base_unit, raw_unit, pool, frameworks, layers)
        alternatives, error = pair_unit_tensors(
            base_unit, raw_unit, cross, probe, hint, options.layouts
        )
        if error is not None or len(alternatives) == 1:
            copies = alternatives[0] if alternatives else ()
            return UnitPair(base_unit, raw_unit, copies, error=error)
        candidates, what = _tensor_candidates(alternatives)
        return with_candidates(
            UnitPair(base_unit, raw_unit), candidates, what, options.layouts
        )

    def registered(base_unit: Unit, raw_unit: Unit) -> bool:
        return _find_initializer(pool, frameworks, base_unit, raw_unit) is not None

    base_units, raw_units, tied = _without_tied_heads(base_units, raw_units)
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
        partners=regrouped.partners,
    )
    # Two norms that both hold nothing pair with nothing to copy.
    empty = {
        id(unit)
        for pair in pairs
        if pair.error is None
        and pair.initializer is None
        and pair.base is not None
        and pair.raw is not None
        and not pair.base.tensors
        and not pair.raw.tensors
        for unit in (pair.base, pair.raw)
    }
    return Pairing(
        base_info,
        raw_info,
        tuple(u for u in base_units if id(u) not in empty),
        tuple(u for u in raw_units if id(u) not in empty),
        tuple(p for p in pairs if id(p.base) not in empty) + tied,
    )


def _tensor_candidates(
    alternatives: Sequence[tuple[TensorCopy, ...]],
) -> tuple[list[Candidate], str]:
    """The alternatives of a pair's rows as candidates for evidence, and what kind of
    question they are: "tensors" when they pair the tensors differently, "matrices"
    when they differ only in transposing square stacks of matrices (named then by the
    transform of each such tensor: ``--layout KEY=copy,transpose``)."""
    pairings = {tuple(c.raw.name for c in copies) for copies in alternatives}
    if len(pairings) > 1:
        return [
            Candidate(
                Layout(
                    (),
                    names=tuple(f"{c.base[0].name}:{c.raw.name}" for c in copies),
                    text="the base tensors into the raw ones as "
                    + ", ".join(f"{c.base[0].name} -> {c.raw.name}" for c in copies),
                ),
                copies,
            )
            for copies in alternatives
        ], "tensors"
    varying = [
        index
        for index in range(len(alternatives[0]))
        if len({copies[index].transform for copies in alternatives}) > 1
    ]
    return [
        Candidate(
            Layout(
                (),
                names=tuple(copies[i].transform.text() for i in varying),
                text=", ".join(
                    f"{copies[i].raw.name} {copies[i].transform.text()}"
                    for i in varying
                ),
            ),
            copies,
        )
        for copies in alternatives
    ], "matrices"


def _one_sided_affine(
    base: Unit,
    raw: Unit,
    layers: dict[str, dict[str, Any]],
    frameworks: tuple[str, str],
) -> bool:
    """Whether two norms of one family (layer_kinds.AFFINE_NORMS) hold different tensors:
    one side built without the scale or shift the other holds, which then computes as
    the neutral value (special_init.init_norm_affine writes it or checks it)."""
    if base.special or raw.special or base.members or raw.members:
        return False
    family = affine_norm_family(layers["base"][base.path], frameworks[0])
    if not family or family != affine_norm_family(
        layers["raw"][raw.path], frameworks[1]
    ):
        return False
    return {t.name for t in base.tensors} != {t.name for t in raw.tensors}


def in_call_order(units: list[Unit], calls: Sequence[str]) -> list[Unit]:
    """The units in the order a forward pass first called them; units it never called
    keep their place after those it did."""
    position = {path: index for index, path in enumerate(calls)}
    return sorted(units, key=lambda u: (position.get(u.path, len(position)),))


# Pairs whose units were paired in the order a forward pass calls them.
CALLS = "calls"


# How a unit holding only a tensor of another layer pairs: with nothing (see below).
TIED = "tied"


def tied_head_text(unit: Unit) -> str:
    """What such a unit is, for its row in inspect and the script."""
    tensors = ", ".join(f"`{t.path}` is `{t.tied_to}`" for t in unit.tensors)
    return f"holds only a tensor of another layer ({tensors}: one tensor, copied once)"


def _without_tied_heads(
    base_units: list[Unit], raw_units: list[Unit]
) -> tuple[list[Unit], list[Unit], tuple[UnitPair, ...]]:
    """The units to pair, without those that only hold a tensor of another layer (an LM
    head tied to the embedding) when the other model has that many units fewer (it
    computes with the tensor directly: logits = h @ embed.weight.T): the tied tensor is
    one tensor, copied once with the layer that owns it. Such a head pairs with nothing;
    its pair (matched_by TIED) is checked by running both models
    (padiff_gen.analysis.evidence.block_probe.check_tied), as any layout the shapes cannot show.
    """
    count = len(base_units) - len(raw_units)
    if count == 0:
        return base_units, raw_units, ()
    longer = base_units if count > 0 else raw_units
    heads = [
        unit
        for unit in longer
        if unit.tensors and not unit.special and all(t.tied_to for t in unit.tensors)
    ]
    if len(heads) != abs(count):
        return base_units, raw_units, ()
    kept = [unit for unit in longer if unit not in heads]
    pairs = tuple(
        (
            UnitPair(head, None, matched_by=TIED, layout=tied_head_text(head))
            if count > 0
            else UnitPair(None, head, matched_by=TIED, layout=tied_head_text(head))
        )
        for head in heads
    )
    if count > 0:
        return kept, raw_units, pairs
    return base_units, kept, pairs
