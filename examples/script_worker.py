"""Check many generated scripts in one standalone process (property tests use it).

Importing torch and paddle takes seconds, so one process that checks a script per request
is much faster than one process per script. As in ``check_script.py``, padiff_gen is made
unimportable: every script must stand alone.

    python examples/script_worker.py     # one JSON request per line on stdin

Requests, each answered by one JSON line on stdout:

``{"op": "compare", "script": PATH, "inputs": [[dtype, shape, high?], ...], "select": N,
"seed": S}``
    Build both models from the specs the script records, randomize the base weights, call
    ``init_weights``, run both models: ``{"max_abs_diff", "scale", "outputs",
    "padiff_gen_imported"}`` (what check_script.py prints).

``{"op": "apply", "script": PATH, "base_spec": SPEC, "raw_spec": SPEC, "seed": S}``
    Call ``init_weights`` on models built from other specs (e.g. models that changed since
    the script was made): ``{"error": type name or null, "message", "raw_changed": [names
    of raw tensors whose values changed], "same_tensors": whether both models have the
    same tensor names and shapes as the ones the script records}``.

Anything unexpected is answered with ``{"crash": traceback}`` and the worker goes on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- the worker process


def _load_script(path: str, number: int) -> Any:
    spec = importlib.util.spec_from_file_location(f"generated_script_{number}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _numpy(tensor: Any) -> Any:
    import numpy as np

    if hasattr(tensor, "detach") and hasattr(tensor, "cpu"):  # torch
        return tensor.detach().cpu().numpy().copy()
    return np.array(tensor.numpy(), copy=True)


def _shapes(model: Any) -> dict:
    return {
        name: [int(d) for d in tensor.shape]
        for name, tensor in model.state_dict(keep_vars=True).items()
    }


def _compare(script: Any, request: dict) -> dict:
    from examples.compare import output_difference, randomize

    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    randomize(base, request.get("seed", 0))
    script.init_weights(base, raw)
    result = output_difference(base, raw, request["inputs"], request.get("select"))
    result["padiff_gen_imported"] = sys.modules.get("padiff_gen") is not None
    return result


def _apply(script: Any, request: dict) -> dict:
    import numpy as np

    from examples.compare import randomize

    base = script.build_model(request["base_spec"])
    raw = script.build_model(request["raw_spec"])
    randomize(base, request.get("seed", 0))
    before = {n: _numpy(t) for n, t in raw.state_dict(keep_vars=True).items()}
    error, message = None, ""
    try:
        script.init_weights(base, raw)
    except Exception as caught:  # the point: which error, and what it left behind
        error, message = type(caught).__name__, str(caught)
    after = {n: _numpy(t) for n, t in raw.state_dict(keep_vars=True).items()}
    changed = [
        name
        for name in before
        if not np.array_equal(before[name], after[name], equal_nan=True)
    ]
    recorded = (
        script.build_model(script.BASE_SPEC),
        script.build_model(script.RAW_SPEC),
    )
    same = _shapes(base) == _shapes(recorded[0]) and _shapes(raw) == _shapes(
        recorded[1]
    )
    return {
        "error": error,
        "message": message,
        "raw_changed": changed,
        "same_tensors": same,
        "padiff_gen_imported": sys.modules.get("padiff_gen") is not None,
    }


def serve() -> None:
    sys.modules["padiff_gen"] = None  # any `import padiff_gen` now fails
    sys.path.insert(0, str(ROOT))
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever the frameworks print goes to stderr, not into the answers
    sys.stdout = sys.stderr
    import paddle  # noqa: F401  (import both once, up front)
    import torch  # noqa: F401

    for number, line in enumerate(sys.stdin):
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            script = _load_script(request["script"], number)
            try:
                operation = {"compare": _compare, "apply": _apply}[request["op"]]
                answer = operation(script, request)
            finally:
                sys.modules.pop(script.__name__, None)
        except Exception:
            answer = {"crash": traceback.format_exc()}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


# ---------------------------------------------------------------- the client side


class ScriptWorker:
    """A running worker process: ``request(dict) -> dict``. Use as a context manager."""

    def __init__(self, env: Optional[dict] = None, log: Optional[Path] = None) -> None:
        self._log = open(log, "w") if log else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )

    def request(self, request: dict) -> dict:
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"the script worker exited with code {self.process.wait()}"
            )
        answer = json.loads(line)
        if "crash" in answer:
            raise RuntimeError(f"the script worker failed:\n{answer['crash']}")
        return answer

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout=60)
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self) -> "ScriptWorker":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


if __name__ == "__main__":
    serve()
