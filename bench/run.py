"""``make bench``: how fast and how lean the generated scripts and ``emit`` are.

    python -m bench.run            # the full run: a few minutes, about 8 GB of memory
    python -m bench.run --scale 0.1   # the same steps on models a tenth of the size

Every ratio compares numbers measured in this one run, on the same models. Timings are the
best of several interleaved repetitions, which keeps out most of the noise from other work
on the machine; rerun at a quiet moment if the numbers look contended. Sections:

1. copy speed, LLaMA-shaped torch -> paddle pair (mostly transposed Linear weights): the
   generated script's init_weights, a PaDiff-style per-parameter numpy round trip
   (numpy -> transpose -> paddle.to_tensor -> paddle.assign), and memcpy of the same bytes;
2. copy speed, embedding tables torch -> paddle (no transposes), against memcpy;
3. ``padiff-gen emit`` on the LLaMA-7B-shaped pair (6.7B parameters, built without
   weights), in a subprocess: wall time including imports, and peak RSS;
4. checkpoint conversion by the generated script (``--base-ckpt``), in a subprocess, for
   a 3.5 GB LLaMA-shaped checkpoint: .pt, sharded safetensors and the reverse direction
   from .pdparams, against the time to copy the checkpoint's files, the peak RSS, a model
   a third of the size, and the plain way (bench/convert.py);
5. with ``--llama7b``: a LLaMA-7B-shaped bfloat16 checkpoint (13.5 GB, sharded
   safetensors) converted to paddle (needs ~30 GB of free disk);
6. conversion of a checkpoint of many small tensors (10,240, MoE-shaped), per tensor
   (bench/convert.py).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.convert import bench_conversion, bench_llama7b, bench_many_tensors

ROOT = Path(__file__).resolve().parent.parent
GB = 1e9
# 4 LLaMA-7B layers and a small vocabulary: 816M parameters, 3.26 GB per model in float32.
LINEAR_HEAVY = dict(vocab_size=1024, num_layers=4)
# 8 tables of 32000 x 3072: 786M parameters, 3.15 GB per model in float32.
TABLES = dict(num_tables=8, rows=32000, dim=3072)


def scaled_llama(scale: float) -> dict:
    if scale >= 1:
        return dict(LINEAR_HEAVY)
    # keep the layer shapes realistic; shrink the width
    hidden = max(64, int(4096 * scale**0.5) // 64 * 64)
    return dict(
        LINEAR_HEAVY,
        hidden_size=hidden,
        intermediate_size=hidden * 11008 // 4096,
        num_heads=hidden // 128 or 1,
    )


def scaled_tables(scale: float) -> dict:
    return dict(TABLES, rows=max(64, int(TABLES["rows"] * scale)))


# ------------------------------------------------------------------ helpers


def emit_script(base: str, raw: str, path: Path, **kwargs) -> Path:
    from padiff_gen.api import emit

    emit(base, raw, path, force=True, **kwargs)
    return path


def import_script(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def best_times(candidates: dict, repeats: int) -> dict:
    """Best wall time of each candidate, the candidates taking turns."""
    best = {name: float("inf") for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def copied_pairs(script, base, raw) -> list:
    """(base tensor, raw tensor, transform) of everything init_weights writes: the
    table's rows, and the tensors of each special unit paired in order (the benchmark
    models' special units are embeddings: one weight each side)."""
    pairs = [
        (script.get_tensor(base, row[0]), script.get_tensor(raw, row[1]), row[2])
        for row in script.TENSOR_TABLE
    ]
    for base_path, raw_path, _ in script.SPECIAL_INITS:
        sides = {
            side: [
                path
                for s, path, _ in script.SPECIAL_INIT_TENSORS
                if s == side and path.startswith(f"{layer}.")
            ]
            for side, layer in (("base", base_path), ("raw", raw_path))
        }
        for base_tensor, raw_tensor in zip(sides["base"], sides["raw"]):
            pairs.append(
                (
                    script.get_tensor(base, base_tensor),
                    script.get_tensor(raw, raw_tensor),
                    "copy",
                )
            )
    return pairs


def model_bytes(script, base, raw) -> int:
    """Bytes of the raw tensors init_weights writes."""
    total = 0
    for _, raw_tensor, _ in copied_pairs(script, base, raw):
        tensor = script.as_torch(raw_tensor)
        total += tensor.numel() * tensor.element_size()
    return total


