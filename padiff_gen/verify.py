"""Verify: copy the weights, run both models on the same random inputs, compare outputs.

The base model's weights are randomized first (seeded), so that a tensor the copy forgets
shows in the outputs instead of hiding behind a default such as BatchNorm's weight = 1.
When the outputs differ, forward hooks on every paired sub-layer find the first pair (in
the order the base model calls them) whose outputs differ: the likely culprit.

Outputs are compared relative to their scale: equal when
``max |raw - base| <= atol + rtol * max |base|``, the same rule the tests use.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np

from .api import MapLike, ModelLike, as_proxy, assign_weight
from .errors import MappingError, UsageError, format_shape
from .frameworks import class_name
from .inputs import INT_DTYPES, InputSpec, make_inputs  # noqa: F401 (re-exported)
from .load import ModelSpec
from .walk import layers_by_path


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
    base_path: str
    raw_path: str
    base_class: str
    raw_class: str
    difference: Difference


@dataclass
class VerifyResult:
    outputs: list[OutputReport]
    atol: float
    rtol: float
    first_layer: Optional[LayerReport] = None
    inputs: Sequence[InputSpec] = field(default_factory=tuple)
    note: str = ""

    @property
    def equal(self) -> bool:
        return bool(self.outputs) and all(output.equal for output in self.outputs)

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
        if self.equal:
            lines.append(
                f"the outputs match ({tolerance}, relative to each output's scale)"
            )
            return "\n".join(lines)
        lines.append(
            f"the outputs differ ({tolerance}, relative to each output's scale)"
        )
        layer = self.first_layer
        if layer is None:
            lines.append(
                "No paired sub-layer's output differs: the difference arises outside the "
                "layers with weights (functional code in forward, a non-persistent buffer, "
                "a layer that behaves differently in the two frameworks such as Dropout)."
            )
        else:
            lines.append(
                f"first paired sub-layer whose outputs differ (in the order the base model "
                f"runs them): base `{layer.base_path or '<root>'}` ({layer.base_class}) / raw "
                f"`{layer.raw_path or '<root>'}` ({layer.raw_class}): max abs diff "
                f"{layer.difference.max_abs:.3g}, max rel diff {layer.difference.max_rel:.3g}"
            )
        return "\n".join(lines)


# ---------------------------------------------------------------- framework helpers


def _framework(model: Any) -> str:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    return "paddle"


def _to_numpy(value: Any) -> Optional[np.ndarray]:
    """A tensor (either framework) as a float64 array; None for anything else."""
    torch, paddle = sys.modules.get("torch"), sys.modules.get("paddle")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.is_floating_point():
            value = value.float()  # numpy has no bfloat16
        return np.asarray(value.numpy(), dtype=np.float64)
    if paddle is not None and isinstance(value, paddle.Tensor):
        if value.is_floating_point():
            value = value.astype("float32")
        return np.asarray(value.numpy(), dtype=np.float64)
    return None


def flatten_outputs(outputs: Any) -> list[np.ndarray]:
    """Every tensor in (nested tuples, lists, dicts of) outputs, in order, as arrays."""
    if isinstance(outputs, Mapping):
        return [a for key in outputs for a in flatten_outputs(outputs[key])]
    if isinstance(outputs, (tuple, list)):
        return [a for item in outputs for a in flatten_outputs(item)]
    array = _to_numpy(outputs)
    return [] if array is None else [array]


def randomize_weights(model: Any, seed: int) -> None:
    """Give every float parameter and persistent buffer random values (variances > 0)."""
    rng = np.random.default_rng(seed)
    framework = _framework(model)
    for name, tensor in model.state_dict(keep_vars=True).items():
        if "float" not in str(tensor.dtype):
            continue
        values = rng.standard_normal(tuple(int(d) for d in tensor.shape)) * 0.5
        if name.endswith(("running_var", "_variance")):
            values = np.abs(values) + 0.5  # a negative variance makes NaNs
        if framework == "torch":
            import torch

            with torch.no_grad():
                tensor.copy_(torch.from_numpy(values))
        else:
            import paddle

            # via float32: numpy has no bfloat16
            tensor.set_value(
                paddle.to_tensor(values.astype("float32")).astype(tensor.dtype)
            )


def _as_framework_input(array: np.ndarray, framework: str) -> Any:
    if framework == "torch":
        import torch

        return torch.from_numpy(array.copy())
    import paddle

    return paddle.to_tensor(array)


class _Recorder:
    """Forward hooks that keep the first output of each hooked layer, in call order."""

    def __init__(self, model: Any, paths: Iterable[str]) -> None:
        self.outputs: dict[str, list[np.ndarray]] = {}
        self.order: list[str] = []
        self._handles = []
        layers = layers_by_path(model)
        framework = _framework(model)
        for path in paths:
            layer = layers.get(path)
            if layer is None:
                continue
            hook = self._hook(path)
            if framework == "torch":
                self._handles.append(layer.register_forward_hook(hook))
            else:
                self._handles.append(layer.register_forward_post_hook(hook))

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
    framework = _framework(model)
    model.eval()
    tensors = [_as_framework_input(a, framework) for a in arrays]
    try:
        if framework == "torch":
            import torch

            with torch.no_grad():
                return model(*tensors)
        import paddle

        with paddle.no_grad():
            return model(*tensors)
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


def _first_differing_layer(
    base: _Recorder,
    raw: _Recorder,
    pairs: Sequence[tuple[str, str]],
    classes: Mapping[tuple[str, str], tuple[str, str]],
    atol: float,
    rtol: float,
) -> Optional[LayerReport]:
    partner: dict[str, str] = {}
    for (
        base_path,
        raw_path,
    ) in pairs:  # an edited table may pair a layer twice: first wins
        partner.setdefault(base_path, raw_path)
    for base_path in base.order:
        raw_path = partner.get(base_path)
        if raw_path is None or raw_path not in raw.outputs:
            continue
        base_out, raw_out = base.outputs[base_path], raw.outputs[raw_path]
        # Layers may return extras on one side only (attention weights): compare the
        # leading outputs that both sides have.
        count = min(len(base_out), len(raw_out))
        difference = compare(base_out[:count], raw_out[:count], atol, rtol)
        if count and difference is not None and not difference.within:
            base_class, raw_class = classes[(base_path, raw_path)]
            return LayerReport(base_path, raw_path, base_class, raw_class, difference)
    return None


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
    for base_tensor, raw_tensor, *_ in getattr(script, "TENSOR_TABLE", ()):
        pair = (base_tensor.rpartition(".")[0], raw_tensor.rpartition(".")[0])
        if pair not in pairs:
            pairs.append(pair)
    return pairs


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
    base_kwargs: Optional[Mapping[str, Any]] = None,
    raw_kwargs: Optional[Mapping[str, Any]] = None,
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = "auto",
    layouts: Iterable[MapLike] = (),
    init_modules: Sequence[str] = (),
) -> VerifyResult:
    """Copy base into raw (the plan, or ``script``), run both, compare their outputs.

    ``base``/``raw`` are spec strings, specs or models; with ``script`` they default to the
    specs the script records. Models passed in are changed: raw receives base's weights.
    """
    specs = [s if isinstance(s, InputSpec) else InputSpec.parse(s) for s in inputs]
    maps = list(maps)
    _check_options(specs, atol, rtol, script, maps, layer_map, match, init_modules)
    loaded = load_script(script) if script is not None else None
    if loaded is not None:  # the script records the specs it was made for
        base = base if base is not None else _script_spec(loaded, "BASE_SPEC")
        raw = raw if raw is not None else _script_spec(loaded, "RAW_SPEC")
    if base is None or raw is None:
        raise UsageError(
            "verify needs both models: --base and --raw"
            + (f" (the script {script} records none)" if script is not None else "")
            + ".",
            "Pass --base FW:PATH and --raw FW:PATH.",
        )
    base_proxy = as_proxy(base, "base", base_kwargs, lazy=False)
    raw_proxy = as_proxy(raw, "raw", raw_kwargs, lazy=False)
    base_model, raw_model = base_proxy.model, raw_proxy.model
    if randomize:
        randomize_weights(base_model, seed)
    if loaded is not None:
        _apply_script(loaded, script, base_model, raw_model)
        pairs = _script_pairs(loaded)
    else:
        plan = assign_weight(
            base_proxy,
            raw_proxy,
            layer_map=layer_map,
            maps=maps,
            match=match,
            layouts=layouts,
            inputs=[spec.describe() for spec in specs],
            init_modules=init_modules,
        )
        pairs = [(p.base.path, p.raw.path) for p in plan.pairs if p.base and p.raw]
    return _compare_models(base_model, raw_model, pairs, specs, atol, rtol, seed)


def _check_options(
    specs: Sequence[InputSpec],
    atol: float,
    rtol: float,
    script: Optional[Union[str, Path]],
    maps: Sequence[MapLike],
    layer_map: str,
    match: str,
    init_modules: Sequence[str],
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
        maps or layer_map != "auto" or match != "auto" or init_modules
    ):
        raise UsageError(
            f"--map, --layer-map, --match and --init-module have no effect with --script {script}: "
            "the script's tables decide what is copied.",
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
) -> VerifyResult:
    """Run both models with hooks on the paired layers; compare outputs, then layers."""
    base_layers, raw_layers = layers_by_path(base_model), layers_by_path(raw_model)
    pairs = [(b, r) for b, r in pairs if b in base_layers and r in raw_layers]
    classes = {
        (b, r): (class_name(base_layers[b]), class_name(raw_layers[r]))
        for b, r in pairs
    }
    arrays = make_inputs(specs, seed)
    inputs_text = " ".join(spec.describe() for spec in specs)
    recorders = (
        _Recorder(base_model, [b for b, _ in pairs]),
        _Recorder(raw_model, [r for _, r in pairs]),
    )
    try:
        base_out = flatten_outputs(run_model(base_model, arrays, "base", inputs_text))
        raw_out = flatten_outputs(run_model(raw_model, arrays, "raw", inputs_text))
    finally:
        for recorder in recorders:
            recorder.remove()
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
    if not result.equal:
        result.first_layer = _first_differing_layer(
            recorders[0], recorders[1], pairs, classes, atol, rtol
        )
    return result
