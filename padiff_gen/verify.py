"""Verify: copy the weights, run both models on the same random inputs, compare outputs.

The base model's weights are randomized first (seeded) at the scale of a trained model's,
so that a tensor the copy forgets shows in the outputs instead of hiding behind a default
such as BatchNorm's weight = 1, and a small setting difference (eps) shows too; or they
come from ``base_checkpoint``.

Then every paired sub-layer is checked in isolation: both run again on the input the base
sub-layer received (captured by forward hooks, converted across frameworks, in float64;
:mod:`padiff_gen.analysis.evidence.isolate`), so a difference upstream cannot smear onto later layers. The
first pair that differs there (in the order the base model calls them) is the culprit,
with the settings the table finds different on it. When every pair agrees in isolation
but the outputs do not, the layers without weights between the last pair whose outputs
agree and the first whose outputs differ are named, with their settings
(:mod:`padiff_gen.analysis.compare_settings`).

Outputs are compared relative to their scale: equal when
``max |raw - base| <= atol + rtol * max |base|``, the same rule the tests use. In
isolation, in float64, a pair must agree ISOLATION_MARGIN times tighter.
"""

from __future__ import annotations

import importlib
import importlib.util
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .analysis.evidence import isolate
from .api import MapLike, ModelLike, as_proxy, assign_weight
from .analysis.compare_settings import Anchor, Comparison, LayerMatch, compare_models
from .errors import MappingError, UsageError, format_shape
from .knowledge.frameworks import adapter, class_name, framework_of_layer
from .load.inputs import InputSpec, make_inputs
from .runtime.core.layouts import SIMPLE_TRANSFORMS
from .analysis.evidence.weights import flatten_outputs, randomize_weights
from .load.load import ModelSpec
from .plan.plan import Pairing, Plan
from .runtime.core.common import WeightMismatchError
from .analysis.walk import collect_units, layers_by_path

# In isolation both sub-layers see the same input and compute in float64, where the two
# frameworks agree to ~1e-15 (1e-7 where a layer computes in float32 inside, like the
# RMSNorm of transformers): a pair must agree this many times tighter than the outputs.
# An eps of 1e-6 against 1e-5 moves a norm's output by 4.5e-6 of its scale.
ISOLATION_MARGIN = 10


@dataclass(frozen=True)
class Difference:
    """How far two outputs are apart, and whether that is within the tolerance."""

    max_abs: float
    scale: float  # max |base output|
    within: bool

    @property
    def max_rel(self) -> float:
        return self.max_abs / self.scale if self.scale > 0 else float(self.max_abs > 0)


@dataclass(frozen=True)
class OutputReport:
    index: int
    base_shape: tuple[int, ...]
    raw_shape: tuple[int, ...]
    difference: Optional[Difference]  # None when the shapes differ

    @property
    def equal(self) -> bool:
        return self.difference is not None and self.difference.within


@dataclass(frozen=True)
class LayerReport:
    """A pair of sub-layers that computes differently on the same input."""

    base_path: str
    raw_path: str
    base_class: str
    raw_class: str
    difference: Optional[Difference]  # None when the output shapes differ
    base_shape: tuple[int, ...] = ()
    raw_shape: tuple[int, ...] = ()
    settings: tuple[str, ...] = ()  # what the settings table finds different on them
    float64: bool = True
    # The layouts of the fused or stacked tensors inside the pair (its q/k/v's).
    layouts: tuple[str, ...] = ()

    def describe(self) -> str:
        where = (
            f"base `{self.base_path or '<root>'}` ({self.base_class}) / raw "
            f"`{self.raw_path or '<root>'}` ({self.raw_class})"
        )
        if self.difference is None:
            return (
                f"{where}: output shapes {format_shape(self.base_shape)} (base) vs "
                f"{format_shape(self.raw_shape)} (raw)"
            )
        return (
            f"{where}: max abs diff {self.difference.max_abs:.3g}, max rel diff "
            f"{self.difference.max_rel:.3g}"
        )


