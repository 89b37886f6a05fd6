"""Pairing the tensors of two paired units, and deciding each one's transform by evidence.

Evidence, strongest first:

1. The frameworks' own classes (and their subclasses): a Linear's weight is [out, in] in
   torch and [in, out] in paddle (:mod:`padiff_gen.knowledge.layer_kinds`).
2. Shapes, when only one transform fits: equal shapes are copied, reversed 2-D shapes
   transposed, shapes that differ only by axes of size 1 (torch weight_norm's
   weight_g [out, 1, 1, 1] against paddle's [out]) reshaped. A conv whose weight
   [out, in, k...] holds as many elements as a Linear's computes that Linear when it
   sees a k x k input (see CONV_AS_LINEAR).
3. The layer's behaviour on a probe input, for a square matrix of a class of no known
   kind (:func:`padiff_gen.analysis.evidence.probe.matrix_layout`).

What none of these decides is refused, naming the tensor and how to decide it.
"""

from __future__ import annotations

import dataclasses

import itertools
import math
from typing import Callable, Optional, Sequence

from ..plan.choices import answer_for

from ..errors import MappingError, Side, format_shape
from ..knowledge.layer_kinds import (
    CONV,
    IN_OUT,
    LAYER_NORM,
    LINEAR,
    OUT_IN,
    WEIGHT_ROLES,
)
from .walk import is_constant
from ..plan.operations import COPY, RESHAPE, TRANSPOSE, Pipeline, Reshape, Transpose
from ..plan.plan import TensorCopy, TensorRef, Unit

# The condition under which a conv computes the same as a Linear (the row's comment).
CONV_AS_LINEAR = (
    "exact when the conv sees inputs of its kernel's size (a 1 x 1 output) and the "
    "Linear reads them flattened in (channel, position) order"
)

# (side, unit, tensor) -> the layout of the unit's square matrix as a probe of its layer
# finds it ("" when it cannot tell); side is "base" or "raw".
LayoutProbe = Callable[[str, Unit, TensorRef], str]


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


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(size for size in shape if size != 1)


def _known_layout(unit: Unit, tensor: TensorRef) -> str:
    """The layout the unit's kind gives this 2-D tensor ("" for none)."""
    if unit.kind == LINEAR and tensor.name in WEIGHT_ROLES:
        return unit.layout
    return ""


def _is_matrix(unit: Unit, tensor: TensorRef) -> bool:
    """Could this 2-D tensor be a matrix the layer multiplies by? Known kinds say; a
    layer of no known kind might."""
    if len(tensor.shape) != 2:
        return False
    return _known_layout(unit, tensor) != "" or unit.kind == ""


class TensorDecision:
    """The transform of one tensor pair, or why none could be chosen."""

    def __init__(
        self,
        transform: Pipeline = COPY,
        note: str = "",
        problem: str = "",
        condition: str = "",
    ) -> None:
        self.transform = transform
        self.note = note
        self.problem = problem
        self.condition = condition


def _conv_linear(
    base: Unit, raw: Unit, b: TensorRef, r: TensorRef
) -> Optional[TensorDecision]:
    """A conv's weight against a Linear's (either way round), related by a reshape."""
    conv, other, conv_tensor, other_tensor = (
        (base, raw, b, r) if base.kind == CONV else (raw, base, r, b)
    )
    if conv.kind != CONV or other.kind != LINEAR or conv_tensor.name != "weight":
        return None
    if len(conv_tensor.shape) < 3 or len(other_tensor.shape) != 2 or conv.groups != 1:
        return None
    out = conv_tensor.shape[0]
    flat = (out, math.prod(conv_tensor.shape[1:]))  # [out, in * k...]: out_in
    expected = flat if other.layout == OUT_IN else flat[::-1]
    if other_tensor.shape != expected:
        return None
    # Declared conv -> Linear; the other way is its inverse.
    to_linear = Pipeline.of(Reshape(flat))
    if other.layout == IN_OUT:
        to_linear = to_linear.then(Transpose())
    transform = to_linear if conv is base else to_linear.part(0, [conv_tensor.shape])
    return TensorDecision(transform, condition=f"conv as Linear: {CONV_AS_LINEAR}")


