"""Running many generated scripts of model pairs in one subprocess, for the layer tests.

A pairs module (tests/layer_pairs.py, tests/layout_pairs.py) defines ``CASES`` and two
factories, ``torch_model(case)`` and ``paddle_model(case)``. A :class:`Job` emits the
script of one case in one direction (optionally corrupted, to show that the comparison
catches a wrong copy), and :func:`run_jobs` runs them all standalone (padiff_gen
unimportable) in one subprocess, tests/check_scripts.py, since each process pays seconds
to import torch and paddle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional

from conftest import ROOT, subprocess_env
from padiff_gen.api import emit_text
from tests.layer_pairs import PADDLE_TO_TORCH, TORCH_TO_PADDLE

FRAMEWORKS = {
    TORCH_TO_PADDLE: ("torch", "paddle"),
    PADDLE_TO_TORCH: ("paddle", "torch"),
}
CHECK_SCRIPTS = ROOT / "tests" / "check_scripts.py"


def spec_args(module: str, case: str, direction: str) -> dict:
    """emit's arguments for one case of a pairs module, in one direction."""
    base, raw = FRAMEWORKS[direction]
    return {
        "base": f"{base}:{module}.{base}_model",
        "raw": f"{raw}:{module}.{raw}_model",
        "base_kwargs": {"case": case},
        "raw_kwargs": {"case": case},
    }


def cli_args(module: str, case: str, direction: str) -> list[str]:
    """The same, as `padiff-gen emit` flags."""
    args = spec_args(module, case, direction)
    return [
        *("--base", args["base"], "--raw", args["raw"]),
        *("--base-kwargs", json.dumps(args["base_kwargs"])),
        *("--raw-kwargs", json.dumps(args["raw_kwargs"])),
    ]


# ---------------------------------------------------------------- corruptions


def table_rows(text: str) -> list[tuple[int, tuple]]:
    """(line number, row) for every TENSOR_TABLE row of a generated script."""
    lines = text.splitlines()
    start = lines.index("TENSOR_TABLE = (")
    rows = []
    for number in range(start + 1, len(lines)):
        if lines[number] == ")":
            break
        code = lines[number].split("  # ")[0].strip().rstrip(",")
        rows.append((number, ast.literal_eval(code)))
    return rows


def replace_rows(
    text: str, edit: Callable[[dict[str, tuple]], dict[str, tuple]]
) -> str:
    """Rewrite TENSOR_TABLE rows: ``edit`` maps {raw path: row} to the rows to change."""
    lines = text.splitlines()
    rows = {row[1]: (number, row) for number, row in table_rows(text)}
    changes = edit({path: row for path, (_, row) in rows.items()})
    assert changes, "the corruption changed nothing"
    for path, row in changes.items():
        number = rows[path][0]
        assert rows[path][1] != row
        lines[number] = "    " + repr(tuple(row)) + ","
    return "\n".join(lines) + "\n"


def swap_raw_paths(first: str, second: str) -> Callable[[str], str]:
    """Copy two same-shaped tensors into each other's place: the shape checks still pass."""
    return swap_sources(first, second)


def drop_transpose(path: str) -> Callable[[str], str]:
    """Copy a square Linear weight without its transpose: the shape checks still pass."""

    def edit(rows: dict[str, tuple]) -> dict[str, tuple]:
        row = rows[path]
        assert row[2] == "transpose" and row[3] == row[3][::-1]
        return {path: (row[0], row[1], "copy", *row[3:])}

    return lambda text: replace_rows(text, edit)


def set_transform(path: str, old: str, new: str) -> Callable[[str], str]:
    """Edit the transform of the row of raw tensor ``path`` (``old`` -> ``new``)."""

    def edit(rows: dict[str, tuple]) -> dict[str, tuple]:
        row = rows[path]
        assert old in row[2], row
        return {path: (row[0], row[1], row[2].replace(old, new), *row[3:])}

    return lambda text: replace_rows(text, edit)


def reverse_sources(path: str) -> Callable[[str], str]:
    """Join a composite row's base tensors in the reverse order (gate and up swapped)."""

    def edit(rows: dict[str, tuple]) -> dict[str, tuple]:
        row = rows[path]
        assert isinstance(row[0], tuple), row
        return {path: (row[0][::-1], row[1], row[2], row[3][::-1], row[4])}

    return lambda text: replace_rows(text, edit)


def swap_sources(first: str, second: str) -> Callable[[str], str]:
    """Fill raw tensors ``first`` and ``second`` each from the other's base tensor (with
    its transform): every base tensor is still read, so only the outputs can tell."""

    def edit(rows: dict[str, tuple]) -> dict[str, tuple]:
        a, b = rows[first], rows[second]
        return {
            first: (b[0], a[1], b[2], b[3], a[4]),
            second: (a[0], b[1], a[2], a[3], b[4]),
        }

    return lambda text: replace_rows(text, edit)


def replace_once(old: str, new: str) -> Callable[[str], str]:
    def corrupt(text: str) -> str:
        assert text.count(old) == 1, f"expected {old!r} once in the script"
        return text.replace(old, new)

    return corrupt


# ---------------------------------------------------------------- the jobs


@dataclass(frozen=True)
class Job:
    """One run of a generated script in the checking subprocess."""

    case: str
    direction: str
    prepare: bool = True  # apply the case's prepare function to the base weights
    corrupt: Optional[Callable[[str], str]] = None  # an edit of the script's text


def selected_keys(request) -> list[str]:
    """The ``key`` parameters of the tests of the requesting module that will run."""
    return sorted(
        {
            item.callspec.params["key"]
            for item in request.session.items
            if item.module is request.module
            and hasattr(item, "callspec")
            and "key" in item.callspec.params
        }
    )


def run_jobs(
    module: str, cases: Mapping, jobs: Mapping[str, Job], keys, directory: Path
) -> dict[str, dict]:
    """Emit the scripts of the jobs ``keys``, run them all in one subprocess."""
    texts: dict[tuple[str, str], str] = {}
    results: dict[str, dict] = {}
    specs, job_keys = [], []
    for key in keys:
        job = jobs[key]
        case = cases[job.case]
        try:
            if (job.case, job.direction) not in texts:
                texts[job.case, job.direction] = emit_text(
                    **spec_args(module, job.case, job.direction)
                )
            text = texts[job.case, job.direction]
            if job.corrupt is not None:
                text = job.corrupt(text)
        except Exception as error:  # reported by that job's test alone
            results[key] = {"emit_error": f"{type(error).__name__}: {error}"}
            continue
        script = directory / f"{key.replace('-', '_')}.py"
        script.write_text(text)
        prepare = case.prepare if job.prepare else None
        specs.append(
            {
                "script": str(script),
                "inputs": case.inputs,
                "select": case.select,
                "prepare": prepare and f"{module}.{prepare}",
            }
        )
        job_keys.append(key)
    if specs:
        jobs_file = directory / "jobs.json"
        jobs_file.write_text(json.dumps(specs))
        completed = subprocess.run(
            [sys.executable, str(CHECK_SCRIPTS), str(jobs_file)],
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
        checked = json.loads(completed.stdout.strip().splitlines()[-1])
        results.update(zip(job_keys, checked))
    return results


def outcome_of(outcomes: dict[str, dict], key: str) -> dict:
    outcome = outcomes[key]
    assert "emit_error" not in outcome, outcome["emit_error"]
    assert outcome["padiff_gen_imported"] is False
    return outcome