@dataclass(frozen=True)
class Divergence:
    """Where the outputs of paired sub-layers first differ, and what lies before it.

    ``after``/``at``: (base path, raw path, class) of the last pair whose outputs agree
    and of the first whose outputs differ, in the order the base model runs them (None:
    the start, or the end of the models). ``layers``: the layers without weights between
    them, paired by the settings comparison.
    """

    after: Optional[tuple[str, str, str]]
    at: Optional[tuple[str, str, str]]
    layers: tuple[LayerMatch, ...] = ()


@dataclass
class VerifyResult:
    outputs: list[OutputReport]
    atol: float
    rtol: float
    first_layer: Optional[LayerReport] = None  # the first pair differing in isolation
    inputs: Sequence[InputSpec] = field(default_factory=tuple)
    note: str = ""
    divergence: Optional[Divergence] = None  # when no earlier pair explains the outputs
    not_replayed: tuple[str, ...] = ()  # pairs that could not run in isolation, and why

    @property
    def outputs_equal(self) -> bool:
        return bool(self.outputs) and all(output.equal for output in self.outputs)

    @property
    def equal(self) -> bool:
        """The outputs agree and so does every pair of sub-layers in isolation."""
        return self.outputs_equal and self.first_layer is None

    def report(self) -> str:
        lines = [self.note] if self.note else []
        for output in self.outputs:
            head = f"output {output.index}: shape {format_shape(output.base_shape)}"
            if output.difference is None:
                lines.append(
                    f"{head} (base) vs {format_shape(output.raw_shape)} (raw): DIFFERENT"
                )
                continue
            diff = output.difference
            verdict = "ok" if diff.within else "DIFFERENT"
            lines.append(
                f"{head}: max abs diff {diff.max_abs:.3g}, max rel diff "
                f"{diff.max_rel:.3g}: {verdict}"
            )
        tolerance = f"atol {self.atol:g}, rtol {self.rtol:g}"
        verdict = "match" if self.outputs_equal else "differ"
        lines.append(
            f"the outputs {verdict} ({tolerance}, relative to each output's scale)"
        )
        if self.equal:
            return "\n".join(lines)
        return "\n".join(lines + [_wrap(line) for line in self._explanation()])

    def _explanation(self) -> list[str]:
        """Which pair of sub-layers, or which layers between them, make the difference."""
        lines: list[str] = []
        if self.first_layer is not None:
            lines += self._layer_lines()
        if self.divergence is not None:
            lines += self._divergence_lines()
        elif self.first_layer is None:
            lines.append(
                "No paired sub-layer's output differs: the difference arises outside the "
                "layers with weights (functional code in forward, a non-persistent buffer)."
            )
        if self.not_replayed:
            lines.append(
                f"{len(self.not_replayed)} paired sub-layer(s) could not run in isolation: "
                + "; ".join(self.not_replayed[:3])
                + (" and more" if len(self.not_replayed) > 3 else "")
            )
        return lines

    def _layer_lines(self) -> list[str]:
        layer = self.first_layer
        how = "in float64" if layer.float64 else "in the models' own precision"
        lead = "but a" if self.outputs_equal else "first"
        lines = [
            f"{lead} paired sub-layer that computes differently on the same input (its "
            f"base input, replayed {how}; in the order the base model runs them): "
            + layer.describe()
        ]
        lines += [f"  setting that differs: {text}" for text in layer.settings]
        lines += [
            f"  its fused or stacked tensors are copied as: {text}; if that layout is "
            "wrong, give the right one with --layout (emit without it lists them)"
            for text in layer.layouts
        ]
        return lines

    def _divergence_lines(self) -> list[str]:
        divergence = self.divergence

        def pair(where: tuple[str, str, str]) -> str:
            return (
                f"base `{where[0] or '<root>'}` / raw `{where[1] or '<root>'}` "
                f"({where[2]})"
            )

        lead = (
            "Before it, the outputs"
            if self.first_layer is not None
            else "Every paired sub-layer computes alike on the same input, but the outputs"
        )
        if divergence.at is not None and divergence.after is not None:
            where = (
                f"first differ at {pair(divergence.at)}, after {pair(divergence.after)}"
            )
            span = "between them"
        elif divergence.at is not None:
            where = (
                f"differ already at {pair(divergence.at)}, the first paired sub-layer"
            )
            span = "before it"
        elif divergence.after is not None:
            where = f"of every paired sub-layer agree, up to {pair(divergence.after)}"
            span = "after it"
        else:
            where, span = "differ", "in the models"
        flagged = [match for match in divergence.layers if match.notes]
        if flagged and divergence.at is not None:
            # Name the first layer known to differ, and say the rest follows from it.
            first = flagged[0]
            layer = first.base or first.raw
            lines = [
                f"The outputs first differ at `{layer.name}`, a layer without weights "
                f"that differs ({_match_line(first)[2:]}); {pair(divergence.at)} and "
                "every layer after it differ because of it, not on their own (each "
                "computes alike on the same input). The layers without weights "
                f"{span}:"
            ]
        else:
            lines = [f"{lead} {where}. The layers without weights {span}:"]
        inside = self.first_layer is not None and divergence.at is not None
        inside = inside and _under(divergence.at[0], self.first_layer.base_path)
        if not divergence.layers and inside:
            lines[-1] = f"{lead} {where}, inside the pair above."
            return lines
        if not divergence.layers:
            lines.append(
                "  none that padiff-gen knows: the difference arises in the models' "
                "forward code (a functional call, a non-persistent buffer)."
            )
        for match in divergence.layers:
            lines.append(_match_line(match))
        return lines


