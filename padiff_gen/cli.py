"""The ``padiff-gen`` command: a thin shell over :mod:`padiff_gen.api`.

Exit codes: 0 success, 1 the models do not map (or, for check, the file differs; for
verify, the outputs differ), 2 usage errors, 3 an unexpected error (a bug in padiff-gen, or
an exception from the models' own code that padiff-gen did not anticipate). Every error
prints one paragraph and no traceback; ``--debug`` (before or after the command) shows it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import traceback
import warnings
from pathlib import Path
from typing import Any, Optional, Sequence

from . import __version__, progress
from .commands import add_commands, add_target_argument
from .errors import PadiffGenError, UsageError

EXIT_INTERNAL_ERROR = 3


def _add_model_arguments(
    parser: argparse.ArgumentParser, specs_required: bool = True
) -> None:
    parser.add_argument(
        "--base",
        required=specs_required,
        metavar="FW:PATH",
        help="base model (copied from): torch:pkg.module.Net or paddle:...",
    )
    parser.add_argument(
        "--raw",
        required=specs_required,
        metavar="FW:PATH",
        help="raw model (copied into)",
    )
    parser.add_argument(
        "--base-kwargs", metavar="JSON", help="constructor kwargs for --base"
    )
    parser.add_argument(
        "--raw-kwargs", metavar="JSON", help="constructor kwargs for --raw"
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="BASE_PATH=RAW_PATH",
        help="a manual layer-map pair (repeatable)",
    )
    parser.add_argument(
        "--layer-map",
        default=None,  # None: not given, so a configured value stands (else "auto")
        choices=("auto", "none"),
        help="auto: map every layer with a registered initializer (default)",
    )
    parser.add_argument(
        "--match",
        default=None,  # None: not given, so a configured value stands (else "auto")
        choices=("auto", "order", "names"),
        help="pair layers in definition order, by path (names), or in order and by "
        "path when order fails (auto, default)",
    )
    parser.add_argument(
        "--init-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module that registers initializers (repeatable)",
    )


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
    parser = argparse.ArgumentParser(
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
    _add_model_arguments(emit, specs_required=False)
    add_target_argument(emit)
    emit.add_argument(
        "-o", "--output", metavar="PATH", help="output file (default: stdout)"
    )
    emit.add_argument(
        "--force",
        action="store_true",
        help="overwrite an output file that padiff-gen did not generate",
    )
    emit.set_defaults(handler=run_emit)
    add_commands(commands, common, _add_model_arguments)
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
    _add_model_arguments(verify, specs_required=False)
    verify.add_argument(
        "--input",
        action="append",
        default=[],
        required=True,
        metavar="SHAPE[:DTYPE[:HIGH]]",
        help="one forward argument, e.g. 2,3,224,224 or 1,16:int64:1000 (repeatable)",
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
    verify.set_defaults(handler=run_verify)


def emit_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`padiff_gen.api.emit` from parsed ``emit`` flags."""
    from .load import parse_kwargs

    return {
        "base_kwargs": parse_kwargs(args.base_kwargs, "--base-kwargs"),
        "raw_kwargs": parse_kwargs(args.raw_kwargs, "--raw-kwargs"),
        "layer_map": args.layer_map or "auto",
        "maps": args.map,
        "match": args.match or "auto",
        "init_modules": args.init_module,
    }


def derive(argv: Sequence[str], root: Optional[Path] = None) -> str:
    """The text that ``padiff-gen emit ARGV`` would write, computed in memory; a relative
    -o is relative to ``root`` (by default the working directory)."""
    from .api import emit_text

    args = build_parser().parse_args(["emit", *argv])
    directory = None
    if root is not None and args.output is not None:
        directory = (Path(root) / args.output).parent
    return emit_text(
        args.base, args.raw, args.output, directory=directory, **emit_options(args)
    )


def run_emit(args: argparse.Namespace) -> int:
    from .api import emit
    from .config import find_config
    from .targets import emit_targets, select_targets

    config = find_config()
    targets = select_targets(config, args)
    if targets is not None:
        return emit_targets(config, targets, args.force)
    if not (args.base and args.raw):
        raise UsageError(
            "emit needs --base and --raw (or targets in [tool.padiff-gen] of "
            "pyproject.toml, in this folder or above).",
            "Write e.g. padiff-gen emit --base torch:models.Net --raw paddle:models.Net "
            "-o init_weights.py.",
        )
    text = emit(
        args.base, args.raw, args.output, force=args.force, **emit_options(args)
    )
    if args.output is None:
        sys.stdout.write(text)
    else:
        logging.getLogger("padiff_gen").info("wrote %s", args.output)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from .verify import verify

    options = emit_options(args)
    result = verify(
        args.base,
        args.raw,
        args.input,
        atol=args.atol,
        rtol=args.rtol,
        script=args.script,
        seed=args.seed,
        randomize=not args.keep_weights,
        **options,
    )
    print(result.report())
    return 0 if result.equal else 1


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


def _fill(text: str) -> str:
    # Wrap for the terminal, but never inside a flag, a path or a spec.
    return textwrap.fill(
        text, width=100, break_on_hyphens=False, break_long_words=False
    )


class ParagraphFormatter(logging.Formatter):
    """Wraps one-line messages (notes) like errors; leaves laid-out text alone."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if "\n" in text else _fill(text)


def _print_error(text: str) -> None:
    print(_fill(text), file=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    args.quiet = getattr(args, "quiet", False)
    _configure(args)
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
