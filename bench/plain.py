"""The plain way to convert a checkpoint, as a user would write it, for comparison.

    python -m bench.plain SCRIPT.py BASE.pt RAW.pdparams

Loads the whole torch state dict, converts every tensor to paddle (transposed where the
generated script's TENSOR_TABLE says), and saves the whole dict with paddle.save. The
script is only read for its table.
"""

import importlib.util
import sys


def main() -> None:
    script_path, source, target = sys.argv[1:4]
    spec = importlib.util.spec_from_file_location("script", script_path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    import paddle
    import torch

    transposed = {row[0] for row in script.TENSOR_TABLE if row[2] == "transpose"}
    state = torch.load(source, map_location="cpu", weights_only=True)
    converted = {}
    for key, value in state.items():
        array = value.numpy()
        converted[key] = paddle.to_tensor(array.T if key in transposed else array)
    paddle.save(converted, target)


if __name__ == "__main__":
    main()
