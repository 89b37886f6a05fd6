"""Render: lay a plan out as a standalone Python script (Jinja), then format it (black)."""

from __future__ import annotations

import hashlib
import importlib
import json
import keyword
import os
import sys
import sysconfig
import textwrap
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import black
import jinja2

from ..plan import fold
from ..analysis.compare_settings import script_lines, unknown
from ..version import __version__
from ..errors import InlineError
from ..knowledge.frameworks import NOISY_IMPORTS, copy_kernel
from .extract import locate, SourceCollector
from ..load.load import ModelSpec
from ..plan.plan import Plan, TensorCopy, UnitPair

TEMPLATE = "init_weights.py.j2"
# Names the template defines itself; copied code must not take them.
TEMPLATE_NAMES = (
    "BASE_SPEC",
    "RAW_SPEC",
    "REGENERATE",
    "TENSOR_TABLE",
    "SPECIAL_INITS",
    "SPECIAL_INIT_TENSORS",
    "CHECKPOINT_TABLE",
    "INITIALIZERS",
    "REHEARSED",
    "init_weights",
    "copy_weights",
    "load_base_checkpoint",
    "convert_checkpoint",
    "main",
)
BLACK_MODE = black.Mode(line_length=88, target_versions={black.TargetVersion.PY39})
CHECKPOINT_SUFFIX = {"torch": ".pt", "paddle": ".pdparams"}
# What --base-ckpt reads, by the base model's framework (shown by the script's --help).
CHECKPOINT_FORMATS = {
    "torch": ".pt/.pth/.bin, .safetensors, or a sharded checkpoint's *.index.json",
    "paddle": ".pdparams, .safetensors, or a sharded checkpoint's *.index.json",
}


def templates_dir() -> Path:
    """templates/ inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "templates", package.parent / "templates"):
        if (candidate / TEMPLATE).is_file():
            return candidate
    raise FileNotFoundError(
        f"{TEMPLATE} is neither in {package} nor in {package.parent}"
    )


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


def literal(value: Any) -> str:
    """A Python literal with double-quoted strings (table rows are not reformatted)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, dict):  # a folded run (padiff_gen.plan.fold)
        return (
            "{"
            + ", ".join(f"{literal(k)}: {literal(v)}" for k, v in value.items())
            + "}"
        )
    return repr(value)


def _runtime_helpers(plan: Plan) -> dict[str, Callable]:
    """The runtime functions the template calls, by the names it calls them."""
    from ..runtime.core import checks, common, rows, special
    from ..runtime.conversion import convert, output, script

    base, raw = plan.frameworks
    kernels = importlib.import_module(f"padiff_gen.runtime.core.{_kernel_module(plan)}")
    io = {
        fw: importlib.import_module(f"padiff_gen.runtime.conversion.io_{fw}")
        for fw in (base, raw)
    }
    helpers = {
        "WeightMismatchError": common.WeightMismatchError,
        "CheckpointError": common.CheckpointError,
        "UsageProblem": common.UsageProblem,
        "check_tensors": checks.check_tensors,
        "check_frameworks": checks.check_frameworks,
        "check_data": checks.check_data,
        "get_tensor": common.get_tensor,
        "get_layer": common.get_layer,
        "row_raw_path": rows.row_raw_path,
        "fill_raw_tensor": (
            rows.fill_raw_tensor if _composite(plan) else rows.fill_simple_tensor
        ),
        "has_data": kernels.has_data,
        "ParallelCopies": kernels.ParallelCopies,
        "synchronize_devices": kernels.synchronize_devices,
        "build_model": common.build_model,
        "parse_args": script.parse_args,
        "Progress": common.Progress,
        "report": common.report,
        "build_base_without_weights": io[base].build_without_weights,
        "build_raw_without_weights": io[raw].build_without_weights,
        "open_checkpoint": io[base].open_checkpoint,
        "load_layer": io[base].load_layer,
        "materialize_layer": io[raw].materialize_layer,
        "write_checkpoint": io[raw].write_checkpoint,
        "saved_tensors": io[raw].saved_tensors,
        "plan_output": output.plan_output,
        "write_output": output.write_output,
        "output_tensors": convert.output_tensors,
        "model_tensors": convert.model_tensors,
        "RawTensors": convert.RawTensors,
    }
    if plan.special_pairs:
        helpers["run_special_inits"] = special.run_special_inits
    return helpers