def memcpy_runner(script, base, raw):
    """memcpy of the same bytes: each raw tensor's memory from its base tensor's."""
    pairs = []
    for src, dst, _ in copied_pairs(script, base, raw):
        src, dst = script.as_torch(src), script.as_torch(dst)
        pairs.append((dst.data_ptr(), src.data_ptr(), src.numel() * src.element_size()))

    def run():
        for dst, src, size in pairs:
            ctypes.memmove(dst, src, size)

    return run


def numpy_round_trip_runner(script, base, raw):
    """PaDiff-style: per parameter, numpy -> transpose -> paddle.to_tensor -> assign."""
    import paddle

    def run():
        for base_path, raw_path, transform, _, _ in script.TENSOR_TABLE:
            array = script.get_tensor(base, base_path).detach().numpy()
            if transform == "transpose":
                array = array.T
            paddle.assign(
                paddle.to_tensor(array), output=script.get_tensor(raw, raw_path)
            )

    return run


def strips_runner(script, base, raw, rows: int = 8, threads: int = 2):
    """The alternative to torch's blocked transpose: numpy copies of narrow row strips,
    shared by threads (numpy releases the GIL while it copies)."""
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(threads)
    jobs = []
    for base_path, raw_path, transform, _, _ in script.TENSOR_TABLE:
        src = script.as_torch(script.get_tensor(base, base_path)).numpy()
        dst = script.as_torch(script.get_tensor(raw, raw_path)).numpy()
        if transform != "transpose":
            jobs.append((dst, src, None))
            continue
        bounds = [len(src) * part // threads // rows * rows for part in range(threads)]
        jobs.append((dst, src, list(zip(bounds, bounds[1:] + [len(src)]))))

    def strips(dst, src, first, last):
        for row in range(first, last, rows):
            dst[:, row : row + rows] = src[row : min(row + rows, last)].T

    def run():
        for dst, src, parts in jobs:
            if parts is None:
                dst[...] = src
            else:
                list(pool.map(lambda part: strips(dst, src, *part), parts))

    return run


def one_at_a_time_runner(script, base, raw):
    """The script's copies without ParallelCopies: one tensor after the other."""
    rows = [
        (
            script.get_tensor(raw, raw_path),
            script.get_tensor(base, base_path),
            transform,
        )
        for base_path, raw_path, transform, _, _ in script.TENSOR_TABLE
    ]

    def run():
        for row in rows:
            script.prepare_copy(*row)()

    return run


def check_copied(script, base, raw) -> None:
    """The script's copy, from a zeroed raw model, must give the right values."""
    import torch

    pairs = copied_pairs(script, base, raw)
    for _, raw_tensor, _ in pairs:
        script.as_torch(raw_tensor).zero_()
    script.init_weights(base, raw)
    for base_tensor, raw_tensor, transform in pairs:
        src, dst = script.as_torch(base_tensor), script.as_torch(raw_tensor)
        expected = src.t() if transform == "transpose" else src
        if not torch.equal(dst, expected.to(dst.dtype)):
            raise AssertionError("a tensor was not copied right")


def run_measured(arguments: list[str], cwd: Path = ROOT) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in bytes, stderr) of `python ARGUMENTS` in a subprocess."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONWARNINGS="ignore")
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        command = [sys.executable, "-m", "bench.peak", report.name, *arguments]
        start = time.perf_counter()
        result = subprocess.run(
            command, cwd=cwd, env=env, capture_output=True, text=True
        )
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(arguments)} failed:\n{result.stderr[-2000:]}"
            )
        return wall, int(report.read()), result.stderr


def ratio_line(label: str, seconds: float, memcpy: float, nbytes: int) -> str:
    return (
        f"  {label:<46} {seconds * 1000:9.1f} ms  {nbytes / seconds / GB:6.2f} GB/s"
        f"  {seconds / memcpy:6.2f}x memcpy"
    )


# ------------------------------------------------------------------ sections


