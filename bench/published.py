"""``make bench-llm``: emit at the published sizes of the LLM architectures.

    python -m bench.published [--json PATH] [ARCH ...]   # in the venv of `make test-llm`

For every architecture of tests_llm/published.py (real widths and head counts, two
layers, built without weights) and both directions, ``padiff-gen emit`` runs with the
default invocation in a subprocess, one at a time: wall time (imports included), peak
RSS, and what decided each layout the shapes left open (the block named in the rows'
comments). Prints a Markdown table (the one in README), and with --json the numbers.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from bench.run import run_measured

DIRECTIONS = ("hf_to_pf", "pf_to_hf")
FOUND = re.compile(r"# (?P<layout>[^#]*?) \(found by running (?P<how>`[^`]+`[^)]*)\)")


def emit_published(arch: str, direction: str, folder: Path) -> dict:
    from tests_llm import published

    kwargs = json.dumps(published.kwargs(arch))
    hf = ["torch:tests_llm.pairs.hf_model", kwargs]
    pf = ["paddle:tests_llm.pairs.pf_model", kwargs]
    base, raw = (hf, pf) if direction == "hf_to_pf" else (pf, hf)
    script = folder / f"{arch}_{direction}.py"
    command = ["-m", "padiff_gen", "emit", "--base", base[0], "--base-kwargs"]
    command += [base[1], "--raw", raw[0], "--raw-kwargs", raw[1], "-o", str(script)]
    command.append("--quiet")
    try:
        wall, rss, _ = run_measured(command)
    except RuntimeError as error:
        return {"arch": arch, "direction": direction, "error": str(error)[-600:]}
    decided = {}
    for match in FOUND.finditer(script.read_text()):
        decided[match["layout"]] = match["how"].split(" alone")[0]
    return {
        "arch": arch,
        "direction": direction,
        "seconds": wall,
        "peak_rss": rss,
        "decided": decided,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| architecture | direction | what decided each layout shapes left open | "
        "seconds | peak RSS |",
        "|---|---|---|---|---|",
    ]
    for result in results:
        if "error" in result:
            lines.append(f"| {result['arch']} | {result['direction']} | refused | | |")
            continue
        decided = "; ".join(
            f"{layout}: {block}" for layout, block in result["decided"].items()
        )
        lines.append(
            f"| {result['arch']} | {result['direction']} | "
            f"{decided or 'shapes alone'} | {result['seconds']:.0f} | "
            f"{result['peak_rss'] / 1e9:.2f} GB |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    import argparse

    from tests_llm import published

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument("archs", nargs="*", help="architectures (default: all)")
    args = parser.parse_args(argv)
    archs = args.archs or list(published.CONFIGS)
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for arch in archs:
            for direction in DIRECTIONS:
                result = emit_published(arch, direction, Path(directory))
                results.append(result)
                print(json.dumps(result), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    print(table(results))
    return 0 if all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
