"""The command-line flags that several commands share, and what they mean to the API.

This module sits below every command module (``cli``, ``commands``, ``check``,
``targets``): it defines the model flags, parses a recorded ``padiff-gen emit`` command and
derives the script such a command writes, so that those modules never import each other
in a circle.
"""

from __future__ import annotations

import argparse
import contextlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence

from ..errors import UsageError
from ..term import COLOR_CHOICES

if TYPE_CHECKING:
    from ..api import Script


def add_model_arguments(
    parser: argparse.ArgumentParser,
    specs_required: bool = True,
    probe_input: bool = True,
) -> None:
    """``--base``, ``--raw``, their kwargs, ``--map``, ``--layer-map``, ``--match``,
    ``--init-module``, ``--layout`` (and ``--input``, unless the command has its own):
    the flags that describe two models and how they pair."""
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
    parser.add_argument(
        "--layout",
        action="append",
        default=[],
        metavar="KEY=CHOICE",
        help="how a fused or stacked tensor (or a square matrix of an unknown class) is "
        "laid out where shapes cannot tell; padiff-gen's message lists the choices "
        "(repeatable)",
    )
    if probe_input:
        parser.add_argument(
            "--input",
            action="append",
            default=[],
            metavar="SHAPE[:DTYPE[:HIGH]]",
            help="a forward argument to run both models on when deciding such layouts, "
            "e.g. 1,8:int64:32000 (repeatable; default: guessed from the first layer)",
        )


def add_target_argument(parser: argparse.ArgumentParser) -> None:
    """``--target NAME``: pick configured targets."""
    parser.add_argument(
        "--target",
        action="append",
        metavar="NAME",
        help="a target of [tool.padiff-gen] in pyproject.toml (repeatable)",
    )


def add_color_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--color",
        choices=COLOR_CHOICES,
        default="auto",
        help="colour the output (default: only on a terminal)",
    )


def add_emit_arguments(parser: argparse.ArgumentParser) -> None:
    """Everything ``padiff-gen emit`` takes (and a script's header records)."""
    add_model_arguments(parser, specs_required=False)
    add_target_argument(parser)
    parser.add_argument(
        "-o", "--output", metavar="PATH", help="output file (default: stdout)"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="overwrite an output file that padiff-gen did not generate",
    )


def emit_options(args: argparse.Namespace) -> dict:
    """Keyword arguments for :func:`padiff_gen.api.emit` from parsed model flags."""
    from ..load.load import parse_kwargs

    return {
        "base_kwargs": parse_kwargs(args.base_kwargs, "--base-kwargs"),
        "raw_kwargs": parse_kwargs(args.raw_kwargs, "--raw-kwargs"),
        "layer_map": args.layer_map or "auto",
        "maps": args.map,
        "match": args.match or "auto",
        "layouts": args.layout,
        "inputs": args.input,
        "init_modules": args.init_module,
    }


class _RaisingParser(argparse.ArgumentParser):
    """A parser whose errors are exceptions, not a usage line and an exit."""

    def error(self, message: str):  # type: ignore[override]
        raise argparse.ArgumentError(None, message)


def _emit_parser() -> argparse.ArgumentParser:
    parser = _RaisingParser(prog="padiff-gen emit", add_help=False)
    add_emit_arguments(parser)
    return parser


def parse_emit(argv: Sequence[str], what: str) -> argparse.Namespace:
    """``padiff-gen emit`` arguments (a recorded command), parsed; a UsageError if not."""
    messages = io.StringIO()
    try:
        with contextlib.redirect_stderr(messages):
            args = _emit_parser().parse_args(list(argv))
    except argparse.ArgumentError as error:
        raise UsageError(
            f"{what} cannot be parsed: {error.message}.",
            "Restore the header line as padiff-gen wrote it, or regenerate the file.",
        ) from None
    if not args.base or not args.raw:
        raise UsageError(
            f"{what} names no --base or no --raw model.",
            "Restore the header line as padiff-gen wrote it, or regenerate the file.",
        )
    return args


def derive(argv: Sequence[str], root: Optional[Path] = None) -> str:
    """The text that ``padiff-gen emit ARGV`` would write, computed in memory; a relative
    -o is relative to ``root`` (by default the working directory)."""
    return derive_script(argv, root).text


def derive_script(argv: Sequence[str], root: Optional[Path] = None) -> "Script":
    """:func:`derive`, with the plan."""
    from ..api import script_and_plan

    args = parse_emit(argv, "padiff-gen emit " + " ".join(argv))
    directory = None
    if root is not None and args.output is not None:
        directory = (Path(root) / args.output).parent
    return script_and_plan(
        args.base, args.raw, args.output, directory=directory, **emit_options(args)
    )