def bench_copy(
    work: Path,
    base_spec: str,
    raw_spec: str,
    kwargs: dict,
    repeats: int,
    numpy_trip: bool,
):
    """Returns (script path, measured numbers); leaves nothing allocated."""
    path = emit_script(
        base_spec,
        raw_spec,
        work / f"init_{base_spec.rpartition('.')[2].lower()}.py",
        base_kwargs=kwargs,
        raw_kwargs=kwargs,
    )
    script = import_script(path)
    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    nbytes = model_bytes(script, base, raw)
    transposed = sum(row[2] == "transpose" for row in script.TENSOR_TABLE)
    candidates = {
        "memcpy": memcpy_runner(script, base, raw),
        "script": lambda: script.init_weights(base, raw),
    }
    if transposed:
        candidates["numpy strips, 2 threads (not used)"] = strips_runner(
            script, base, raw
        )
        candidates["one tensor at a time (not used)"] = one_at_a_time_runner(
            script, base, raw
        )
    if numpy_trip:
        candidates["numpy round trip"] = numpy_round_trip_runner(script, base, raw)
    times = best_times(candidates, repeats)
    check_copied(script, base, raw)
    largest = max(
        t.numel() * t.element_size()
        for t in (script.as_torch(v) for v in raw.state_dict().values())
    )
    result = {
        "bytes": nbytes,
        "tensors": len(copied_pairs(script, base, raw)),
        "transposed": transposed,
        "seconds": times,
        "extra_memory": extra_memory(lambda: script.init_weights(base, raw)),
        "largest_tensor": largest,
    }
    del base, raw, script
    gc.collect()
    return path, result


def bench_emit() -> dict:
    command = [
        "-m",
        "padiff_gen",
        "emit",
        "--base",
        "torch:bench.models.TorchLlama",
        "--raw",
        "paddle:bench.models.PaddleLlama",
        "--quiet",
    ]
    with tempfile.TemporaryDirectory() as directory:
        command += ["-o", str(Path(directory) / "init_llama7b.py")]
        runs = [run_measured(command)[:2] for _ in range(2)]
    wall, rss = min(runs)
    return {"seconds": wall, "peak_rss": rss}


def process_memory(field: str) -> int:
    """VmRSS or VmHWM of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def extra_memory(run) -> int:
    """How far this process's resident memory rises above its level before `run()`.

    The kernel's high-water mark is reset first (clear_refs 5, Linux 4.0 and later)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = process_memory("VmRSS")
    run()
    return process_memory("VmHWM") - before


# ------------------------------------------------------------------ report


def print_copy(title: str, result: dict) -> None:
    times, nbytes = result["seconds"], result["bytes"]
    memcpy = times["memcpy"]
    print(
        f"\n{title}: {nbytes / GB:.2f} GB per model, {result['tensors']} tensors, "
        f"{result['transposed']} transposed"
    )
    for name, seconds in times.items():
        print(ratio_line(name, seconds, memcpy, nbytes))
    if "numpy round trip" in times:
        speedup = times["numpy round trip"] / times["script"]
        print(f"  script is {speedup:.1f}x faster than the numpy round trip")
    print(
        f"  memory init_weights adds: {result['extra_memory'] / GB:.3f} GB "
        f"(largest tensor {result['largest_tensor'] / GB:.3f} GB)"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="model size factor")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    parser.add_argument(
        "--llama7b",
        action="store_true",
        help="also convert a LLaMA-7B-shaped bfloat16 checkpoint (needs ~30 GB of disk)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=("copy", "tables", "emit", "convert", "many"),
    )
    args = parser.parse_args(argv)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import torch

    print(
        f"padiff-gen bench, {time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch threads"
    )
    results = {}
    with tempfile.TemporaryDirectory(prefix="padiff-bench-") as directory:
        work = Path(directory)
        llama = scaled_llama(args.scale)
        llama_script = None
        if "copy" not in args.skip:
            llama_script, results["copy"] = bench_copy(
                work,
                "torch:bench.models.TorchLlama",
                "paddle:bench.models.PaddleLlama",
                llama,
                args.repeats,
                numpy_trip=True,
            )
            print_copy("1. init copy, LLaMA-shaped torch -> paddle", results["copy"])
        if "tables" not in args.skip:
            _, results["tables"] = bench_copy(
                work,
                "torch:bench.models.TorchTables",
                "paddle:bench.models.PaddleTables",
                scaled_tables(args.scale),
                args.repeats,
                numpy_trip=False,
            )
            print_copy(
                "2. init copy, embedding tables torch -> paddle", results["tables"]
            )
        if "emit" not in args.skip:
            results["emit"] = bench_emit()
            emit = results["emit"]
            print(
                f"\n3. emit, LLaMA-7B-shaped pair (6.7B parameters): "
                f"{emit['seconds']:.1f} s wall including imports, "
                f"{emit['peak_rss'] / GB:.2f} GB peak RSS"
            )
        if "convert" not in args.skip:
            results["convert"] = bench_conversion(
                work, emit_script, run_measured, args.scale
            )
        if "many" not in args.skip:
            results["many"] = bench_many_tensors(
                work, emit_script, run_measured, args.scale
            )
        if args.llama7b:
            results["llama7b"] = bench_llama7b(work, emit_script, run_measured)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
