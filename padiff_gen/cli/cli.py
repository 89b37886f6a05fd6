"""The ``padiff-gen`` command: a thin shell over :mod:`padiff_gen.api`.

Exit codes: 0 success, 1 the models do not map (or, for check, the file differs; for
verify, the outputs differ), 2 usage errors, 3 an unexpected error (a bug in padiff-gen, or
an exception from the models' own code that padiff-gen did not anticipate). Every error
prints one paragraph and no traceback; ``--debug`` (before or after the command) shows it.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import sys
import traceback
import warnings
from typing import Any, Optional, Sequence

from .. import progress
from .commands import add_commands
from ..errors import PadiffGenError, UsageError
from .options import add_emit_arguments, add_target_argument
from .options import add_model_arguments as _add_model_arguments
from .options import derive, emit_options  # noqa: F401  (derive: tests and examples)
from ..term import fill_paragraph
from ..version import __version__

EXIT_INTERNAL_ERROR = 3


class _CommandParser(argparse.ArgumentParser):
    """The top-level parser: a flag that no parser knows is the command's mistake.

    argparse hands arguments a subcommand does not know back to the top level, which
    would print the top-level usage; the command's own usage (and the flag it probably
    meant) helps more.
    """

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            command = self._commands().get(getattr(parsed, "command", None), self)
            command.error(_unrecognized(command, unknown))
        return parsed

    def _commands(self) -> dict[str, argparse.ArgumentParser]:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}


def _unrecognized(parser: argparse.ArgumentParser, unknown: list[str]) -> str:
    message = f"unrecognized arguments: {' '.join(unknown)}"
    flags = [
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag.startswith("--")
    ]
    for word in unknown:
        near = difflib.get_close_matches(word.partition("=")[0], flags, n=1)
        if word.startswith("--") and near:
            message += f" (did you mean {near[0]}?)"
            break
    return message


def build_parser() -> argparse.ArgumentParser:
    # The options every command takes, before or after the command's name. SUPPRESS keeps
    # a subcommand from resetting what was given before it (`padiff-gen --debug emit`);
    # main() fills in the defaults.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show tracebacks",
    )
    common.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print only errors",
    )
    parser = _CommandParser(
        prog="padiff-gen",
        description="Generate standalone scripts that copy weights between torch and paddle.",
        parents=[common],
    )
    parser.add_argument(
        "--version", action="version", version=f"padiff-gen {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    emit = commands.add_parser(
        "emit", parents=[common], help="write an init_weights.py script"
    )
    add_emit_arguments(emit)
    emit.set_defaults(handler=run_emit)
    add_commands(commands, common)
    add_verify_command(commands, common)
    return parser


def add_verify_command(commands: Any, common: argparse.ArgumentParser) -> None:
    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="copy the weights, run both models on random inputs, compare the outputs",
        description="Copy the weights (the plan, or --script), run both models in eval mode "
        "on the same random inputs, and print how far their outputs differ. Exit 0 when "
        "they match, 1 when not (naming the first paired sub-layer whose outputs differ).",
    )
    _add_model_arguments(verify, specs_required=False, probe_input=False)
    verify.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="SHAPE[:DTYPE[:HIGH]]",
        help="one forward argument, e.g. 2,3,224,224 or 1,16:int64:1000 (repeatable; "
        "with --target, default: the target's configured inputs)",
    )
    verify.add_argument(
        "--script",
        metavar="PATH",
        help="apply this generated script instead of the plan (default models: its specs)",
    )
    verify.add_argument("--atol", type=float, default=1e-5, help="default 1e-5")
    verify.add_argument(
        "--rtol",
        type=float,
        default=1e-5,
        help="relative to the output's scale: equal when max|diff| <= atol + rtol * "
        "max|base output| (default 1e-5)",
    )
    verify.add_argument(
        "--seed", type=int, default=0, help="seed of the random weights and inputs"
    )
    verify.add_argument(
        "--keep-weights",
        action="store_true",
        help="do not randomize the base model's weights first",
    )
    verify.add_argument(
        "--base-ckpt",
        metavar="PATH",
        help="load the base weights from this checkpoint instead of random ones "
        "(the formats generated scripts read)",
    )
    add_target_argument(verify)
    verify.set_defaults(handler=run_verify)


def run_emit(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..write import provenance
    from ..api import emit
    from .check import remember
    from .config import find_config
    from .targets import emit_targets, select_targets

    config = find_config()
    targets = select_targets(config, args)
    if targets is not None:
        return emit_targets(
            config,
            targets,
            args.force,
            written=lambda path, opened: remember(path, config, opened),
        )
    if not (args.base and args.raw):
        raise UsageError(
            "emit needs --base and --raw (or targets in [tool.padiff-gen] of "
            "pyproject.toml, in this folder or above).",
            "Write e.g. padiff-gen emit --base torch:models.Net --raw paddle:models.Net "
            "-o init_weights.py.",
        )
    with provenance.reading() as opened:
        text = emit(
            args.base,
            args.raw,
            args.output,
            force=args.force,
            check_outputs=True,  # run both models after copying, where they are small
            **emit_options(args),
        )
    if args.output is None:
        sys.stdout.write(text)
    else:
        remember(Path(args.output), config, opened)
        logging.getLogger("padiff_gen").info("wrote %s", args.output)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from ..verify import verify

    base, raw, options = args.base, args.raw, emit_options(args)
    target = _verify_target(args)
    if target is not None:
        base, raw, options = target.base, target.raw, target.options()
    configured = options.pop("inputs", None) or []  # verify's own --input, below
    inputs = args.input or (configured if target is not None else [])
    if not inputs:
        raise UsageError(
            "verify needs the models' inputs: none given"
            + (f" and target {target.name} configures none" if target else "")
            + ".",
            "Give one --input per forward argument, e.g. --input 2,3,224,224 or "
            "--input 1,16:int64:1000"
            + (
                " (or `inputs = [...]` in the target's configuration)."
                if target
                else "."
            ),
        )
    result = verify(
        base,
        raw,
        inputs,
        atol=args.atol,
        rtol=args.rtol,
        script=args.script,
        seed=args.seed,
        randomize=not args.keep_weights,
        base_checkpoint=args.base_ckpt,
        **options,
    )
    print(result.report())
    return 0 if result.equal else 1


def _verify_target(args: argparse.Namespace):
    """The configured target verify works on: one named with --target, or the only one
    when neither --base/--raw nor --script is given; None for a one-off run."""
    from .config import find_config
    from .targets import select_targets, use_root

    if not args.target and (args.script or (args.base and args.raw)):
        return None
    config = find_config()
    targets = select_targets(config, args)
    if targets is None:
        return None
    if len(targets) > 1:
        raise UsageError(
            f"{config.path} configures {len(targets)} targets "
            f"({', '.join(t.name for t in targets)}); verify checks one.",
            "Pick it with --target NAME.",
        )
    use_root(config.root)
    return targets[0]


def _configure(args: argparse.Namespace) -> None:
    # Model modules are named relative to the working directory, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    warnings.filterwarnings("ignore", message=".*ccache.*")
    progress.configure(progress.should_show(sys.stderr, args.quiet))
    handler = progress.ProgressAwareHandler(sys.stderr)
    handler.setFormatter(ParagraphFormatter("%(message)s"))
    logger = logging.getLogger("padiff_gen")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.ERROR if args.quiet else logging.INFO)
    logger.propagate = False


class ParagraphFormatter(logging.Formatter):
    """Wraps one-line messages (notes) like errors; leaves laid-out text alone."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if "\n" in text else fill_paragraph(text)