def _kernel_module(plan: Plan) -> str:
    """The runtime module the script copies with (knowledge.frameworks.copy_kernel)."""
    return copy_kernel(plan.frameworks)


def _composite(plan: Plan) -> bool:
    """Whether any row of the script is composite (several base tensors, or a pipeline):
    only then does it carry the code that compiles such rows into blocks."""
    return bool(plan.checkpoint_rows) or any(
        not c.transform.simple for p in plan.pairs for c in p.copies
    )


def _substitutes(plan: Plan) -> dict[tuple[str, str], tuple[str, str]]:
    """What runtime code imports that this script takes from elsewhere: from
    copy_paddle instead of copy_torch when that is the script's kernel (both define the
    same functions and constants under the same names); fill_simple_tensor for
    fill_raw_tensor when no row is composite."""
    found = {}
    if not _composite(plan):
        module = "padiff_gen.runtime.core.rows"
        found[(module, "fill_raw_tensor")] = (module, "fill_simple_tensor")
    if _kernel_module(plan) == "copy_torch":
        return found
    from ..runtime.core import copy_paddle

    torch_kernel = "padiff_gen.runtime.core.copy_torch"
    paddle_kernel = "padiff_gen.runtime.core.copy_paddle"
    own = [
        name
        for name, value in vars(copy_paddle).items()
        if getattr(value, "__module__", None) == paddle_kernel
        or (name.isupper() and not name.startswith("_"))
    ]
    found.update({(torch_kernel, name): (paddle_kernel, name) for name in own})
    return found


def _spec_literal(spec: Optional[ModelSpec], directory: Path) -> str:
    """BASE_SPEC / RAW_SPEC: the recorded spec, with the folder its module was imported
    from relative to the script (None for an installed package)."""
    if spec is None:
        return "None"
    recorded = spec.as_dict()
    recorded["folder"] = _import_folder(spec.target, directory)
    return repr(recorded)


def _import_folder(target: str, directory: Path) -> Optional[str]:
    """The folder holding the top-level module of `target`, relative to `directory`;
    None when it comes from an installed package (site-packages or the like)."""
    top = target.split(".")[0]
    module = sys.modules.get(top)
    location = getattr(module, "__file__", None)
    if location is None:
        paths = list(getattr(module, "__path__", []) or [])
        if not paths:
            return None
        folder = Path(paths[0]).resolve().parent
    elif Path(location).name == "__init__.py":
        folder = Path(location).resolve().parent.parent
    else:
        folder = Path(location).resolve().parent
    installed = {Path(p).resolve() for p in site_folders()}
    if any(folder == p or p in folder.parents for p in installed):
        return None
    return Path(os.path.relpath(folder, directory.resolve())).as_posix()


def site_folders() -> list[str]:
    """Where installed packages live (site-packages, the standard library)."""
    names = ("purelib", "platlib", "stdlib", "platstdlib")
    return [sysconfig.get_paths()[name] for name in names]


# Trailing comments on table rows whose layers were not paired by position.
MATCH_COMMENTS = {
    "name": "matched by name",
    "map": "matched by --map",
    "calls": "matched in call order",
}


def how_matched(ways: Sequence[str]) -> str:
    """``4 matched by name, 2 matched in call order``: the MATCH_COMMENTS of ``ways``
    (Pair.matched_by values), counted, in the table's order."""
    return ", ".join(
        f"{ways.count(way)} {comment}"
        for way, comment in MATCH_COMMENTS.items()
        if way in ways
    )


