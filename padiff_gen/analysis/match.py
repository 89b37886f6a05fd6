"""Matching strategies: which base unit pairs with which raw unit.

``order`` pairs the i-th unit of each model, in definition order (PaDiff's rule).
``names`` pairs units whose paths and classes correspond, so that two models that
define the same sub-layers in a different order still pair up. ``auto`` (the default)
pairs in order and falls back to names when order fails. It also takes the pairing by
names when that pairs every unit and disagrees with order: then order has silently
paired same-shaped layers that the models define in a different order. When both
fail, the error shows the two trees side by side with the first divergence marked.

Works on units and :class:`UnitPair`s only, so every command that analyzes (emit, check,
inspect) gets the same answer.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from ..errors import MappingError, format_shape, Side
from ..plan.plan import UnitPair, Unit
from .trees import Row, rows_in_order, side_by_side

MATCH_MODES = ("auto", "order", "names")
DEFAULT_MATCH = "auto"

# matched_by values: how a pair was found.
BY_ORDER = "order"  # same position in definition order
BY_NAME = "name"  # same (normalised) path, at different positions
BY_MAP = "map"  # a manual layer-map pair, at different positions
UNPAIRED = "unpaired"  # no pair: a row that carries the error about units left over

PairFn = Callable[[Unit, Unit], UnitPair]
RegisteredFn = Callable[[Unit, Unit], bool]


def normalize_path(path: str) -> str:
    """Paths compare without case and without the leading/trailing underscores some
    code bases put on attribute names (``_conv1._bn`` ~ ``conv1.bn``)."""
    return ".".join(part.strip("_").lower() for part in path.split("."))


def normalize_class(name: str) -> str:
    """torch ``Conv2d`` ~ paddle ``Conv2D``, ``ConvTranspose2d`` ~ ``Conv2DTranspose``,
    ``MultiheadAttention`` ~ ``MultiHeadAttention``, ``RNN`` ~ ``SimpleRNN``."""
    name = name.lower()
    name = re.sub(r"^conv([123])dtranspose$", r"convtranspose\1d", name)
    return "rnn" if name == "simplernn" else name


def _public_classes(unit: Unit) -> set[str]:
    return {normalize_class(name) for name in unit.ancestry if not name.startswith("_")}


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(size for size in shape if size != 1)


def tensors_correspond(base: Unit, raw: Unit) -> bool:
    """The same tensors by name, with shapes that can pair (equal, a 2-D one transposed,
    or equal but for axes of size 1): evidence that two layers correspond whatever
    their classes are called (``Phi3RMSNorm`` ~ ``RMSNorm``)."""
    if not base.tensors or len(base.tensors) != len(raw.tensors):
        return False
    if base.kind and raw.kind and base.kind != raw.kind:
        return False  # a Linear is no conv, whatever the shapes
    raw_by_name = {t.name: t for t in raw.tensors}
    if sorted(t.name for t in base.tensors) != sorted(raw_by_name):
        return False
    for tensor in base.tensors:
        other = raw_by_name[tensor.name].shape
        if not (
            tensor.shape == other
            or (len(other) == 2 and tensor.shape == other[::-1])
            or _squeezed(tensor.shape) == _squeezed(other)
        ):
            return False
    return True


def block_and_name(path: str) -> str:
    """The path up to its last numbered part (a block of a layer list), and the layer's
    own name: ``model.layers.1.mlp.gate.moe_statics`` -> ``model.layers.1 moe_statics``.
    """
    parts = normalize_path(path).split(".")
    numbered = [i for i, part in enumerate(parts) if part.isdigit()]
    block = ".".join(parts[: numbered[-1] + 1]) if numbered else ""
    return f"{block} {parts[-1]}"


def classes_correspond(base: Unit, raw: Unit, registered: RegisteredFn) -> bool:
    """Same kind of layer: a class (or ancestor class) of the same name up to case
    (torch ``Conv2d`` ~ paddle ``Conv2D``, a subclass of ``BatchNorm2d`` ~
    ``BatchNorm2D``); for layer-map units, a pair with a registered initializer (torch
    ``BatchNorm2d`` ~ paddle ``BatchNorm``); for other units, the same tensors
    (:func:`tensors_correspond`)."""
    if base.special != raw.special:
        return False
    if _public_classes(base) & _public_classes(raw):
        return True
    if base.special:
        return registered(base, raw)
    return tensors_correspond(base, raw)


@dataclass(frozen=True)
class NameMatch:
    """Units paired by path (in base order) and the units left without a partner."""

    pairs: tuple[tuple[Unit, Unit], ...]
    unmatched_base: tuple[Unit, ...]
    unmatched_raw: tuple[Unit, ...]

    @property
    def complete(self) -> bool:
        return not self.unmatched_base and not self.unmatched_raw


def match_by_name(
    base_units: Sequence[Unit],
    raw_units: Sequence[Unit],
    explicit: Mapping[str, str],
    registered: RegisteredFn,
    partners: Mapping[str, str] = {},
) -> NameMatch:
    """Pair merged units with the unit they stand for (``partners``, see
    :mod:`padiff_gen.analysis.regroup`), manual layer-map entries by the map, then units with equal
    paths, then units whose normalised paths are equal and unique on both sides (never
    guess between two).
    """
    raw_left = {unit.path: unit for unit in raw_units}
    found: dict[str, Unit] = {}  # base path -> raw unit
    for base in base_units:
        partner = raw_left.get(partners.get(base.path, ""))
        if partner is not None:
            found[base.path] = partner
            del raw_left[partner.path]

    def take(base: Unit, raw: Optional[Unit]) -> None:
        if raw is not None and classes_correspond(base, raw, registered):
            found[base.path] = raw
            del raw_left[raw.path]

    for base in base_units:
        if base.path in explicit and base.path not in found:
            take(base, raw_left.get(explicit[base.path]))
    for base in base_units:
        if base.path not in found and base.path not in explicit:
            take(base, raw_left.get(base.path))
    # Then by the normalised path; then, for what is left, by the layer's own name in
    # the same numbered block (``layers.1.mlp.gate.moe_statics`` ~
    # ``layers.1.mlp.moe_statics``): each key unique on both sides, never a guess.
    for key_of in (normalize_path, block_and_name):
        base_left = [
            u for u in base_units if u.path not in found and u.path not in explicit
        ]
        by_key: dict[str, list[Unit]] = {}
        for raw in raw_left.values():
            by_key.setdefault(key_of(raw.path), []).append(raw)
        base_keys: dict[str, int] = {}
        for base in base_left:
            key = key_of(base.path)
            base_keys[key] = base_keys.get(key, 0) + 1
        for base in base_left:
            key = key_of(base.path)
            candidates = by_key.get(key, [])
            if base_keys[key] == 1 and len(candidates) == 1:
                take(base, candidates[0])
    return NameMatch(
        tuple((base, found[base.path]) for base in base_units if base.path in found),
        tuple(base for base in base_units if base.path not in found),
        tuple(raw_left.values()),
    )


def _positions(units: Sequence[Unit]) -> dict[str, int]:
    return {unit.path: i for i, unit in enumerate(units)}


def _listing(units: Sequence[Unit], limit: int = 3) -> str:
    shown = ", ".join(f"`{u.path or '<root>'}` ({u.class_name})" for u in units[:limit])
    return shown + (f" and {len(units) - limit} more" if len(units) > limit else "")


def _unmatched_reason(match: NameMatch) -> str:
    parts = []
    if match.unmatched_base:
        parts.append(f"base {_listing(match.unmatched_base)}")
    if match.unmatched_raw:
        parts.append(f"raw {_listing(match.unmatched_raw)}")
    return (
        " and ".join(parts) + " have no counterpart with the same path and class on "
        "the other side"
    )


@dataclass(frozen=True)
class Titles:
    """Column headings for the side-by-side trees, e.g. ``base: torch Net``."""

    base: str
    raw: str


def _with_error(pair: UnitPair, error: MappingError) -> UnitPair:
    return dataclasses.replace(pair, error=error)


def _first_error_index(pairs: Sequence[UnitPair]) -> Optional[int]:
    return next((i for i, p in enumerate(pairs) if p.error is not None), None)


class _Context:
    """What one matching run needs; keeps the functions below short."""

    def __init__(
        self,
        base_units: Sequence[Unit],
        raw_units: Sequence[Unit],
        pair: PairFn,
        explicit: Mapping[str, str],
        registered: RegisteredFn,
        titles: Titles,
    ) -> None:
        self.base_units, self.raw_units = base_units, raw_units
        self.pair, self.explicit, self.registered = pair, explicit, registered
        self.titles = titles
        self.base_pos, self.raw_pos = _positions(base_units), _positions(raw_units)

    def trees(self, mark: int, rows: Optional[Sequence[Row]] = None) -> str:
        """Both trees side by side, in definition order unless ``rows`` are given."""
        if rows is None:
            rows = rows_in_order(self.base_units, self.raw_units)
        return side_by_side(rows, mark, self.titles.base, self.titles.raw)

    def matched_by(self, base: Unit, raw: Unit) -> str:
        if self.base_pos[base.path] == self.raw_pos[raw.path]:
            return BY_ORDER  # order would have paired them too
        return BY_MAP if base.path in self.explicit else BY_NAME

    def crossed(self, match: NameMatch) -> bool:
        """Do two path pairs sit in opposite orders in the two models? Only then are
        layers defined in a different order; a unit inserted or removed merely shifts
        the positions of the ones after it."""
        raw_positions = [self.raw_pos[raw.path] for _, raw in match.pairs]
        return any(a > b for a, b in zip(raw_positions, raw_positions[1:]))

    def name_pairs(self, match: NameMatch) -> list[UnitPair]:
        return [
            dataclasses.replace(self.pair(b, r), matched_by=self.matched_by(b, r))
            for b, r in match.pairs
        ]


def _detailed(error: MappingError, detail: str, message: str = "", hint: str = ""):
    """The error with trees (and a message and hint) of its own, its marks kept."""
    found = MappingError(
        message or error.message,
        hint or error.hint,
        error.base,
        error.raw,
        detail=detail,
    )
    found.one_sided = getattr(error, "one_sided", None)
    return found


def choose_pairs(
    order_pairs: Sequence[UnitPair],
    base_units: Sequence[Unit],
    raw_units: Sequence[Unit],
    *,
    mode: str,
    pair: PairFn,
    explicit: Mapping[str, str],
    registered: RegisteredFn,
    titles: Titles,
    partners: Mapping[str, str] = {},
) -> tuple[UnitPair, ...]:
    """The pairs the given strategy settles on; mismatches stay in them as errors.

    ``order_pairs`` is the pairing in definition order (row i = unit i of each side, a
    trailing pair for the leftover units). ``pair(base, raw)`` pairs two units' tensors
    or finds their initializer. The first error of the result carries both trees.
    """
    context = _Context(base_units, raw_units, pair, explicit, registered, titles)
    order_failed = _first_error_index(order_pairs)
    if mode == "order":
        return _order_result(order_pairs, order_failed, context)
    match = match_by_name(base_units, raw_units, explicit, registered, partners)
    name_pairs = context.name_pairs(match)
    name_failed = _first_error_index(name_pairs)
    names_work = match.complete and name_failed is None
    if mode == "auto" and order_failed is None:
        # Order works. But when every unit also pairs by path and that pairing differs,
        # order has paired layers of equal shapes that the models define in a different
        # order (k_proj copied into q_proj): the paths are the better evidence.
        moved = any(p.matched_by != BY_ORDER for p in name_pairs)
        return tuple(name_pairs) if names_work and moved else tuple(order_pairs)
    if names_work:
        return tuple(name_pairs)
    if mode == "names":
        lead = "Matching by path failed: "
        return _names_failure(name_pairs, name_failed, match, context, lead)
    return _both_failed(
        order_pairs, order_failed, name_pairs, name_failed, match, context
    )


def _order_result(
    order_pairs: Sequence[UnitPair],
    failed: Optional[int],
    context: _Context,
    names_remark: str = "",
) -> tuple[UnitPair, ...]:
    """The pairs in definition order; the first error gets both trees, the reason
    matching by path did not help (``names_remark``), and, when one side has a run of
    extra units, which ones."""
    pairs = list(order_pairs)
    if failed is None:
        return tuple(pairs)
    error = pairs[failed].error
    message, hint = error.message + names_remark, error.hint
    extra = _extra_run(context, failed)
    if extra is not None:
        side, other, units = extra
        if len(units) == 1:
            unit = units[0]
            shapes = ", ".join(format_shape(shape) for shape in unit.shapes)
            which = f"`{unit.path}` ({unit.class_name}, {shapes})"
            lacks = f"The {other} model lacks {side} {which}"
        else:
            under = _common_prefix([u.path for u in units])
            lacks = (
                f"The {other} model lacks {len(units)} units of the {side} model, from "
                f"`{units[0].path}` to `{units[-1].path}`"
                + (f", all under `{under}`" if under else "")
            )
        # Name what is missing first: the pair after it only meets the wrong partner.
        message = (
            f"{lacks}: without {'it' if len(units) == 1 else 'them'} the rest pairs in "
            f"order. (Paired in order, the next pair fails: {error.message})"
            + names_remark
        )
        hint = (
            f"Build the {side} model without those layers (an auxiliary head, say), or "
            f"give the {other} model the same ones."
        )
    pairs[failed] = _with_error(
        pairs[failed], _detailed(error, context.trees(failed), message, hint)
    )
    return tuple(pairs)


# How many extra units in a row _extra_run looks for: a head or a block, not a model.
MAX_EXTRA_RUN = 64


def _look_alike(base: Unit, raw: Unit, registered: RegisteredFn) -> bool:
    """Could the two units pair? Classes correspond and the non-scalar tensor shapes
    agree (2-D ones possibly transposed, as Linear weights are across frameworks). A
    layer-map unit's initializer rearranges its tensors (torch attention packs q, k and
    v in one), so there only the number of non-scalar elements must agree; so too for
    a unit that stands for several layers of the other model (a fused projection)."""
    if base.members or raw.members:
        return _elements(base) == _elements(raw)
    if not classes_correspond(base, raw, registered):
        return False
    if base.special:
        return _elements(base) == _elements(raw)
    base_shapes = [shape for shape in base.shapes if shape]
    raw_shapes = [shape for shape in raw.shapes if shape]
    return len(base_shapes) == len(raw_shapes) and all(
        b == r or (len(b) == 2 and b == r[::-1])
        for b, r in zip(base_shapes, raw_shapes)
    )


def _elements(unit: Unit) -> int:
    """Elements in the unit's non-scalar tensors (torch BatchNorm's scalar
    num_batches_tracked has no paddle counterpart)."""
    return sum(math.prod(shape) for shape in unit.shapes if shape)


def _extra_run(
    context: _Context, failed: int
) -> Optional[tuple[str, str, Sequence[Unit]]]:
    """(side, other side, units) when one model has a run of units, at or just before
    the failing row, whose removal lets every later unit pair in order."""
    base_units, raw_units = context.base_units, context.raw_units
    count = len(base_units) - len(raw_units)
    if count == 0 or abs(count) > MAX_EXTRA_RUN:
        return None
    longer, shorter = (base_units, raw_units) if count > 0 else (raw_units, base_units)
    side, other = ("base", "raw") if count > 0 else ("raw", "base")
    count = abs(count)

    def alike(long_unit: Unit, short_unit: Unit) -> bool:
        if longer is base_units:
            return _look_alike(long_unit, short_unit, context.registered)
        return _look_alike(short_unit, long_unit, context.registered)

    # Units before the failing row paired, so the run starts at most `count` rows early.
    # A run at the very end leaves nothing to re-pair (the count message says it all).
    for start in range(min(failed, len(shorter) - 1), max(failed - count, 0) - 1, -1):
        if all(
            alike(longer[i + count], shorter[i]) for i in range(start, len(shorter))
        ):
            return side, other, longer[start : start + count]
    return None


def _common_prefix(paths: Sequence[str]) -> str:
    """The longest dotted path that contains all of ``paths``, or ""."""
    parts = [path.split(".") for path in paths]
    common = []
    for names in zip(*parts):
        if len(set(names)) != 1:
            break
        common.append(names[0])
    return ".".join(common)


def _name_rows(match: NameMatch, context: _Context) -> list[Row]:
    """The trees as paired by path: base units in order with their partners, then the
    raw units left over."""
    partner = {base.path: raw for base, raw in match.pairs}
    rows: list[Row] = [(base, partner.get(base.path)) for base in context.base_units]
    return rows + [(None, raw) for raw in match.unmatched_raw]


def _names_failure(
    name_pairs: list[UnitPair],
    failed: Optional[int],
    match: NameMatch,
    context: _Context,
    lead: str,
) -> tuple[UnitPair, ...]:
    """No complete pairing by path: the first failing pair's error, or one naming the
    units without a partner, with the trees shown as paired by path."""
    rows = _name_rows(match, context)
    bad = {p.base.path for p in name_pairs if p.error is not None}
    mark = next(
        i
        for i, (base, raw) in enumerate(rows)
        if base is None or raw is None or base.path in bad
    )
    detail = context.trees(mark, rows)
    if failed is not None:
        pair = name_pairs[failed]
        name_pairs[failed] = _with_error(pair, _detailed(pair.error, detail))
        return tuple(name_pairs)
    base = match.unmatched_base[0] if match.unmatched_base else None
    raw = match.unmatched_raw[0] if match.unmatched_raw else None
    error = MappingError(
        f"{lead}{_unmatched_reason(match)}.",
        "Give those layers the same attribute names in both models, or define them in "
        "the same order (then pairing in order works).",
        _side(base),
        _side(raw),
        detail=detail,
    )
    return tuple(name_pairs) + (UnitPair(base, raw, error=error, matched_by=UNPAIRED),)


def _both_failed(
    order_pairs: Sequence[UnitPair],
    order_failed: int,
    name_pairs: list[UnitPair],
    name_failed: Optional[int],
    match: NameMatch,
    context: _Context,
) -> tuple[UnitPair, ...]:
    """Neither strategy pairs the models. When most units pair by path and some of them
    sit in a different order, the models are the same ones defined differently and
    what fails by path is the news. Otherwise the divergence in order is: the paths
    either differ wholesale (e.g. across model zoos) or agree with the order, so that
    the failing pair in order (a missing layer, a changed size or class) says most."""
    largest = max(len(context.base_units), len(context.raw_units))
    if context.crossed(match) and 2 * len(match.pairs) >= largest:
        failing = order_pairs[order_failed]
        lead = (
            "The models do not pair in definition order (base "
            f"`{_path(failing.base)}` meets raw `{_path(failing.raw)}`), and not all "
            "layers pair by path: "
        )
        return _names_failure(name_pairs, name_failed, match, context, lead)
    found = len(match.pairs)
    remark = ""
    if 2 * found < largest:
        remark = (
            " Matching by path did not help: "
            + (f"only {found} of {largest} units have" if found else "no unit has")
            + " the same path and class in both models."
        )
    return _order_result(order_pairs, order_failed, context, remark)


def _path(unit: Optional[Unit]) -> str:
    return "nothing" if unit is None else (unit.path or "<root>")


def _side(unit: Optional[Unit]) -> Optional[Side]:
    return None if unit is None else Side(unit.path, unit.class_name, unit.shapes)