def _print_error(text: str) -> None:
    print(fill_paragraph(text), file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    args.quiet = getattr(args, "quiet", False)
    logger = logging.getLogger("padiff_gen")
    kept = (logger.handlers[:], logger.level, logger.propagate)
    _configure(args)
    try:
        return _handle(args)
    finally:  # main() called in a program leaves its logging as it was
        logger.handlers[:], logger.level, logger.propagate = kept


def _handle(args: argparse.Namespace) -> int:
    """Run the command; a PadiffGenError becomes its paragraph and exit code."""
    try:
        return args.handler(args)
    except PadiffGenError as error:
        progress.clear()
        if args.debug:
            traceback.print_exc()
        _print_error(f"padiff-gen: error: {error.text}")
        if error.detail:
            print(f"\n{error.detail}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("padiff-gen: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `padiff-gen check | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except Exception as error:  # not a mistake we know how to explain
        if args.debug:
            traceback.print_exc()
        lines = str(error).strip().splitlines()
        detail = (
            f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
        )
        _print_error(
            f"padiff-gen: internal error: {detail}. This was not expected: it is a bug in "
            "padiff-gen, or an exception from the models' own code that padiff-gen could "
            "not explain. "
            + (
                "The traceback is above."
                if args.debug
                else "Rerun with --debug to see the traceback; please report it if it "
                "points into padiff-gen."
            )
        )
        return EXIT_INTERNAL_ERROR
