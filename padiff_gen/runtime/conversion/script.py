"""The generated script's command line."""

import argparse
import sys

from .output import OUTPUT_FORMATS

DTYPES = ("bfloat16", "float16", "float32")


def parse_args(argv, description, raw_framework, base_formats):
    """The options of `python init_weights.py`; `base_formats` describes what
    --base-ckpt reads."""
    formats = [
        name
        for name, (_, frameworks) in OUTPUT_FORMATS.items()
        if raw_framework in frameworks
    ]
    suffixes = ", ".join("/".join(OUTPUT_FORMATS[name][0]) for name in formats)
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--base-ckpt",
        metavar="PATH",
        help=f"the base model's checkpoint ({base_formats}); it is converted one tensor "
        "at a time, without building either model with its weights",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help=f"write the raw model's weights here: a file ({suffixes}; the suffix "
        "gives the format), or a folder for sharded safetensors with "
        "model.safetensors.index.json",
    )
    parser.add_argument(
        "--format",
        choices=formats,
        help="the output format, when -o's suffix does not say it",
    )
    parser.add_argument(
        "--max-shard-size",
        metavar="SIZE",
        help="write sharded safetensors into the folder -o, each shard at most SIZE "
        "(e.g. 5GB, 500MB; 5GB when -o is a folder)",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help="write every floating-point tensor in this dtype (rounded as the "
        "framework's own cast rounds); by default each keeps the raw model's dtype",
    )
    parser.add_argument(
        "--ckpt-key",
        metavar="KEY",
        help="the entry of the checkpoint that holds the state dict, when it wraps it "
        '(e.g. {"model": state_dict, "epoch": 3}); found by itself when only one fits',
    )
    parser.add_argument(
        "--strip-prefix",
        metavar="PREFIX",
        help="remove PREFIX from the checkpoint's keys (e.g. module. of a DDP "
        "checkpoint); found by itself when every key has it and the rest fits",
    )
    parser.add_argument(
        "--base-as-built",
        action="store_true",
        help="with -o and no --base-ckpt: save the raw model filled from the base model "
        "as its constructor builds it (random weights, unless it loads its own)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing but errors"
    )
    args = parser.parse_args(argv)
    args.progress = not args.quiet and sys.stderr.isatty()
    return args