def _under(path: str, block: str) -> bool:
    return block == "" or path == block or path.startswith(block + ".")


def _match_line(match: LayerMatch) -> str:
    """One layer without weights (or a pair), with its settings; `!` if they differ."""

    def side(role: str, layer) -> str:
        settings = layer.settings
        what = f"{layer.framework} {layer.label}" + (
            f": {settings}" if settings else ""
        )
        return f"{role} `{layer.name}` ({what})"

    sides = [side(r, l) for r, l in (("base", match.base), ("raw", match.raw)) if l]
    line = ("! " if match.notes else "  ") + " / ".join(sides)
    for note in match.notes:
        if note.setting == "presence":
            other = "raw" if match.base else "base"
            line += (
                f": nothing in the {other} model pairs with it (unless its forward code "
                f"computes it); {note.fix}"
            )
        elif note.setting == "kind":
            line += f": different layers; {note.fix}"
        else:
            line += f": they differ in {note.setting}; {note.fix}"
    return line


def _wrap(line: str) -> str:
    indent = "    " if line.startswith(("  ", "! ")) else "  "
    return textwrap.fill(
        line,
        width=100,
        subsequent_indent=indent,
        break_on_hyphens=False,
        break_long_words=False,
    )


# ---------------------------------------------------------------- framework helpers


def _framework(model: Any) -> str:
    return framework_of_layer(model) or "paddle"


class _Recorder:
    """Forward hooks that keep the first output of each hooked layer, in call order."""

    def __init__(self, model: Any, paths: Iterable[str]) -> None:
        self.outputs: dict[str, list[np.ndarray]] = {}
        self.order: list[str] = []
        self._handles = []
        layers = layers_by_path(model)
        framework = adapter(_framework(model))
        for path in paths:
            layer = layers.get(path)
            if layer is None:
                continue
            self._handles.append(framework.post_hook(layer, self._hook(path)))

    def _hook(self, path: str):
        def record(layer, inputs, output):
            if path not in self.outputs:  # a shared layer: its first call counts
                self.outputs[path] = flatten_outputs(output)
                self.order.append(path)

        return record

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


def run_model(model: Any, arrays: Sequence[np.ndarray], role: str, inputs_text: str):
    """The model's outputs in eval mode, without gradients."""
    framework = adapter(_framework(model))
    model.eval()
    tensors = [framework.tensor(a) for a in arrays]
    try:
        return framework.run(model, *tensors)
    except Exception as error:
        message = str(error).strip().splitlines()
        raise UsageError(
            f"Running the {role} model ({class_name(model)}) on --input {inputs_text} raised "
            f"{type(error).__name__}: {message[0] if message else ''}.",
            "Give one --input per forward argument, with the shapes and dtypes the model "
            "expects (token ids: e.g. --input 1,16:int64:VOCAB_SIZE).",
        ) from error


