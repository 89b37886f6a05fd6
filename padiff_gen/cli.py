"""The ``padiff-gen`` command: a thin shell over :mod:`padiff_gen.api`.

Exit codes: 0 success, 1 the models do not map (or, for check, the file differs), 2 usage
errors. User mistakes print one paragraph and no traceback; ``--debug`` shows it.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap
import traceback
import warnings
from typing import Optional, Sequence

from . import __version__
from .errors import PadiffGenError


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--base",
        required=True,
        metavar="FW:PATH",
        help="base model (copied from): torch:pkg.module.Net or paddle:...",
    )
    parser.add_argument(
        "--raw", required=True, metavar="FW:PATH", help="raw model (copied into)"
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
        default="auto",
        choices=("auto", "none"),
        help="auto: map every layer with a registered initializer (default)",
    )
    parser.add_argument(
        "--init-module",
        action="append",
        default=[],
        metavar="MODULE",
        help="import a module that registers initializers (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    common.add_argument("-q", "--quiet", action="store_true", help="print only errors")
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
    _add_model_arguments(emit)
    emit.add_argument(
        "-o", "--output", metavar="PATH", help="output file (default: stdout)"
    )
    emit.add_argument(
        "--force",
        action="store_true",
        help="overwrite an output file that padiff-gen did not generate",
    )
    emit.set_defaults(handler=run_emit)
    return parser


def emit_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`padiff_gen.api.emit` from parsed ``emit`` flags."""
    from .load import parse_kwargs

    return {
        "base_kwargs": parse_kwargs(args.base_kwargs, "--base-kwargs"),
        "raw_kwargs": parse_kwargs(args.raw_kwargs, "--raw-kwargs"),
        "layer_map": args.layer_map,
        "maps": args.map,
        "init_modules": args.init_module,
    }


def derive(argv: Sequence[str]) -> str:
    """The text that ``padiff-gen emit ARGV`` would write, computed in memory."""
    from .api import emit_text

    args = build_parser().parse_args(["emit", *argv])
    return emit_text(args.base, args.raw, args.output, **emit_options(args))


def run_emit(args: argparse.Namespace) -> int:
    from .api import emit

    text = emit(args.base, args.raw, args.output, force=args.force, **emit_options(args))
    if args.output is None:
        sys.stdout.write(text)
    else:
        logging.getLogger("padiff_gen").info("wrote %s", args.output)
    return 0


def _configure(args: argparse.Namespace) -> None:
    # Model modules are named relative to the working directory, as with `python -m`.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    warnings.filterwarnings("ignore", message=".*ccache.*")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("padiff_gen")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.ERROR if args.quiet else logging.INFO)
    logger.propagate = False


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure(args)
    try:
        return args.handler(args)
    except PadiffGenError as error:
        if args.debug:
            traceback.print_exc()
        message = textwrap.fill(f"padiff-gen: error: {error.text}", width=100)
        print(message, file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("padiff-gen: interrupted", file=sys.stderr)
        return 130