def _summary(plan: Plan) -> str:
    copies = plan.copies
    transposed = sum(1 for c in copies if c.transform.transposes)
    special = len(plan.special_pairs)
    summary = (
        f"{len(copies)} tensors copied from the table ({transposed} transposed) and "
        f"{special} layer{'s' if special != 1 else ''} copied by special initializers."
    )
    moved = [
        pair.matched_by for pair in plan.pairs if pair.matched_by in MATCH_COMMENTS
    ]
    if moved:
        summary += "\n\n" + textwrap.fill(
            f"{len(moved)} layer pair{'s are' if len(moved) != 1 else ' is'} not paired "
            f"in definition order: {how_matched(moved)} (marked in the tables).",
            width=88,
        )
    differing = sum(1 for pair in plan.pairs if pair.difference)
    if differing:
        summary += "\n\n" + textwrap.fill(
            f"{differing} layer pair{'s differ' if differing != 1 else ' differs'} in a "
            "setting that is not a weight (marked `differs:` in the tables): the weights "
            "are copied exactly, but such layers compute slightly different outputs.",
            width=88,
        )
    # What script_lines lists above the tables: not a layer without a partner that
    # running the layers holding it showed the other model computes in its code.
    others = [note for note in plan.notes if not note.unit and not note.computed]
    known = sum(1 for note in others if not unknown(note))
    if known:
        summary += "\n\n" + textwrap.fill(
            f"{known} difference{'s' if known != 1 else ''} in layers without weights "
            "(listed above the tables, each with what it changes).",
            width=88,
        )
    if len(others) > known:
        count = len(others) - known
        summary += "\n\n" + textwrap.fill(
            f"{count} layer{'s' if count != 1 else ''} without weights only one model "
            "has could not be run here: whether the outputs differ there is unknown "
            "(listed above the tables).",
            width=88,
        )
    return summary


def render_script(
    plan: Plan,
    *,
    file_name: str = "init_weights.py",
    directory: Optional[Path] = None,
    inline_initializers: bool = True,
    formatted: bool = True,
) -> tuple[str, dict[str, Callable]]:
    """The script's text, and the objects to inject when initializers are not inlined.

    `directory` is where the script will live (default: the working directory): the
    folders the models were imported from are recorded relative to it. Built-in
    initializers are always inlined; others only with `inline_initializers`.
    """
    collector = _runtime_collector(plan)
    runtime_end = len(collector.definitions)
    injected: dict[str, Callable] = {}
    initializer_names: dict[int, str] = {}
    rehearsed: list[str] = []
    for pair in plan.special_pairs:
        func = pair.initializer.func
        if id(func) in initializer_names:
            continue
        if inline_initializers or pair.initializer.origin == "built-in":
            initializer_names[id(func)] = _inline_initializer(collector, pair)
            if pair.initializer.origin == "built-in":
                rehearsed.append(initializer_names[id(func)])
        else:
            name = collector.claim(_identifier(getattr(func, "__name__", "")))
            initializer_names[id(func)] = name
            injected[name] = func
    tables, folded = _table_rows(plan, initializer_names)
    expand = ""
    if folded:  # the runtime's expansion of folded rows, only in scripts that fold
        from ..runtime.core import tables as folded_tables

        expand = collector.add_at(runtime_end, folded_tables.expand_rows)
    directory = Path.cwd() if directory is None else Path(directory)
    context = {
        "version": __version__,
        "command": plan.command,
        "base_framework": plan.base.framework,
        "raw_framework": plan.raw.framework,
        "base_description": plan.base.description,
        "raw_description": plan.raw.description,
        "summary": _summary(plan),
        "setting_lines": script_lines(plan.notes),
        "unknown_lines": script_lines(plan.notes, unknowns=True),
        "matched_by_path": any(
            p.matched_by in MATCH_COMMENTS and p.matched_by != "calls"
            for p in plan.pairs
        ),
        "matched_in_call_order": any(p.matched_by == "calls" for p in plan.pairs),
        "file_name": file_name,
        "base_suffix": CHECKPOINT_SUFFIX[plan.base.framework],
        "base_formats": CHECKPOINT_FORMATS[plan.base.framework],
        "raw_suffix": CHECKPOINT_SUFFIX[plan.raw.framework],
        "module_name": Path(file_name).stem,
        "import_groups": _import_groups(collector),
        "quiet_imports": bool(NOISY_IMPORTS & collector.imported_modules),
        "definitions": DEFINITIONS,
        "initializer_names": list(dict.fromkeys(initializer_names.values())),
        "rehearsed_names": rehearsed,
        "base_spec": _spec_literal(plan.base.spec, directory),
        "raw_spec": _spec_literal(plan.raw.spec, directory),
        "regenerate": json.dumps(plan.command or "padiff_gen.emit(...)"),
        "folded_tables": folded,
        "expand_rows": expand,
    }
    # The rows sit between `# fmt: off` and `# fmt: on`, which black leaves as they are:
    # format the script with one placeholder line per table, then put the rows in. For
    # thousands of tensors this saves most of the time black would spend on the tables.
    placeholders = {
        name: [_placeholder(name)] if rows else [] for name, rows in tables.items()
    }
    text = _environment().get_template(TEMPLATE).render(**context, **placeholders)
    definitions = join_definitions(collector.definitions)
    if formatted:
        # The runtime is most of the script and the same in script after script: it is
        # formatted on its own (black's output is the same: top-level statements with
        # two blank lines around them), and kept (padiff_gen.cache).
        text = format_source(text)
        definitions = format_cached(definitions)
    text = text.replace(DEFINITIONS + "\n", definitions, 1)
    for name, rows in tables.items():
        if rows:
            text = text.replace(
                f"    {_placeholder(name)}\n",
                "".join(f"    {row}\n" for row in rows),
                1,
            )
    return text, injected


