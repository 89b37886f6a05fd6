"""The example pairs whose generated scripts are committed under generated_examples/.

    python -m examples.catalog --refresh    # rewrite generated_examples/ (make golden)

Each entry: the `padiff-gen emit` arguments (without -o), and the inputs that exercise the
models (``[dtype, shape]`` or ``[dtype, shape, high]`` for integer tokens).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT_DIR = "generated_examples"


def _kwargs(**values) -> str:
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Example:
    name: str
    args: tuple[str, ...]
    inputs: tuple = ()
    select: int | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def output(self) -> str:
        return f"{OUTPUT_DIR}/{self.name}.py"

    @property
    def argv(self) -> list[str]:
        return [*self.args, "-o", self.output]


ATTENTION = _kwargs(embed_dim=16, num_heads=4)
TORCH_ATTENTION = _kwargs(embed_dim=16, num_heads=4, batch_first=True)
TRANSFORMER = dict(
    d_model=16, nhead=4, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=32
)

EXAMPLES = (
    Example(
        "mlp_torch_to_paddle",
        (
            "--base",
            "torch:examples.mlp.TorchMLP",
            "--raw",
            "paddle:examples.mlp.PaddleMLP",
        ),
        (("float32", (4, 16)),),
    ),
    Example(
        "cnn_torch_to_paddle",
        (
            "--base",
            "torch:examples.cnn.TorchCNN",
            "--raw",
            "paddle:examples.cnn.PaddleCNN",
        ),
        (("float32", (2, 3, 8, 8)),),
    ),
    Example(
        "cnn_paddle_to_torch",
        (
            "--base",
            "paddle:examples.cnn.PaddleCNN",
            "--raw",
            "torch:examples.cnn.TorchCNN",
        ),
        (("float32", (2, 3, 8, 8)),),
    ),
    Example(
        "cnn_torch_to_torch",
        (
            "--base",
            "torch:examples.cnn.TorchCNN",
            "--raw",
            "torch:examples.cnn.TorchCNN",
        ),
        (("float32", (2, 3, 8, 8)),),
    ),
    Example(
        "lstm_torch_to_paddle",
        (
            "--base",
            "torch:examples.lstm.TorchTagger",
            "--raw",
            "paddle:examples.lstm.PaddleTagger",
        ),
        (("int64", (3, 7), 50),),
    ),
    Example(
        "attention_torch_to_paddle",
        (
            "--base",
            "torch:torch.nn.MultiheadAttention",
            "--base-kwargs",
            TORCH_ATTENTION,
            "--raw",
            "paddle:paddle.nn.MultiHeadAttention",
            "--raw-kwargs",
            ATTENTION,
        ),
        (("float32", (2, 5, 16)),) * 3,
        select=0,
    ),
    Example(
        "attention_paddle_to_torch",
        (
            "--base",
            "paddle:paddle.nn.MultiHeadAttention",
            "--base-kwargs",
            ATTENTION,
            "--raw",
            "torch:torch.nn.MultiheadAttention",
            "--raw-kwargs",
            TORCH_ATTENTION,
        ),
        (("float32", (2, 5, 16)),) * 3,
        select=0,
    ),
    Example(
        "transformer_torch_to_paddle",
        (
            "--base",
            "torch:torch.nn.Transformer",
            "--base-kwargs",
            _kwargs(**TRANSFORMER, dropout=0.0, batch_first=True),
            "--raw",
            "paddle:paddle.nn.Transformer",
            "--raw-kwargs",
            _kwargs(**TRANSFORMER, dropout=0.0),
        ),
        (("float32", (2, 5, 16)), ("float32", (2, 4, 16))),
    ),
    Example(
        "nested_torch_to_paddle",
        (
            "--base",
            "torch:examples.nested.TorchNested",
            "--raw",
            "paddle:examples.nested.PaddleNested",
        ),
        (("float32", (3, 8)),),
    ),
    Example(
        "reordered_torch_to_paddle",
        (
            "--base",
            "torch:examples.reordered.TorchReordered",
            "--raw",
            "paddle:examples.reordered.PaddleReordered",
        ),
        (("float32", (2, 3, 8, 8)),),
        notes="layers defined in a different order: matched by path",
    ),
    Example(
        "custom_init_torch_to_paddle",
        (
            "--base",
            "torch:examples.custom_layers.TorchBlock",
            "--raw",
            "paddle:examples.custom_layers.PaddleBlock",
            "--init-module",
            "examples.custom_inits",
        ),
        (("float32", (2, 8)),),
    ),
    Example(
        "moe_torch_to_paddle",
        (
            "--base",
            "torch:examples.moe.torch_model",
            "--base-kwargs",
            _kwargs(layers=8, odd=5),
            "--raw",
            "paddle:examples.moe.paddle_model",
            "--raw-kwargs",
            _kwargs(layers=8, odd=5),
        ),
        (("float32", (3, 8)),),
        notes="8 layers of 8 experts: rows folded by layer and expert",
    ),
)


def refresh() -> None:
    from padiff_gen.cli.cli import main

    for example in EXAMPLES:
        code = main(["emit", *example.argv, "--quiet"])
        if code != 0:
            sys.exit(code)
        print(f"refreshed {example.output}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--refresh", action="store_true", required=True)
    parser.parse_args()
    refresh()
