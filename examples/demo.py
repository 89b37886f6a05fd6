"""`make demo`: emit a script for the bundled CNN pair, run it standalone, show the result."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE, RAW = "torch:examples.cnn.TorchCNN", "paddle:examples.cnn.PaddleCNN"


def main() -> None:
    with tempfile.TemporaryDirectory() as directory:
        script = Path(directory) / "init_weights.py"
        emit = [
            sys.executable,
            "-m",
            "padiff_gen",
            "emit",
            "--base",
            BASE,
            "--raw",
            RAW,
        ]
        print("$ padiff-gen emit --base", BASE, "--raw", RAW, "-o init_weights.py")
        subprocess.run([*emit, "-o", str(script)], cwd=ROOT, check=True)
        lines = script.read_text().splitlines()
        print(f"wrote {len(lines)} lines; its tensor table:")
        start = lines.index("# fmt: off")
        print("\n".join("    " + line for line in lines[start + 1 : start + 9]))
        print(
            "$ running it standalone (padiff_gen not importable), comparing outputs..."
        )
        check = [
            sys.executable,
            str(ROOT / "examples" / "check_script.py"),
            str(script),
        ]
        result = subprocess.run(
            [*check, "--inputs", json.dumps([["float32", [4, 3, 8, 8]]])],
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        diff = json.loads(result.stdout)
        print(
            f"max |torch output - paddle output| = {diff['max_abs_diff']:.3g} "
            f"(outputs up to {diff['scale']:.3g} in size)"
        )


if __name__ == "__main__":
    main()