def _max_abs_difference(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b|, where equal values (infinities, NaN facing NaN) count as no difference."""
    if not a.size:
        return 0.0
    with np.errstate(invalid="ignore"):
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        difference = np.where(same, 0.0, np.abs(a - b))
    worst = float(np.max(difference))
    return worst if np.isfinite(worst) else float("inf")


def compare(
    base: Sequence[np.ndarray], raw: Sequence[np.ndarray], atol: float, rtol: float
) -> Optional[Difference]:
    """The difference of two equally shaped lists of arrays; None when shapes differ."""
    if len(base) != len(raw) or any(a.shape != b.shape for a, b in zip(base, raw)):
        return None
    worst = max((_max_abs_difference(a, b) for a, b in zip(base, raw)), default=0.0)
    scale = max((float(np.nanmax(np.abs(a))) for a in base if a.size), default=0.0)
    within = bool(np.isfinite(worst)) and worst <= atol + rtol * scale
    return Difference(worst, scale, within)


def _pair_difference(
    base_out: Sequence[np.ndarray], raw_out: Sequence[np.ndarray], atol, rtol
) -> tuple[Optional[Difference], tuple, tuple]:
    """(difference or None, base shape, raw shape) of the leading outputs both have
    (layers may return extras on one side only, such as attention weights)."""
    count = min(len(base_out), len(raw_out))
    for a, b in zip(base_out[:count], raw_out[:count]):
        if a.shape != b.shape:
            return None, a.shape, b.shape
    difference = compare(base_out[:count], raw_out[:count], atol, rtol)
    return difference, (), ()


def _first_isolated(
    base_model: Any,
    raw_model: Any,
    capture: isolate.Capture,
    partner: Mapping[str, str],
    comparison: Comparison,
    atol: float,
    rtol: float,
    layouts: Mapping[str, tuple[str, ...]] = {},
) -> tuple[Optional[tuple[int, LayerReport]], list[str]]:
    """The first pair, in the base model's call order, whose sub-layers differ when run
    on the same input (with its position in that order); and the pairs that could not
    be run so."""
    base_layers, raw_layers = layers_by_path(base_model), layers_by_path(raw_model)
    not_replayed = []
    for position, base_path in enumerate(capture.order):
        raw_path = partner.get(base_path)
        if raw_path not in raw_layers:
            continue
        base_layer, raw_layer = base_layers[base_path], raw_layers[raw_path]
        replayed = isolate.replay(base_layer, raw_layer, capture.calls[base_path])
        if replayed.problem:
            not_replayed.append(f"base `{base_path or '<root>'}` ({replayed.problem})")
            continue
        margin = ISOLATION_MARGIN if replayed.float64 else 1
        difference, base_shape, raw_shape = _pair_difference(
            flatten_outputs(replayed.base),
            flatten_outputs(replayed.raw),
            atol / margin,
            rtol / margin,
        )
        if difference is not None and difference.within:
            continue
        notes = comparison.unit_notes.get((base_path, raw_path), ())
        report = LayerReport(
            base_path,
            raw_path,
            class_name(base_layer),
            class_name(raw_layer),
            difference,
            base_shape,
            raw_shape,
            tuple(note.text for note in notes),
            replayed.float64,
            tuple(layouts.get(base_path, ())),
        )
        return (position, report), not_replayed
    return None, not_replayed


def _first_divergence(
    base: _Recorder,
    raw: _Recorder,
    partner: Mapping[str, str],
    atol: float,
    rtol: float,
) -> tuple[Optional[str], Optional[str], int]:
    """(last base path whose pair's outputs agree, first whose differ, the latter's
    position in the base model's call order) as the models actually ran."""
    last = None
    for position, base_path in enumerate(base.order):
        raw_path = partner.get(base_path)
        if raw_path is None or raw_path not in raw.outputs:
            continue
        difference, _, _ = _pair_difference(
            base.outputs[base_path], raw.outputs[raw_path], atol, rtol
        )
        if difference is None or not difference.within:
            return last, base_path, position
        last = base_path
    return last, None, len(base.order)


# ---------------------------------------------------------------- applying a script


def load_script(path: Union[str, Path]) -> Any:
    """Import a generated script as a module (it runs nothing on import)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"--script {path} does not exist.",
            "Name a script made by `padiff-gen emit`.",
        )
    spec = importlib.util.spec_from_file_location(
        f"padiff_gen_verify_{path.stem}", path
    )
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        raise UsageError(
            f"--script {path} failed to import: {type(error).__name__}: {error}.",
            "Regenerate it with `padiff-gen emit` (--debug shows the traceback).",
        ) from error
    if not callable(getattr(module, "init_weights", None)):
        raise UsageError(
            f"--script {path} has no init_weights function.",
            "Name a script made by `padiff-gen emit`.",
        )
    return module


def _script_spec(script: Any, name: str) -> Optional[ModelSpec]:
    recorded = getattr(script, name, None)
    if not recorded:
        return None
    return ModelSpec(recorded["framework"], recorded["target"], recorded["kwargs"])


def _script_pairs(script: Any) -> list[tuple[str, str]]:
    """(base layer, raw layer) pairs that the script's tables copy, in table order."""
    pairs = [(base, raw) for base, raw, _ in getattr(script, "SPECIAL_INITS", ())]
    for base_tensor, raw_tensor, transform, *_ in getattr(script, "TENSOR_TABLE", ()):
        if isinstance(base_tensor, tuple) or transform not in SIMPLE_TRANSFORMS:
            continue  # a fused, split or stacked tensor: its layers do not pair alone
        pair = (base_tensor.rpartition(".")[0], raw_tensor.rpartition(".")[0])
        if pair not in pairs:
            pairs.append(pair)
    return pairs


def _holding_blocks(plan: Plan) -> list[tuple[tuple[str, str], tuple[str, ...]]]:
    """((base layer, raw layer), the layouts it holds) for the layers holding each
    fused or stacked pair (the attention around separate q/k/v against a fused
    qkv_proj): such a pair is no pair of layers, so they are replayed in its stead."""
    from .analysis.evidence.block_probe import block_chain

    paired = [p for p in plan.pairs if p.base is not None and p.raw is not None]
    pairing = Pairing(
        plan.base,
        plan.raw,
        tuple(p.base for p in paired),
        tuple(p.raw for p in paired),
        tuple(paired),
    )
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    for pair in paired:
        if pair.base.members or pair.raw.members:
            chain = block_chain(pair, pairing)
            if chain:
                found[chain[0]] = found.get(chain[0], ()) + (pair.layout,)
    return list(found.items())


def _apply_script(script: Any, path: Union[str, Path], base: Any, raw: Any) -> None:
    try:
        script.init_weights(base, raw)
    except Exception as error:
        if type(error).__name__ == "WeightMismatchError":
            raise MappingError(
                f"--script {path}: {error}",
                "Pass the models the script was made for (--base/--raw), or regenerate it.",
            ) from error
        raise


# ---------------------------------------------------------------- verify


def verify(
    base: Optional[ModelLike],
    raw: Optional[ModelLike],
    inputs: Sequence[Union[str, InputSpec]],
    *,
    atol: float = 1e-5,
    rtol: float = 1e-5,
    script: Optional[Union[str, Path]] = None,
    seed: int = 0,
    randomize: bool = True,
    base_checkpoint: Optional[Union[str, Path]] = None,
    base_kwargs: Optional[Mapping[str, Any]] = None,
    raw_kwargs: Optional[Mapping[str, Any]] = None,
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = "auto",
    layouts: Iterable[MapLike] = (),
    init_modules: Sequence[str] = (),
) -> VerifyResult:
    """Copy base into raw (the plan, or ``script``), run both, compare their outputs and
    every paired sub-layer in isolation.

    ``base``/``raw`` are spec strings, specs or models; with ``script`` they default to the
    specs the script records. The base weights are random (``seed``) unless ``randomize``
    is false or ``base_checkpoint`` names a checkpoint to load (the formats the generated
    scripts read). Models passed in are changed: raw receives base's weights.
    """
    specs = [s if isinstance(s, InputSpec) else InputSpec.parse(s) for s in inputs]
    maps = list(maps)
    layouts = list(layouts)
    _check_options(
        specs, atol, rtol, script, maps, layer_map, match, init_modules, layouts
    )
    loaded = load_script(script) if script is not None else None
    if loaded is not None:  # the script records the specs it was made for
        base = base if base is not None else _script_spec(loaded, "BASE_SPEC")
        raw = raw if raw is not None else _script_spec(loaded, "RAW_SPEC")
    if base is None or raw is None:
        raise UsageError(
            "verify needs both models: --base and --raw"
            + (f" (the script {script} records none)" if script is not None else "")
            + ".",
            "Pass --base FW:PATH and --raw FW:PATH, or --target NAME.",
        )
    base_proxy = as_proxy(base, "base", base_kwargs, lazy=False)
    raw_proxy = as_proxy(raw, "raw", raw_kwargs, lazy=False)
    base_model, raw_model = base_proxy.model, raw_proxy.model
    if base_checkpoint is not None:
        load_checkpoint(base_model, base_checkpoint)
    elif randomize:
        randomize_weights(base_model, seed)
    if loaded is not None:
        _apply_script(loaded, script, base_model, raw_model)
        pairs = _script_pairs(loaded)
        layouts = {}
        special = [(b, r) for b, r, _ in getattr(loaded, "SPECIAL_INITS", ())]
    else:
        try:
            plan = assign_weight(
                base_proxy,
                raw_proxy,
                layer_map=layer_map,
                maps=maps,
                match=match,
                layouts=layouts,
                inputs=[spec.describe() for spec in specs],
                init_modules=init_modules,
                refute_given=False,  # the replay below names the layer
            )
        except WeightMismatchError as error:  # the base weights break an invariant
            raise MappingError(
                f"The copy refused the base weights: {str(error).rstrip('.')}.",
                "The raw model cannot compute alike with these values: fix the value "
                "named (in the checkpoint, with --base-ckpt).",
            ) from error
        # a fused or stacked pair is no pair of layers: the layers holding it are
        # compared instead (_holding_blocks)
        pairs = [
            (p.base.path, p.raw.path)
            for p in plan.pairs
            if p.base and p.raw and not (p.base.members or p.raw.members)
        ]
        blocks = _holding_blocks(plan)
        pairs += [block for block, _ in blocks]
        layouts = {block[0]: texts for block, texts in blocks}
        special = [(p.base.path, p.raw.path) for p in plan.special_pairs]
    comparison = settings_comparison(base_model, raw_model, pairs, special)
    return _compare_models(
        base_model, raw_model, pairs, specs, atol, rtol, seed, comparison, layouts
    )


def load_checkpoint(model: Any, path: Union[str, Path]) -> None:
    """Fill the base model from a checkpoint, read as generated scripts read it."""
    from .runtime.core.common import CheckpointError

    framework = _framework(model)
    io = importlib.import_module(f"padiff_gen.runtime.conversion.io_{framework}")
    try:
        with io.open_checkpoint(str(path), model) as checkpoint:
            io.load_layer(model, "", checkpoint.tensor)
    except CheckpointError as error:
        raise UsageError(
            f"--base-ckpt: {error}.",
            f"Pass a checkpoint of the base model ({framework}).",
        ) from error


def settings_comparison(
    base_model: Any,
    raw_model: Any,
    pairs: Sequence[tuple[str, str]],
    special: Sequence[tuple[str, str]],
) -> Comparison:
    """The settings table applied to the paired sub-layers and the layers between."""
    frameworks = (_framework(base_model), _framework(raw_model))
    opaque = ({b for b, _ in special}, {r for _, r in special})
    units = tuple(
        {u.path for u in collect_units(model, frozenset(paths))}
        for model, paths in ((base_model, opaque[0]), (raw_model, opaque[1]))
    )
    anchors = [Anchor(b, r, (b, r) not in special) for b, r in pairs]
    return compare_models(base_model, raw_model, frameworks, anchors, units, opaque)


def _check_options(
    specs: Sequence[InputSpec],
    atol: float,
    rtol: float,
    script: Optional[Union[str, Path]],
    maps: Sequence[MapLike],
    layer_map: str,
    match: str,
    init_modules: Sequence[str],
    layouts: Sequence[MapLike] = (),
) -> None:
    if not specs:
        raise UsageError(
            "verify needs the model inputs.", "Give one --input per forward argument."
        )
    if atol < 0 or rtol < 0:
        raise UsageError(
            f"--atol {atol:g} and --rtol {rtol:g} must not be negative.",
            "Use e.g. --atol 1e-5 --rtol 1e-5.",
        )
    if script is not None and (
        maps or layer_map != "auto" or match != "auto" or init_modules or layouts
    ):
        raise UsageError(
            f"--map, --layer-map, --match, --init-module and --layout have no effect with "
            f"--script {script}: the script's tables decide what is copied.",
            "Drop them, or drop --script to verify the plan they make.",
        )


def _compare_models(
    base_model: Any,
    raw_model: Any,
    pairs: Sequence[tuple[str, str]],
    specs: Sequence[InputSpec],
    atol: float,
    rtol: float,
    seed: int,
    comparison: Comparison,
    layouts: Mapping[str, tuple[str, ...]] = {},
) -> VerifyResult:
    """Run both models with hooks on the paired layers; compare outputs, then each pair
    in isolation, then, if needed, where the outputs first part. ``layouts``: base
    layer -> the layouts of the fused or stacked tensors it holds."""
    base_layers, raw_layers = layers_by_path(base_model), layers_by_path(raw_model)
    pairs = [(b, r) for b, r in pairs if b in base_layers and r in raw_layers]
    partner: dict[str, str] = {}
    for base_path, raw_path in pairs:  # an edited table may pair a layer twice
        partner.setdefault(base_path, raw_path)
    arrays = make_inputs(specs, seed)
    inputs_text = " ".join(spec.describe() for spec in specs)
    recorders = (_Recorder(base_model, partner), _Recorder(raw_model, partner.values()))
    capture = isolate.Capture(base_model, partner)
    try:
        base_out = flatten_outputs(run_model(base_model, arrays, "base", inputs_text))
        raw_out = flatten_outputs(run_model(raw_model, arrays, "raw", inputs_text))
    finally:
        for hooks in (*recorders, capture):
            hooks.remove()
    reports = [
        OutputReport(
            index,
            a.shape,
            b.shape,
            compare([a], [b], atol, rtol) if a.shape == b.shape else None,
        )
        for index, (a, b) in enumerate(zip(base_out, raw_out))
    ]
    if not reports:
        raise UsageError(
            f"The base model returns {len(base_out)} tensors and the raw model "
            f"{len(raw_out)}: there is nothing to compare.",
            "verify compares the tensors that forward returns; make both return some.",
        )
    result = VerifyResult(reports, atol, rtol, inputs=tuple(specs))
    if len(base_out) != len(raw_out):
        # e.g. torch's MultiheadAttention also returns attention weights, paddle's not.
        result.note = (
            f"note: the base model returns {len(base_out)} tensors and the raw model "
            f"{len(raw_out)}; only the first {len(reports)} are compared."
        )
    isolated, not_replayed = _first_isolated(
        base_model, raw_model, capture, partner, comparison, atol, rtol, layouts
    )
    result.not_replayed = tuple(not_replayed)
    if isolated is not None:
        result.first_layer = isolated[1]
    if result.outputs_equal:
        return result
    after, at, position = _first_divergence(*recorders, partner, atol, rtol)
    if isolated is not None and isolated[1].base_path == at:
        return result  # the culprit explains where the outputs part
    if isolated is None or position < isolated[0]:
        result.divergence = _divergence(
            after, at, partner, base_layers, comparison, bool(recorders[0].order)
        )
    return result


def _divergence(
    after: Optional[str],
    at: Optional[str],
    partner: Mapping[str, str],
    base_layers: Mapping[str, Any],
    comparison: Comparison,
    hooked: bool,
) -> Optional[Divergence]:
    if not hooked:
        return None

    def pair(path: Optional[str]) -> Optional[tuple[str, str, str]]:
        if path is None:
            return None
        return path, partner[path], class_name(base_layers[path])

    low = (after, partner[after]) if after is not None else None
    high = (at, partner[at]) if at is not None else None
    layers = tuple(comparison.between(low, high))
    return Divergence(pair(after), pair(at), layers)
