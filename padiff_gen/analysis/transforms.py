"""Pairing the tensors of two paired units, and deciding each one's transform by evidence.

Which base tensor pairs with which raw tensor is decided here (names, then definition
order and shapes; same-shaped tensors under names that do not match are alternatives for
evidence). How each pair's base tensor becomes its raw tensor is asked of the layouts in
:mod:`padiff_gen.analysis.layouts`, one module per layout kind, strongest evidence first:
the frameworks' own classes, then the shapes, then the layer's behaviour on a probe
input, or a run of the pair of layers where several transforms fit.

What none of these decides is refused, naming the tensor and how to decide it.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Optional, Sequence

from ..errors import MappingError, Side, format_shape
from ..knowledge.layer_kinds import OUT_IN
from ..plan.choices import answer_for
from ..plan.operations import COPY, TRANSPOSE, Pipeline
from ..plan.plan import TensorCopy, TensorRef, Unit
from .layouts import TensorDecision, TensorPair, decide
from .layouts.base import LayoutProbe, known_layout
from .walk import is_constant


def _side(unit: Unit) -> Side:
    return Side(unit.path, unit.class_name, unit.shapes)


def _error(message: str, hint: str, base: Unit, raw: Unit) -> MappingError:
    return MappingError(message, hint, _side(base), _side(raw))


def _tensor_list(unit: Unit) -> str:
    return ", ".join(f"{t.name} {format_shape(t.shape)}" for t in unit.tensors)


# Alternative pairings of same-shaped tensors tried at most (see tensor_pairings).
MAX_PAIRINGS = 24


def _normal(name: str) -> str:
    """Tensor names compare without case and outer underscores (paddle's `_weight`)."""
    return name.strip("_").lower()


def tensor_pairings(
    base: Unit, raw: Unit
) -> Optional[list[list[tuple[TensorRef, TensorRef]]]]:
    """The ways the tensors of two units may pair: by name where both hold a name (up
    to case and outer underscores), the rest in definition order; None when their
    numbers differ.

    Where what is left holds several tensors of one shape under names that do not
    match (``weight``, ``bias`` against ``beta``, ``gamma``), definition order is a
    guess: then every way of pairing them is an alternative (definition order first),
    for evidence to decide."""
    if len(base.tensors) != len(raw.tensors):
        return None
    raw_by_name: dict[str, list[TensorRef]] = {}
    for tensor in raw.tensors:
        raw_by_name.setdefault(_normal(tensor.name), []).append(tensor)
    base_names = [_normal(t.name) for t in base.tensors]
    fixed, base_left = {}, []
    for tensor, name in zip(base.tensors, base_names):
        partners = raw_by_name.get(name, [])
        if len(partners) == 1 and base_names.count(name) == 1:
            fixed[tensor.path] = partners[0]
        else:
            base_left.append(tensor)
    taken = {id(t) for t in fixed.values()}
    raw_left = [t for t in raw.tensors if id(t) not in taken]
    by_order = _in_order_by_shape(base_left, raw_left)
    groups: dict[tuple, list[TensorRef]] = {}
    for tensor in base_left:
        groups.setdefault(tensor.shape, []).append(tensor)
    ambiguous = [
        group
        for group in groups.values()
        if len(group) > 1
        and all(by_order[t.path].shape == t.shape for t in group)
        and len({by_order[t.path].shape for t in group}) == 1
    ]
    alternatives = [dict(by_order)]
    for group in ambiguous:
        targets = [by_order[t.path] for t in group]
        widened = []
        for alternative in alternatives:
            for order in itertools.permutations(targets):
                changed = dict(alternative)
                changed.update((t.path, r) for t, r in zip(group, order))
                widened.append(changed)
        alternatives = widened[:MAX_PAIRINGS]
    return [
        [(t, fixed.get(t.path) or alternative[t.path]) for t in base.tensors]
        for alternative in alternatives
    ]


def _in_order_by_shape(
    base: list[TensorRef], raw: list[TensorRef]
) -> dict[str, TensorRef]:
    """{base path: raw tensor}: in definition order, or, where that would pair tensors
    of different shapes and both hold the same shapes (a model's own tensors under
    other names, defined in another order), each base tensor with the first raw tensor
    of its shape not yet taken (definition order among tensors of one shape)."""
    in_order = dict(zip((t.path for t in base), raw))
    if all(in_order[t.path].shape == t.shape for t in base):
        return in_order
    if sorted(t.shape for t in base) != sorted(t.shape for t in raw):
        return in_order  # a transposed matrix, say: decided per pair as before
    left = list(raw)
    paired = {}
    for tensor in base:
        partner = next(r for r in left if r.shape == tensor.shape)
        left.remove(partner)
        paired[tensor.path] = partner
    return paired


def paired_tensors(
    base: Unit, raw: Unit
) -> Optional[list[tuple[TensorRef, TensorRef]]]:
    """The tensors of two units paired (the first of :func:`tensor_pairings`)."""
    pairings = tensor_pairings(base, raw)
    return None if pairings is None else pairings[0]


def _layout_words(role: str, unit: Unit, layout: str) -> str:
    """ "the base Linear keeps it [out, in]" ("" without a known layout)."""
    if not layout:
        return ""
    order = "[out, in]" if layout == OUT_IN else "[in, out]"
    return f"the {role} {unit.class_name} keeps it {order}"


def pair_unit_tensors(
    base: Unit,
    raw: Unit,
    cross: bool,
    probe: LayoutProbe,
    hint: str = "",
    layouts: Sequence[tuple[str, str]] = (),
) -> tuple[list[tuple[TensorCopy, ...]], Optional[MappingError]]:
    """The rows that copy base unit's tensors into raw unit's, or the reason they cannot:
    one tuple of rows, or several alternatives when same-shaped tensors under names that
    do not match could pair either way (see :func:`tensor_pairings`).

    ``layouts`` are the user's ``--layout KEY=copy|transpose`` answers for square
    matrices that neither kind nor probe decides. Constants (integer tensors a layer
    computes: walk.is_constant) pair only with a constant of the same name and shape,
    copied as it is; the others are left to each model."""
    kept = [
        TensorCopy((b,), r)
        for b in base.tensors
        for r in raw.tensors
        if is_constant(b) and is_constant(r) and b.name == r.name and b.shape == r.shape
    ]
    base = dataclasses.replace(
        base, tensors=tuple(t for t in base.tensors if not is_constant(t))
    )
    raw = dataclasses.replace(
        raw, tensors=tuple(t for t in raw.tensors if not is_constant(t))
    )
    alternatives, error = _pair_weights(base, raw, cross, probe, hint, layouts)
    return [tuple(copies) + tuple(kept) for copies in alternatives], error


def _pair_weights(base, raw, cross, probe, hint, layouts):
    pairings = tensor_pairings(base, raw)
    if pairings is None:
        return [], _error(
            f"{_side(base).describe('base')} has {len(base.tensors)} tensors "
            f"({_tensor_list(base)}) but {_side(raw).describe('raw')} has "
            f"{len(raw.tensors)} ({_tensor_list(raw)}).",
            hint
            or "Make the layers hold the same tensors, or register an initializer for "
            "this pair (--init-module) and map it (--map BASE_PATH=RAW_PATH).",
            base,
            raw,
        )
    alternatives = []
    for pairs in pairings:
        found, error = _copies(base, raw, pairs, cross, probe, hint, layouts)
        if error is not None:
            return [], error
        alternatives += found
    return alternatives[:MAX_PAIRINGS], None


def _copies(base, raw, pairs, cross, probe, hint, layouts):
    """The rows of one pairing of the tensors: one tuple, or one per combination of
    the transforms a layout left to evidence (a square stack of matrices: copy or
    transpose), or the error of the first tensor nothing decides."""
    rows = []  # per tensor pair: the rows it may be
    for b, r in pairs:
        if r.tied_to and not b.tied_to:
            return (), _tied_error(base, raw, b, r)
        if b.tied_to and r.tied_to:
            continue  # both shared: copied where they first appear
        decision = decide(TensorPair(base, raw, b, r, cross, probe))
        if decision.problem == "square":
            answer = answer_for(layouts, (base, raw))
            if answer is not None and answer[1] in (COPY.text(), TRANSPOSE.text()):
                decision = TensorDecision(
                    Pipeline.parse(answer[1]), note=f"--layout {'='.join(answer)}"
                )
        source = b
        if b.tied_to:  # the raw tensor of its own gets the shared base tensor
            source = TensorRef(b.tied_to, b.shape, b.dtype)
        if decision.problem and decision.candidates:
            rows.append([TensorCopy((source,), r, t) for t in decision.candidates])
            continue
        if decision.problem:
            return (), _decision_error(base, raw, b, r, decision, probe, hint)
        rows.append(
            [
                TensorCopy(
                    (source,), r, decision.transform, decision.note, decision.condition
                )
            ]
        )
    combinations = itertools.islice(itertools.product(*rows), MAX_PAIRINGS)
    return [tuple(copies) for copies in combinations], None


def _tied_error(base: Unit, raw: Unit, b: TensorRef, r: TensorRef) -> MappingError:
    return _error(
        f"raw `{r.path}` is tied to raw `{r.tied_to}` (they are one tensor), but base "
        f"`{b.path}` is a tensor of its own: two base tensors cannot become one raw "
        "tensor.",
        f"Untie the raw model's `{r.path}` (e.g. tie_word_embeddings=False in its "
        "config), or tie the base model's too if the two base tensors hold the same "
        "values.",
        base,
        raw,
    )


def _decision_error(
    base: Unit,
    raw: Unit,
    b: TensorRef,
    r: TensorRef,
    decision: TensorDecision,
    probe: LayoutProbe,
    hint: str,
) -> MappingError:
    where = (
        f"base `{b.path}` {format_shape(b.shape)} ({base.class_name}) vs raw "
        f"`{r.path}` {format_shape(r.shape)} ({raw.class_name})"
    )
    if decision.problem == "square":
        unknown = [
            f"{role} `{unit.path}` ({unit.class_name})"
            for role, unit, tensor in (("base", base, b), ("raw", raw, r))
            if not known_layout(unit, tensor)
        ]
        return _error(
            f"Cannot tell whether to transpose {where}: the matrix is square, so its "
            f"shape does not say, {' and '.join(unknown)} "
            f"{'is' if len(unknown) == 1 else 'are'} of no class padiff-gen knows the "
            "layout of, and running it on a probe input did not show it computing "
            "x @ W or x @ W.T.",
            f"Say which it is: --layout {_key(base, raw)}=copy (the two hold it alike) or "
            f"--layout {_key(base, raw)}=transpose (KEY may also be a class name, for "
            "every such layer), or register an initializer for the pair (--init-module).",
            base,
            raw,
        )
    layouts = [
        words
        for words in (
            _layout_words("base", base, known_layout(base, b)),
            _layout_words("raw", raw, known_layout(raw, r)),
        )
        if words
    ]
    layout = ""
    if decision.transform == TRANSPOSE and len(layouts) == 2:
        expected = b.shape[::-1]
        layout = (
            f" Of this weight, {layouts[0]} and {layouts[1]}, so the raw one should "
            f"be {format_shape(expected)}."
        )
    if not hint and not layout and sorted(b.shape) == sorted(r.shape):
        # the same sizes in another order: no layout padiff-gen knows permutes them
        hint = (
            "The two hold the same sizes in another order, which no layout "
            "padiff-gen knows explains (it transposes the last two axes only): write "
            "an initializer that reorders them, register it (--init-module) and map "
            "the pair to it, or hold the tensor in the same order in both models."
        )
    return _error(
        f"Shape mismatch: {where}.{layout}",
        hint
        or "Make the layer sizes agree; if the layers are defined in a different "
        "order, reorder them so both models define them alike.",
        base,
        raw,
    )


def _key(base: Unit, raw: Unit) -> str:
    """What to write as ``--layout`` KEY for this pair: the layer of unknown kind."""
    unit = base if base.kind == "" else raw
    return unit.path.rpartition(".")[2] or unit.path
