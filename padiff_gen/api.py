"""The Python API: emit a script, or apply the same plan in-process.

The CLI is a thin shell over these functions. Pipeline: load -> analyze -> plan -> render ->
write.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import shlex
from pathlib import Path
from typing import Any, Iterable, Mapping, NamedTuple, Optional, Sequence, Union

from . import progress
from .analysis.analyze import CALLS, TIED, analyze, plain_map_notes
from .analysis.evidence.block_probe import (
    call_orders,
    check_conditional,
    check_given,
    check_tied,
    check_unpaired,
    decide_by_blocks,
)
from .analysis.evidence.constants import constant_notes
from .analysis.compare_settings import settings_note, with_settings
from .errors import UsageError
from .analysis.hf_checkpoints import checkpoint_rows
from .load.inputs import InputSpec
from .knowledge.layer_kinds import AFFINE_NORMS
from .analysis.evidence.layout_probe import conditional, decide_by_probe, outputs_check
from .log import get_logger
from .load.load import ModelSpec, build_model, input_source, parse_spec
from .analysis.match import DEFAULT_MATCH, MATCH_MODES
from .plan.plan import MapOptions, Pairing, Plan, plan_from
from .load.plugins import init_module_origin, load_plugins
from .analysis.proxy import ProxyModel, create_model
from .codegen.render import MATCH_COMMENTS, how_matched, render_script
from .runtime.core.common import WeightMismatchError
from .analysis.walk import is_constant
from .special_init import global_special_init_pool
from .write.write import check_output_path, write_atomically

log = get_logger()

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
        return _root(base_path.strip()), _root(raw_path.strip())
    base_path, raw_path = item
    return _root(str(base_path)), _root(str(raw_path))


def _root(path: str) -> str:
    """A --map path: ``<root>`` (as inspect shows the model itself) is the model."""
    return "" if path == "<root>" else path


def parse_layout(item: MapLike) -> tuple[str, str]:
    """``KEY=CHOICE`` (or a (key, choice) pair) of ``--layout``."""
    if not isinstance(item, str):
        key, choice = item
        return str(key), str(choice)
    key, sep, choice = item.partition("=")
    if not sep or not key.strip() or not choice.strip():
        raise UsageError(
            f"--layout {item!r} is not of the form KEY=CHOICE.",
            "Write e.g. --layout qkv_proj=q_proj,k_proj,v_proj/2 or --layout "
            "c_proj=copy (padiff-gen's message about the layer lists the choices).",
        )
    return key.strip(), choice.strip()


def map_options(
    layer_map: str = "auto",
    maps: Iterable[MapLike] = (),
    match: str = DEFAULT_MATCH,
    layouts: Iterable[MapLike] = (),
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
    return MapOptions(
        layer_map,
        tuple(parse_map(m) for m in maps),
        match,
        tuple(parse_layout(item) for item in layouts),
    )


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
    inputs: Sequence[str] = (),
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
    for key, choice in options.layouts:
        words += ["--layout", f"{key}={choice}"]
    for text in inputs:
        words += ["--input", text]
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
    layouts: Iterable[MapLike] = (),
    inputs: Sequence[str] = (),
    init_modules: Sequence[str] = (),
    lazy: bool = True,
    check_outputs: bool = False,
    refute_given: bool = True,
) -> tuple[Pairing, ProxyModel, ProxyModel, MapOptions]:
    """Load and analyze two models; mismatches are in the pairing, not raised.

    Layouts the shapes cannot tell apart (fused, stacked) are decided by ``layouts``
    (``--layout``), else by running both models on ``inputs`` (``--input`` specs) or on
    an input guessed from the base model (:mod:`padiff_gen.analysis.evidence.layout_probe`). A layout
    given that the block holding it refutes is a mapping error (``refute_given``;
    verify leaves it to its replay, which names the layer)."""
    options = map_options(layer_map, maps, match, layouts)
    probe_inputs = [InputSpec.parse(text) for text in inputs]
    load_plugins(global_special_init_pool)
    load_init_modules(init_modules)
    base_proxy = as_proxy(base, "base", base_kwargs, lazy=lazy)
    raw_proxy = as_proxy(raw, "raw", raw_kwargs, lazy=lazy)
    with progress.stage("pairing the layers"):
        pairing = analyze(base_proxy, raw_proxy, options, global_special_init_pool)
    if options.match == "auto" and any(p.error is not None for p in pairing.pairs):
        with progress.stage("running both models to pair layers in call order"):
            pairing = paired_in_call_order(
                pairing, base_proxy, raw_proxy, options, probe_inputs
            )
    for note in plain_map_notes(
        base_proxy, raw_proxy, options, global_special_init_pool
    ):
        log.info(note)
    if pairing.undecided:
        with progress.stage("running the layers holding undecided layouts"):
            pairing = decide_by_blocks(pairing, base_proxy, raw_proxy, probe_inputs)
    if refute_given and any(pair.given for pair in pairing.pairs):
        with progress.stage("running the layers holding the layouts given"):
            pairing = check_given(pairing, base_proxy, raw_proxy, probe_inputs)
    if any(pair.matched_by == TIED for pair in pairing.pairs):
        with progress.stage("running both models to check a tied head"):
            pairing = check_tied(pairing, base_proxy, raw_proxy, probe_inputs)
    if any(conditional(pair) for pair in pairing.pairs):
        with progress.stage("running the layers holding conditional copies"):
            pairing = check_conditional(pairing, base_proxy, raw_proxy, probe_inputs)
    if pairing.undecided or any(conditional(pair) for pair in pairing.pairs):
        with progress.stage("running both models to decide layouts"):
            pairing = decide_by_probe(pairing, base_proxy, raw_proxy, probe_inputs)
    pairing = with_settings(pairing, base_proxy.model, raw_proxy.model)
    if any(note.setting == "presence" for note in pairing.notes):
        with progress.stage("running the layers around layers without a partner"):
            pairing = check_unpaired(pairing, base_proxy, raw_proxy, probe_inputs)
    if pairing.first_error is not None:
        remark = one_sided_kwargs_remark(base_proxy, raw_proxy)
        if remark:
            pairing.first_error.add_remark(remark)
    if pairing.first_error is None:
        for note in constant_notes(pairing, base_proxy, raw_proxy):
            log.warning(note)
        note = settings_note(pairing.notes)
        if note:
            log.warning(note)
        note = unchecked_note(pairing)
        if note:
            log.warning(note)
        if check_outputs:
            with progress.stage("running both models to check the copy"):
                note = outputs_check(pairing, base_proxy, raw_proxy, probe_inputs)
            if note:
                log.warning(note)
    return pairing, base_proxy, raw_proxy, options


def paired_in_call_order(
    pairing: Pairing,
    base: ProxyModel,
    raw: ProxyModel,
    options: MapOptions,
    probe_inputs: Sequence[InputSpec] = (),
) -> Pairing:
    """When layers pair neither in definition order nor by path (a library that
    defines all downsampling layers before all stages, another that interleaves them,
    under other names), the order a forward pass calls them is evidence too: both
    models run (one layer's weights at a time) on the same input, and the units pair
    in that order, with shapes and classes as before. Kept only if everything pairs
    so; the pairs definition order would not have made are marked matched in call
    order."""
    if not _could_pair(pairing):
        return pairing  # no order pairs units that differ: running would not help
    calls = call_orders(base, raw, probe_inputs)
    if not calls[0] or not calls[1]:
        error = pairing.first_error
        if error is not None:
            error.hint = f"{error.hint} {_input_hint(base, probe_inputs)}".strip()
            error.args = (error.text,)
        return pairing
    retried = analyze(
        base,
        raw,
        dataclasses.replace(options, calls=calls),
        global_special_init_pool,
    )

    def errors(found: Pairing) -> int:
        return sum(1 for pair in found.pairs if pair.error is not None)

    if errors(retried) and errors(retried) >= errors(pairing):
        return pairing
    # Everything pairs in call order, or fewer pairs fail than in definition order
    # (a layer lost in a port is then named, not the pairs after it).
    in_order = {(b.path, r.path) for b, r in zip(pairing.base_units, pairing.raw_units)}
    pairs = tuple(
        (
            dataclasses.replace(pair, matched_by=CALLS)
            if pair.base is not None
            and pair.raw is not None
            and (pair.base.path, pair.raw.path) not in in_order
            else pair
        )
        for pair in retried.pairs
    )
    return dataclasses.replace(retried, pairs=pairs)


def _input_hint(base: ProxyModel, probe_inputs: Sequence[InputSpec]) -> str:
    """What lets padiff-gen pair layers in the order a forward pass calls them, when
    no input ran both models."""
    import inspect

    try:
        signature = inspect.signature(base.model.forward)
        names = [
            p.name
            for p in signature.parameters.values()
            if p.default is p.empty
            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        names = []
    forward = f" (forward({', '.join(names)}))" if names else ""
    if probe_inputs:
        return (
            "padiff-gen pairs layers defined in another order or under other names in "
            f"the order a forward pass calls them, but the --input given did not run "
            f"both models{forward}: give one --input per argument of forward."
        )
    return (
        "padiff-gen pairs layers defined in another order or under other names in the "
        f"order a forward pass calls them, but no input it could guess runs the "
        f"models{forward}: give one --input per argument (SHAPE[:DTYPE[:HIGH]], e.g. "
        "--input 2,16,20 --input 2:int64:4) to let it."
    )


def _could_pair(pairing: Pairing) -> bool:
    """Whether the models hold as many weight elements, so that some order could pair
    their units: constants (walk.is_constant) and the scale or shift of a norm the
    other side may compute as a constant (layer_kinds.AFFINE_NORMS) left out; units of
    another grouping (a fused projection against its parts) count alike."""
    norms = {row.class_name for row in AFFINE_NORMS}

    def elements(units) -> int:
        return sum(
            math.prod(t.shape)
            for unit in units
            if not norms & set(unit.ancestry)
            for t in unit.tensors
            if not is_constant(t) and not t.tied_to
        )

    return elements(pairing.base_units) == elements(pairing.raw_units)


def unchecked_note(pairing: Pairing) -> str:
    """A note on rows exact only under a condition that running the models did not
    check (they were too large, or no input ran): the user should know."""
    pairs = [pair for pair in pairing.pairs if conditional(pair)]
    if not pairs:
        return ""
    first = pairs[0]
    condition = next(c.condition for c in first.copies if c.condition)
    more = f" (and {len(pairs) - 1} more pairs)" if len(pairs) > 1 else ""
    return (
        f"note: base `{first.base.path}` ({first.base.class_name}) is copied into raw "
        f"`{first.raw.path}` ({first.raw.class_name}){more}, {condition}; padiff-gen "
        "could not run the models to check it (give --input to let it): check with "
        "`padiff-gen verify`."
    )


def one_sided_kwargs_remark(base: ProxyModel, raw: ProxyModel) -> str:
    """When models built from specs do not pair and only one got constructor arguments,
    that is the likeliest cause: say so ("" otherwise)."""
    if base.spec is None or raw.spec is None:
        return ""
    given = [proxy for proxy in (base, raw) if proxy.spec.kwargs]
    if len(given) != 1:
        return ""
    role, other = ("base", "raw") if given[0] is base else ("raw", "base")
    written = input_source(role).kwargs_as_written(given[0].spec.kwargs)
    return (
        f"Constructor arguments were given for the {role} model only ({written}); "
        f"the {other} model was built with "
        f"its defaults. If both constructors take these arguments, give them to the "
        f"{other} model too ({input_source(other).kwargs()})."
    )


def matched_in_call_order_note(plan: Plan, where: str) -> str:
    """The note emit gives when pairs were matched in the order a forward pass calls
    the layers ("" when none)."""
    moved = sum(1 for pair in plan.pairs if pair.matched_by == CALLS)
    if not moved:
        return ""
    return (
        f"note: {where}: {moved} layer pair{'s were' if moved != 1 else ' was'} "
        "matched in the order a forward pass calls the layers: the two models define "
        "them in another order under other names; the script's tables mark them "
        "`# matched in call order`."
    )


def matched_by_name_note(plan: Plan, where: str) -> str:
    """The note ``emit`` gives once per script whose layers were not all paired by
    position ("" when they were); ``where`` names the script (or its target)."""
    ways = [pair.matched_by for pair in plan.pairs if pair.matched_by in MATCH_COMMENTS]
    if not ways:
        return ""
    if set(ways) == {"name"}:
        return (
            f"note: {where}: {len(ways)} layer pair{'s were' if len(ways) != 1 else ' was'} "
            "matched by name, because the two models define them in a different "
            "order; the script's tables mark them `# matched by name`."
        )
    return (
        f"note: {where}: {len(ways)} layer pair{'s were' if len(ways) != 1 else ' was'} "
        f"not paired in definition order: {how_matched(ways)}; the script's tables "
        "mark each so."
    )


def decided_note(plan: Plan) -> str:
    """emit's note on the layouts shapes left open and what decided each ("" when
    shapes decided all): the layout, how it was found, and how many pairs share it."""
    counts: dict[str, int] = {}
    for pair in plan.pairs:
        if pair.layout and ("(found by" in pair.layout or "(--layout" in pair.layout):
            counts[pair.layout] = counts.get(pair.layout, 0) + 1
    if not counts:
        return ""
    items = [
        f"{layout}, {count} pair{'s' if count != 1 else ''}"
        for layout, count in counts.items()
    ]
    return "note: layouts the shapes leave open: " + "; ".join(items) + "."


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
    command = regenerate_command(
        base_proxy, raw_proxy, map_opts, init_modules, output, options.get("inputs", ())
    )
    plan = plan_from(pairing, command)
    tensors = [t for unit in pairing.base_units for t in unit.tensors]
    rows = checkpoint_rows(base_proxy.model, tensors)
    return dataclasses.replace(plan, checkpoint_rows=rows) if rows else plan


class Script(NamedTuple):
    """A generated script's text and the plan it lays out."""

    text: str
    plan: Plan


