"""Model inputs given on the command line: ``--input 2,3,224,224`` or ``1,16:int64:1000``.

verify runs both models on them; emit runs both models on them to decide layouts that
shapes cannot tell apart (:mod:`padiff_gen.analysis.evidence.layout_probe`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import UsageError

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int32", "int64", "bool")
INPUT_PATTERN = re.compile(r"^\d+(,\d+)*(:[a-z0-9]+(:\d+)?)?$")


@dataclass(frozen=True)
class InputSpec:
    """One model input: ``2,3,224,224`` (float32) or ``1,16:int64:1000`` (ints in [0, 1000))."""

    shape: tuple[int, ...]
    dtype: str = "float32"
    high: int = 2

    @classmethod
    def parse(cls, text: str) -> "InputSpec":
        text = text.strip().replace(" ", "")
        if not INPUT_PATTERN.match(text):
            raise UsageError(
                f"--input {text!r} is not of the form SHAPE[:DTYPE[:HIGH]].",
                "Write e.g. --input 2,3,224,224 or --input 1,16:int64:1000 (integer "
                "inputs are drawn from [0, HIGH), default 2).",
            )
        shape_text, _, rest = text.partition(":")
        dtype, _, high = rest.partition(":")
        dtype = dtype or "float32"
        if dtype not in FLOAT_DTYPES + INT_DTYPES:
            raise UsageError(
                f"--input {text!r} names an unknown dtype {dtype!r}.",
                f"Use one of {', '.join(FLOAT_DTYPES + INT_DTYPES)}.",
            )
        if high and dtype not in INT_DTYPES:
            raise UsageError(
                f"--input {text!r} gives an upper bound to a {dtype} input.",
                "Only integer inputs take :HIGH, e.g. 1,16:int64:1000.",
            )
        shape = tuple(int(d) for d in shape_text.split(","))
        return cls(shape, dtype, int(high) if high else 2)

    def describe(self) -> str:
        text = ",".join(str(d) for d in self.shape)
        if self.dtype != "float32":
            text += f":{self.dtype}"
        if self.dtype in INT_DTYPES and self.high != 2:
            text += f":{self.high}"
        return text


def make_inputs(specs: Sequence[InputSpec], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    arrays = []
    for spec in specs:
        if spec.dtype in INT_DTYPES:
            arrays.append(
                rng.integers(0, spec.high, size=spec.shape).astype(spec.dtype)
            )
        else:
            values = rng.standard_normal(spec.shape)
            arrays.append(
                values.astype("float32" if spec.dtype == "bfloat16" else spec.dtype)
            )
    return arrays
