"""The Python API: emit a script, or apply the same plan in-process.

The CLI is a thin shell over these functions. Pipeline: load -> analyze -> plan -> render ->
write.
"""

from __future__ import annotations

import importlib
import json
import logging
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from . import progress
from .analyze import analyze
from .errors import UsageError
from .load import ModelSpec, build_model, parse_spec
from .match import DEFAULT_MATCH, MATCH_MODES
from .plan import MapOptions, Pairing, Plan, UnitPair, plan_from
from .plugins import init_module_origin, load_plugins
from .proxy import ProxyModel, create_model
from .render import render_script
from .runtime.common import WeightMismatchError
from .special_init import global_special_init_pool
from .write import check_output_path, write_atomically

log = logging.getLogger("padiff_gen")

ModelLike = Union[str, ModelSpec, ProxyModel, Any]
MapLike = Union[str, Sequence[str]]


def load_init_modules(names: Iterable[str]) -> None:
    """Import user modules that register special initializers."""
    for name in names:
        try:
            with global_special_init_pool.origin(init_module_origin(name)):
                importlib.import_module(name)
        except Exception as error:
            raise UsageError(
                f"--init-module {name} failed to import: {type(error).__name__}: {error}.",
                "Check the module name (a dotted import path, importable from the current "
                "directory) and fix any error in the module (--debug shows the traceback).",
            ) from error


def parse_map(item: MapLike) -> tuple[str, str]:
    if isinstance(item, str):
        base_path, sep, raw_path = item.partition("=")
        if not sep or not base_path or not raw_path:
            raise UsageError(
                f"--map {item!r} is not of the form BASE_PATH=RAW_PATH.",
                "Write e.g. --map encoder.attn=encoder.attention.",
            )
        return base_path.strip(), raw_path.strip()
    base_path, raw_path = item
    return str(base_path), str(raw_path)


def map_options(
    layer_map: str = "auto", maps: Iterable[MapLike] = (), match: str = DEFAULT_MATCH
) -> MapOptions:
    if layer_map not in ("auto", "none"):
        raise UsageError(
            f"--layer-map takes 'auto' or 'none', got {layer_map!r}.",
            "Use --layer-map none to turn the automatic layer map off.",
        )
    if match not in MATCH_MODES:
        raise UsageError(
            f"--match takes {', '.join(repr(m) for m in MATCH_MODES)}, got {match!r}.",
            "Use 'auto' (in order, then by name when order fails), 'order' or 'names'.",
        )
    return MapOptions(layer_map, tuple(parse_map(m) for m in maps), match)


def as_proxy(
    model: ModelLike,
    role: str,
    kwargs: Optional[Mapping[str, Any]] = None,
    *,
    lazy: bool,
) -> ProxyModel:
    """A proxy for a spec string, a ModelSpec, a model or a proxy."""
    if isinstance(model, str):
        model = parse_spec(model, kwargs, role)
    elif kwargs:
        raise UsageError(
            f"{role}_kwargs were given but the {role} model is not a spec string.",
            "Pass constructor arguments only together with a spec such as 'torch:pkg.Net'.",
        )
    if isinstance(model, ModelSpec):
        with progress.stage(f"building the {role} model {model.text}"):
            built = build_model(model, lazy=lazy, role=role)
        if built.note:
            log.warning(built.note)
        return ProxyModel(built.model, spec=model, note=built.note)
    return create_model(model)


def regenerate_command(
    base: ProxyModel,
    raw: ProxyModel,
    options: MapOptions,
    init_modules: Sequence[str],
    output: Optional[Union[str, Path]],
) -> Optional[str]:
    """The `padiff-gen emit` command that rebuilds the same file, if the models are specs."""
    if base.spec is None or raw.spec is None:
        return None
    words = ["padiff-gen", "emit", "--base", base.spec.text, "--raw", raw.spec.text]
    for flag, spec in (("--base-kwargs", base.spec), ("--raw-kwargs", raw.spec)):
        if spec.kwargs:
            words += [
                flag,
                json.dumps(dict(spec.kwargs), sort_keys=True, separators=(",", ":")),
            ]
    for base_path, raw_path in options.maps:
        words += ["--map", f"{base_path}={raw_path}"]
    if options.layer_map != "auto":
        words += ["--layer-map", options.layer_map]
    if options.match != DEFAULT_MATCH:
        words += ["--match", options.match]
    for module in init_modules:
        words += ["--init-module", module]
    if output is not None:
        words += ["-o", display_path(output)]
    return " ".join(shlex.quote(word) for word in words)


def display_path(path: Union[str, Path]) -> str:
    """The path as the user gave it, relative to the working directory; never absolute."""
    path = Path(path)
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def pair_models(
    base: ModelLike,
    raw: ModelLike,
    *,
    base_kwargs: Optional[Mapping[str, Any]] = None,
    raw_kwargs: Optional[Mapping[str, Any]] = None,
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = DEFAULT_MATCH,
    init_modules: Sequence[str] = (),
    lazy: bool = True,
) -> tuple[Pairing, ProxyModel, ProxyModel, MapOptions]:
    """Load and analyze two models; mismatches are in the pairing, not raised."""
    options = map_options(layer_map, maps, match)
    load_plugins(global_special_init_pool)
    load_init_modules(init_modules)
    base_proxy = as_proxy(base, "base", base_kwargs, lazy=lazy)
    raw_proxy = as_proxy(raw, "raw", raw_kwargs, lazy=lazy)
    with progress.stage("pairing the layers"):
        pairing = analyze(base_proxy, raw_proxy, options, global_special_init_pool)
    by_position = sum(1 for pair in pairing.pairs if pair.matched_by != "order")
    if by_position and pairing.first_error is None:
        log.info(
            "note: %d layer pair%s matched by name: the models define them in a "
            "different order (marked in the script's tables)",
            by_position,
            "s" if by_position != 1 else "",
        )
    if pairing.first_error is None:
        note = settings_note(pairing.pairs)
        if note:
            log.warning(note)
    return pairing, base_proxy, raw_proxy, options