def _runtime_collector(plan: Plan) -> SourceCollector:
    """A collector holding the runtime the script inlines. Copying it out of padiff-gen's
    modules (libcst parses and resolves each) takes seconds and gives the same code for
    the same helpers and the same padiff-gen sources: it is kept on disk (see
    padiff_gen.cache), keyed by both, and copied again only when either changes.
    """
    from .. import cache

    helpers = _runtime_helpers(plan)
    substitutes = _substitutes(plan)
    key = cache.key(
        "runtime",
        sorted((name, *locate(helper)) for name, helper in helpers.items()),
        sorted((*k, *v) for k, v in substitutes.items()),
        sorted(TEMPLATE_NAMES),
    )
    state = cache.load(key)
    if state is not None:
        return SourceCollector.from_state(state)
    collector = SourceCollector(reserved=TEMPLATE_NAMES, substitutes=substitutes)
    for name, helper in helpers.items():
        collector.add(helper, name)
    cache.store(key, collector.state())
    return collector


def _import_groups(collector: SourceCollector) -> list[list[str]]:
    """The script's import lines; with paddle, `import warnings` to quiet its import."""
    groups = collector.imports
    noisy = NOISY_IMPORTS & collector.imported_modules
    if noisy and "import warnings" not in groups[0]:
        groups[0] = sorted(
            groups[0] + ["import warnings"],
            key=lambda line: (line.startswith("from "), line),
        )
    return groups


def _placeholder(table: str) -> str:
    return f"# padiff-gen: the rows of {table}"


