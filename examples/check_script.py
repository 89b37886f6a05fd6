"""Run a generated init script the way a user would, and report the output difference.

    python examples/check_script.py SCRIPT.py --inputs '[["float32", [2, 3, 8, 8]]]'

It builds both models from the specs recorded in the script, gives the base model random
weights, calls the script's init_weights, and prints a JSON line with the max difference.
padiff_gen is made unimportable first: generated scripts must stand alone.
"""

import argparse
import importlib.util
import json
import os
import sys

sys.modules["padiff_gen"] = None  # any `import padiff_gen` now fails

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from examples.compare import output_difference, randomize  # noqa: E402


def load_script(path):
    spec = importlib.util.spec_from_file_location("generated_init_script", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("script")
    parser.add_argument(
        "--inputs", required=True, help="JSON list of [dtype, shape, high?]"
    )
    parser.add_argument(
        "--select", type=int, default=None, help="compare only output N"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    script = load_script(args.script)
    base = script.build_model(script.BASE_SPEC)
    raw = script.build_model(script.RAW_SPEC)
    randomize(base, args.seed)
    script.init_weights(base, raw)
    result = output_difference(base, raw, json.loads(args.inputs), args.select)
    result["padiff_gen_imported"] = sys.modules.get("padiff_gen") is not None
    print(json.dumps(result))


if __name__ == "__main__":
    main()