def settings_note(pairs: Sequence[UnitPair]) -> str:
    """A note on the pairs whose weights copy exactly but whose settings differ."""
    differing = [pair for pair in pairs if pair.difference]
    if not differing:
        return ""
    first = differing[0]
    more = f" and {len(differing) - 1} more" if len(differing) > 1 else ""
    count = len(differing)
    return (
        f"note: {count} layer pair{'s differ' if count != 1 else ' differs'} in a "
        "setting that is not a weight, so outputs differ slightly even with equal "
        f"weights: base `{first.base.path or '<root>'}` / raw "
        f"`{first.raw.path or '<root>'}` "
        f"({first.difference}){more}. The weights are copied exactly; build both "
        "models with the same settings for equal outputs (the script's table marks "
        "these pairs)."
    )


def make_plan(
    base: ModelLike,
    raw: ModelLike,
    output: Optional[Union[str, Path]] = None,
    *,
    init_modules: Sequence[str] = (),
    lazy: bool = True,
    **options: Any,
) -> Plan:
    pairing, base_proxy, raw_proxy, map_opts = pair_models(
        base, raw, init_modules=init_modules, lazy=lazy, **options
    )
    command = regenerate_command(base_proxy, raw_proxy, map_opts, init_modules, output)
    return plan_from(pairing, command)


def emit_text(
    base: ModelLike,
    raw: ModelLike,
    output: Optional[Union[str, Path]] = None,
    *,
    base_kwargs: Optional[Mapping[str, Any]] = None,
    raw_kwargs: Optional[Mapping[str, Any]] = None,
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = DEFAULT_MATCH,
    init_modules: Sequence[str] = (),
    directory: Optional[Union[str, Path]] = None,
) -> str:
    """The script ``emit`` would write to ``output``, without writing anything.

    ``directory`` is the folder the script will be in, if not ``output``'s (the script
    records where the models' modules are relative to it).
    """
    plan = make_plan(
        base,
        raw,
        output,
        base_kwargs=base_kwargs,
        raw_kwargs=raw_kwargs,
        layer_map=layer_map,
        maps=maps,
        match=match,
        init_modules=init_modules,
    )
    file_name = Path(output).name if output is not None else "init_weights.py"
    with progress.stage(f"rendering {len(plan.copies)} tensor copies"):
        if directory is None and output is not None:
            directory = Path(output).parent
        text, _ = render_script(plan, file_name=file_name, directory=directory)
    return text


def emit(
    base: ModelLike,
    raw: ModelLike,
    output: Optional[Union[str, Path]] = None,
    *,
    force: bool = False,
    **options: Any,
) -> str:
    """Generate the init script for two models; write it to ``output`` if given.

    ``base`` and ``raw`` are spec strings (``"torch:pkg.module.Net"``), models or proxies.
    Options: ``base_kwargs``, ``raw_kwargs``, ``layer_map`` ("auto"/"none"), ``maps``
    (``"BASE_PATH=RAW_PATH"`` strings or pairs), ``match`` ("auto": in definition order,
    by name when order fails; "order"; "names"), ``init_modules``. Returns the script.
    """
    if output is not None:
        check_output_path(Path(output), force)  # fail before the slow part
    text = emit_text(base, raw, output, **options)
    if output is not None:
        write_atomically(Path(output), text, force)
    return text


def assign_weight(
    base: ModelLike,
    raw: ModelLike,
    *,
    base_kwargs: Optional[Mapping[str, Any]] = None,
    raw_kwargs: Optional[Mapping[str, Any]] = None,
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = DEFAULT_MATCH,
    init_modules: Sequence[str] = (),
) -> Plan:
    """Copy base's weights into raw now, running exactly the code ``emit`` would write.

    Initializers are called as registered (not inlined), so lambdas and closures work here.
    Returns the plan that was applied.
    """
    pairing, base_proxy, raw_proxy, _ = pair_models(
        base,
        raw,
        base_kwargs=base_kwargs,
        raw_kwargs=raw_kwargs,
        layer_map=layer_map,
        maps=maps,
        match=match,
        init_modules=init_modules,
        lazy=False,
    )
    plan = plan_from(pairing)
    text, injected = render_script(plan, inline_initializers=False, formatted=False)
    namespace: dict[str, Any] = {"__name__": "padiff_gen_assign_weight", **injected}
    exec(compile(text, "<padiff-gen init_weights>", "exec"), namespace)
    # The injected initializers raise padiff_gen's own WeightMismatchError: the script's
    # code must know it as its own, to restore raw and say which layers refused.
    namespace["WeightMismatchError"] = WeightMismatchError
    namespace["init_weights"](base_proxy.model, raw_proxy.model)
    return plan