def _table_rows(
    plan: Plan, initializer_names: dict[int, str]
) -> tuple[dict[str, list[str]], list[str]]:
    """The lines of the script's tables, one per tensor or special layer, with runs of
    rows that differ only by layer or expert indices folded (padiff_gen.plan.fold); and the
    names of the tables that fold, which the script writes out when loaded."""
    tables = {
        "tensor_rows": [
            fold.Row(
                (
                    c.base_path,
                    c.raw.path,
                    c.transform.text(),
                    c.base_shape,
                    c.raw.shape,
                ),
                _row_comment(p, c),
            )
            for p in plan.pairs
            for c in p.copies
        ],
        "special_rows": [
            fold.Row(
                (p.base.path, p.raw.path, initializer_names[id(p.initializer.func)]),
                _row_comment(p),
            )
            for p in plan.special_pairs
        ],
        "checkpoint_rows": [
            fold.Row(
                (r.keys, r.tensor.path, r.transform.text(), r.shapes, r.tensor.shape)
            )
            for r in plan.checkpoint_rows
        ],
        "special_tensor_rows": [
            fold.Row((role, t.path, t.shape))
            for p in plan.special_pairs
            for role, unit in (("base", p.base), ("raw", p.raw))
            for t in unit.tensors
        ],
    }
    folded = fold.fold_tables(tables)
    lines = {
        name: fold.lines(items, literal, indent="") for name, items in folded.items()
    }
    changed = [TABLE_NAMES[name] for name in tables if folded[name] != tables[name]]
    return lines, changed


# The script's name of each table.
TABLE_NAMES = {
    "tensor_rows": "TENSOR_TABLE",
    "special_rows": "SPECIAL_INITS",
    "checkpoint_rows": "CHECKPOINT_TABLE",
    "special_tensor_rows": "SPECIAL_INIT_TENSORS",
}


def _row_comment(pair: UnitPair, copy: Optional[TensorCopy] = None) -> str:
    """A table row's trailing comment: how its pair was matched, if not by position, the
    layout of a fused or stacked tensor, when the copy is exact, and a setting that
    differs."""
    remarks = (
        [MATCH_COMMENTS[pair.matched_by]] if pair.matched_by in MATCH_COMMENTS else []
    )
    if pair.layout and copy is not None and not copy.transform.simple:
        remarks.append(pair.layout)
    if copy is not None and copy.note:
        remarks.append(copy.note)
    if copy is not None and copy.condition:
        remarks.append(copy.condition)
    if pair.difference:
        remarks.append(f"differs: {pair.difference}")
    return "; ".join(remarks)


def _identifier(name: str) -> str:
    """A usable script name for an injected callable (a lambda's name is "<lambda>")."""
    if name.isidentifier() and not keyword.iskeyword(name):
        return name
    return "special_initializer"


def _inline_initializer(collector: SourceCollector, pair: UnitPair) -> str:
    """Copy a pair's initializer into the script; on failure, say which pair needs it."""
    try:
        return collector.add(pair.initializer.func)
    except InlineError as error:
        raise InlineError(
            f"The initializer for base `{pair.base.path}` ({pair.base.class_name}) / raw "
            f"`{pair.raw.path}` ({pair.raw.class_name}), registered for "
            f"{pair.initializer.key.describe()} by {pair.initializer.origin}, cannot be "
            f"copied into the script. {error.message}",
            error.hint,
        ) from error


def join_definitions(codes: list[str]) -> str:
    """Top-level definitions, constants grouped together, functions two lines apart."""
    text = ""
    previous_simple = None
    for code in codes:
        first = next(line for line in code.splitlines() if not line.startswith("#"))
        simple = not first.startswith(("def ", "class ", "@", "async def "))
        if previous_simple is not None:
            text += "\n" if (simple and previous_simple) else "\n\n\n"
        text += code + "\n"
        previous_simple = simple
    return text


def format_source(text: str) -> str:
    return black.format_str(text, mode=BLACK_MODE)


# The line that stands for the runtime's definitions while the rest is formatted.
DEFINITIONS = "# padiff-gen: the runtime's definitions"


def format_cached(text: str) -> str:
    """format_source, kept on disk for the same text and black version."""
    from .. import cache

    name = cache.key(
        "black", black.__version__, hashlib.sha256(text.encode()).hexdigest()
    )
    found = cache.load(name)
    if isinstance(found, str):
        return found
    formatted = format_source(text)
    cache.store(name, formatted)
    return formatted
