"""Running configured targets: pick them, apply command-line overrides, emit them.

Several targets run in one process. Each sees only the ``--init-module`` registrations it
names (:func:`registrations_for`), so a target's script is the same whether it is emitted
alone or together with others.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, ContextManager, Iterator, Optional, Sequence

from .. import progress
from ..write import provenance
from .config import Config, Target
from ..errors import UsageError
from ..load.plugins import init_module_origin, origin_kind
from ..special_init import SpecialInitPool, global_special_init_pool

if TYPE_CHECKING:
    from ..api import Script

log = logging.getLogger("padiff_gen")

# Flags that describe the models of one target; they make sense for one target at a time.
MODEL_FLAGS = (
    ("base", "--base"),
    ("raw", "--raw"),
    ("base_kwargs", "--base-kwargs"),
    ("raw_kwargs", "--raw-kwargs"),
    ("map", "--map"),
)


def shown(path: Path) -> str:
    """A path for messages, relative to the working directory."""
    return os.path.relpath(path)


def use_root(root: Path) -> None:
    """Model and initializer modules are imported relative to the configuration's folder."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def select_targets(
    config: Optional[Config], args: argparse.Namespace
) -> Optional[list[Target]]:
    """The configured targets a command works on, flags applied; None for a one-off run.

    ``--target NAME`` or ``-o PATH`` picks targets; both ``--base`` and ``--raw`` without
    either means a one-off run that ignores the configuration; otherwise all targets.
    """
    names = getattr(args, "target", None) or []
    output = getattr(args, "output", None)
    if config is None or not config.targets:
        if names:
            raise UsageError(
                f"--target {names[0]} was given, but no pyproject.toml with "
                "[[tool.padiff-gen.targets]] was found in this folder or above.",
                "Run from inside the model repository, or give --base and --raw.",
            )
        return None
    if names:
        by_name = {target.name: target for target in config.targets}
        for name in names:
            if name not in by_name:
                raise UsageError(
                    f"--target {name}: {config.path} has no target named {name!r} "
                    f"(its targets: {config.names()}).",
                    "Use one of those names, or give the target a `name` in the file.",
                )
        selected = [by_name[name] for name in names]
    elif output is not None:
        target = config.target_for(Path(output))
        if target is None:
            if args.base and args.raw:
                return None
            raise UsageError(
                f"-o {output} is not the output of a target in {config.path} (its targets: "
                f"{config.names()}).",
                "Give --base and --raw for a one-off script, or add the target to the file.",
            )
        selected = [target]
    elif args.base and args.raw:
        return None
    else:
        selected = list(config.targets)
    given = [flag for attribute, flag in MODEL_FLAGS if getattr(args, attribute)]
    if given and len(selected) > 1:
        raise UsageError(
            f"{given[0]} describes one target's models, but {len(selected)} targets are "
            f"selected ({', '.join(t.name for t in selected)}).",
            "Pick one with --target NAME or -o PATH.",
        )
    return [override(target, args) for target in selected]


def override(target: Target, args: argparse.Namespace) -> Target:
    """The target with the values given on the command line instead of the configured ones."""
    from ..load.load import parse_kwargs

    changes: dict = {}
    if args.base:
        changes["base"] = args.base
    if args.raw:
        changes["raw"] = args.raw
    if args.base_kwargs is not None:
        changes["base_kwargs"] = parse_kwargs(args.base_kwargs, "--base-kwargs")
    if args.raw_kwargs is not None:
        changes["raw_kwargs"] = parse_kwargs(args.raw_kwargs, "--raw-kwargs")
    # --map and --init-module always take a value, so an empty list means "not given".
    if args.map:
        changes["maps"] = tuple(args.map)
    if args.layer_map is not None:
        changes["layer_map"] = args.layer_map
    if args.match is not None:
        changes["match"] = args.match
    if args.init_module:
        changes["init_modules"] = tuple(args.init_module)
    if getattr(args, "layout", None):
        changes["layouts"] = tuple(args.layout)
    if getattr(args, "input", None):
        changes["inputs"] = tuple(args.input)
    return dataclasses.replace(
        target, **changes, from_flags=target.from_flags | frozenset(changes)
    )


def target_sources(target: Target) -> ContextManager[None]:
    """Inside, messages about the target's models name its keys and its file."""
    from ..load.load import InputSource, input_sources

    if not target.config:
        return contextlib.nullcontext()
    return input_sources(
        *(
            InputSource(
                role,
                target=target.name,
                config=shown(Path(target.config)),
                spec_from_flag=role in target.from_flags,
                kwargs_from_flag=f"{role}_kwargs" in target.from_flags,
            )
            for role in ("base", "raw")
        )
    )


@contextlib.contextmanager
def registrations_for(
    init_modules: Sequence[str], pool: SpecialInitPool = global_special_init_pool
) -> Iterator[None]:
    """Inside, the pool holds no registrations of --init-module modules other than these.

    The pool's history is replayed without them (later registrations still override earlier
    ones), and replayed in full on the way out. Modules named here that were imported
    before keep their registrations without being imported again.
    """
    named = {init_module_origin(module) for module in init_modules}

    def replay(keep) -> None:
        entries = {}
        for entry in pool.history():
            if keep(entry):
                entries[entry.key] = entry
        pool.restore(entries.items())

    replay(lambda e: origin_kind(e.origin) != "init-module" or e.origin in named)
    try:
        yield
    finally:
        replay(lambda e: True)


def derive_target(target: Target, root: Optional[Path] = None) -> str:
    """The script ``padiff-gen emit`` writes for a target (paths relative to ``root``,
    by default the working directory)."""
    return derive_target_script(target, root).text


def derive_target_script(target: Target, root: Optional[Path] = None) -> "Script":
    """:func:`derive_target`, with the plan."""
    from .options import derive_script

    with registrations_for(target.init_modules), target_sources(target):
        return derive_script(target.argv(), root)


def emit_targets(
    config: Config,
    targets: Sequence[Target],
    force: bool,
    written: Callable[[Path, set[str]], None] = lambda path, opened: None,
) -> int:
    """Emit every target, or none: all scripts are made before the first is written.

    ``written(path, opened)`` is called for each script on disk (written or found up to
    date) with the files deriving it read (:func:`padiff_gen.write.provenance.reading`).

    A target's output folder is created when missing (the configuration names it on
    purpose; a mistyped ``-o`` folder is refused instead, see :mod:`padiff_gen.write.write`).
    """
    from ..api import decided_note, matched_by_name_note
    from ..write.write import check_output_path, write_atomically

    use_root(config.root)
    for target in targets:  # fail before the slow part
        check_output_path(config.root / target.output, force, create_folder=True)
    scripts, reads = [], []
    for number, target in enumerate(targets, start=1):
        with progress.prefix(f"[{number}/{len(targets)}] {target.output}:"):
            with provenance.reading() as opened:
                scripts.append(derive_target_script(target, config.root))
            reads.append(opened)
    for target, script, opened in zip(targets, scripts, reads):
        path = config.root / target.output
        if _holds(path, script.text):
            log.info("%s is up to date", shown(path))
            written(path, opened)
            continue
        if not path.parent.is_dir():
            path.parent.mkdir(parents=True)
            log.info("created the folder %s", shown(path.parent))
        write_atomically(path, script.text, force)
        written(path, opened)
        log.info("wrote %s", shown(path))
        for note in (
            decided_note(script.plan),
            matched_by_name_note(script.plan, f"target {target.name} ({shown(path)})"),
        ):
            if note:
                log.info(note)
    return 0


def _holds(path: Path, text: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == text
    except (OSError, UnicodeDecodeError):
        return False
