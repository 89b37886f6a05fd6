"""Hugging Face checkpoints whose keys are not the model's own tensor names.

transformers 5 keeps some tensors in memory in another form than in its checkpoints: MoE
experts are stacked in the model (``mlp.experts.gate_up_proj`` [E, 2I, H]) but saved per
expert, as on the Hub (``mlp.experts.0.gate_proj.weight`` [I, H], ``...up_proj...``). The
library declares, per model type, how checkpoint tensors become model tensors
(``transformers.conversion_mapping``: a ``WeightConverter`` from source patterns to a
target pattern through operations such as ``MergeModulelist(dim=0)`` and
``Concatenate(dim=1)``). That declaration is the evidence used here: for each tensor of
a transformers model that a converter targets, a row that builds it from the checkpoint's
keys, in the vocabulary of :mod:`padiff_gen.runtime.core.layouts`. A generated script reading
a checkpoint uses those rows for the keys the checkpoint does not hold under the model's
own names.

Only converters made of the two operations above are followed; others (renamings, custom
operations) are left out, and a checkpoint that needs them is refused by the script's
key check as before.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional

from ..plan.operations import Concatenate, Pipeline, Stack
from ..plan.plan import TensorRef


@dataclass(frozen=True)
class CheckpointRow:
    """A base tensor built from checkpoint tensors: the script reads ``keys`` (with
    ``shapes``) and applies ``transform`` to get ``tensor``."""

    keys: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    tensor: TensorRef
    transform: Pipeline


def _operations(converter: Any) -> Optional[tuple[int, Optional[int]]]:
    """(stack axis, concatenation axis or None) of a MergeModulelist[, Concatenate]
    converter; None for any other."""
    names = [type(op).__name__ for op in converter.operations]
    if names not in (["MergeModulelist"], ["MergeModulelist", "Concatenate"]):
        return None
    stack = converter.operations[0].dim
    concatenate = converter.operations[1].dim if len(names) == 2 else None
    return stack, concatenate


def _pattern_suffix(pattern: str) -> str:
    return pattern.lstrip(".").rstrip("$")


def checkpoint_rows(model: Any, tensors: list[TensorRef]) -> tuple[CheckpointRow, ...]:
    """Rows for the base model's tensors that its library stores otherwise in
    checkpoints; () for a model that is not a transformers model."""
    transformers = sys.modules.get("transformers")
    if transformers is None or not isinstance(model, transformers.PreTrainedModel):
        return ()
    try:
        from transformers.conversion_mapping import get_model_conversion_mapping

        converters = get_model_conversion_mapping(model)
    except Exception:  # another transformers version: no declaration to follow
        return ()
    rows = []
    for converter in converters:
        operations = (
            _operations(converter) if hasattr(converter, "operations") else None
        )
        if operations is None or len(converter.target_patterns) != 1:
            continue
        stack, concatenate = operations
        target = _pattern_suffix(converter.target_patterns[0])
        sources = [_pattern_suffix(p) for p in converter.source_patterns]
        if stack != 0 or any(p.count("*") != 1 for p in sources):
            continue
        for tensor in tensors:
            if not tensor.path.endswith(target) or len(tensor.shape) < 2:
                continue
            row = _row(tensor, target, sources, concatenate)
            if row is not None:
                rows.append(row)
    return tuple(rows)


def _row(
    tensor: TensorRef, target: str, sources: list[str], concatenate: Optional[int]
) -> Optional[CheckpointRow]:
    prefix = tensor.path[: -len(target)]
    experts, part_shape = tensor.shape[0], list(tensor.shape[1:])
    if concatenate is not None:
        axis = concatenate - 1  # of one expert's tensor
        if part_shape[axis] % len(sources):
            return None
        part_shape[axis] //= len(sources)
    elif len(sources) != 1:
        return None
    keys = tuple(
        prefix + pattern.replace("*", str(expert))
        for pattern in sources
        for expert in range(experts)
    )
    transform = Pipeline.of(Stack(0, experts if len(sources) > 1 else 0))
    if concatenate is not None:
        transform = transform.then(Concatenate(concatenate))
    return CheckpointRow(keys, (tuple(part_shape),) * len(keys), tensor, transform)