def decide(
    base: Unit, raw: Unit, b: TensorRef, r: TensorRef, cross: bool, probe: LayoutProbe
) -> TensorDecision:
    """How base tensor ``b`` becomes raw tensor ``r`` (see the module docstring)."""
    if cross and len(b.shape) == 2 and len(r.shape) == 2:
        if _is_matrix(base, b) and _is_matrix(raw, r):
            return _matrix(base, raw, b, r, probe)
    if cross:
        conv = _conv_linear(base, raw, b, r)
        if conv is not None:
            return conv
    if b.shape == r.shape:
        return TensorDecision(COPY)
    if _squeezed(b.shape) == _squeezed(r.shape):
        return TensorDecision(RESHAPE)  # only axes of size 1 differ
    flattened_norm = base.kind == raw.kind == LAYER_NORM and (
        math.prod(b.shape) == math.prod(r.shape)
    )
    if flattened_norm:  # paddle flattens a LayerNorm over several dims: [5, 8] ~ [40]
        return TensorDecision(RESHAPE)
    return TensorDecision(problem="shape")


def _matrix(
    base: Unit, raw: Unit, b: TensorRef, r: TensorRef, probe: LayoutProbe
) -> TensorDecision:
    """Two 2-D matrices of layers that may multiply by them."""
    square = b.shape[0] == b.shape[1]
    base_layout = _known_layout(base, b)
    raw_layout = _known_layout(raw, r)
    if not square or b.shape != r.shape:
        if not (base_layout and raw_layout):
            # Shapes decide when only one transform fits.
            if b.shape == r.shape:
                return TensorDecision(COPY)
            if b.shape == r.shape[::-1]:
                return TensorDecision(TRANSPOSE)
            return TensorDecision(problem="shape")
    if not base_layout:
        base_layout = probe("base", base, b)
    if not raw_layout:
        raw_layout = probe("raw", raw, r)
    if not (base_layout and raw_layout):
        return TensorDecision(problem="square")
    transform = COPY if base_layout == raw_layout else TRANSPOSE
    expected = b.shape if transform == COPY else b.shape[::-1]
    if expected != r.shape:
        return TensorDecision(transform, problem="shape")
    return TensorDecision(transform)


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
        copies, error = _copies(base, raw, pairs, cross, probe, hint, layouts)
        if error is not None:
            return [], error
        alternatives.append(copies)
    return alternatives, None


def _copies(base, raw, pairs, cross, probe, hint, layouts):
    copies = []
    for b, r in pairs:
        if r.tied_to and not b.tied_to:
            return (), _tied_error(base, raw, b, r)
        if b.tied_to and r.tied_to:
            continue  # both shared: copied where they first appear
        decision = decide(base, raw, b, r, cross, probe)
        if decision.problem == "square":
            answer = answer_for(layouts, (base, raw))
            if answer is not None and answer[1] in (COPY.text(), TRANSPOSE.text()):
                decision = TensorDecision(
                    Pipeline.parse(answer[1]), note=f"--layout {'='.join(answer)}"
                )
        if decision.problem:
            return (), _decision_error(base, raw, b, r, decision, probe, hint)
        source = b
        if b.tied_to:  # the raw tensor of its own gets the shared base tensor
            source = TensorRef(b.tied_to, b.shape, b.dtype)
        copies.append(
            TensorCopy(
                (source,), r, decision.transform, decision.note, decision.condition
            )
        )
    return tuple(copies), None


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
            if not _known_layout(unit, tensor)
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
            _layout_words("base", base, _known_layout(base, b)),
            _layout_words("raw", raw, _known_layout(raw, r)),
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