def emit_text(
    base: ModelLike,
    raw: ModelLike,
    output: Optional[Union[str, Path]] = None,
    **options: Any,
) -> str:
    """The script ``emit`` would write to ``output``, without writing anything.

    Options as for :func:`emit`.
    """
    return script_and_plan(base, raw, output, **options).text


def script_and_plan(
    base: ModelLike,
    raw: ModelLike,
    output: Optional[Union[str, Path]] = None,
    *,
    directory: Optional[Union[str, Path]] = None,
    **options: Any,
) -> Script:
    """:func:`emit_text`, with the plan (which tells what to say about the script).

    ``directory`` is the folder the script will be in, if not ``output``'s (the script
    records where the models' modules are relative to it).
    """
    plan = make_plan(base, raw, output, **options)
    file_name = Path(output).name if output is not None else "init_weights.py"
    if directory is None and output is not None:
        directory = Path(output).parent
    with progress.stage(f"rendering {len(plan.copies)} tensor copies"):
        text, _ = render_script(plan, file_name=file_name, directory=directory)
    return Script(text, plan)


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
    by name when order fails; "order"; "names"), ``layouts`` (``"KEY=CHOICE"``: how a
    fused or stacked tensor is laid out where shapes cannot tell), ``inputs`` (model
    inputs such as ``"1,8:int64:1000"`` to run both models on when deciding such
    layouts), ``init_modules``. Returns the script.
    """
    if output is not None:
        check_output_path(Path(output), force)  # fail before the slow part
    text, plan = script_and_plan(base, raw, output, **options)
    if output is not None:
        write_atomically(Path(output), text, force)
    for note in (
        decided_note(plan),
        matched_by_name_note(
            plan, display_path(output) if output is not None else "the script"
        ),
        matched_in_call_order_note(
            plan, display_path(output) if output is not None else "the script"
        ),
    ):
        if note:
            log.info(note)
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
    layouts: Iterable[MapLike] = (),
    inputs: Sequence[str] = (),
    init_modules: Sequence[str] = (),
    refute_given: bool = True,
) -> Plan:
    """Copy base's weights into raw now, running exactly the code ``emit`` would write.

    Initializers are called as registered (not inlined), so lambdas and closures work here.
    Returns the plan that was applied. ``refute_given``: see pair_models.
    """
    pairing, base_proxy, raw_proxy, _ = pair_models(
        base,
        raw,
        base_kwargs=base_kwargs,
        raw_kwargs=raw_kwargs,
        layer_map=layer_map,
        maps=maps,
        match=match,
        layouts=layouts,
        inputs=inputs,
        init_modules=init_modules,
        lazy=False,
        refute_given=refute_given,
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
