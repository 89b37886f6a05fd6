"""Real architectures: paddle.vision models against torch mirrors of torchvision's.

Every script is generated with the default invocation (`padiff-gen emit` with the two
specs and nothing else; constructor kwargs only shrink the classifier) in both
directions, then all of them run standalone in one subprocess (tests/zoo_check.py) that
randomizes the base weights and compares forward outputs in eval mode.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass

import pytest

from conftest import ROOT, assert_outputs_match, subprocess_env
from padiff_gen.cli.cli import main

PADDLE_VISION = "paddle.vision.models"
TORCH_MIRRORS = "tests.zoo_torch"
TEN_CLASSES = '{"num_classes":10}'


@dataclass(frozen=True)
class Arch:
    name: str  # the factory's name in both libraries
    size: int = 64  # input height and width
    torch_kwargs: str = TEN_CLASSES
    paddle_kwargs: str = TEN_CLASSES
    paddle_name: str = ""

    def specs(self, torch_module: str) -> dict[str, tuple[str, str]]:
        return {
            "torch": (f"torch:{torch_module}.{self.name}", self.torch_kwargs),
            "paddle": (
                f"paddle:{PADDLE_VISION}.{self.paddle_name or self.name}",
                self.paddle_kwargs,
            ),
        }

    @property
    def inputs(self) -> list:
        return [["float32", [2, 3, self.size, self.size]]]


ARCHS = (
    Arch("resnet18"),
    Arch("resnet50"),
    # batch_norm=True is paddle's spelling of torchvision's vgg11_bn
    Arch(
        "vgg11_bn",
        paddle_name="vgg11",
        paddle_kwargs='{"batch_norm":true,"num_classes":10}',
    ),
    Arch("alexnet", size=224),  # paddle's AlexNet has no adaptive pooling: 224 or bust
    Arch("squeezenet1_0"),
    Arch("squeezenet1_1"),
    Arch("densenet121"),  # paddle uses the older nn.BatchNorm class
    Arch("mobilenet_v2"),
    Arch("mobilenet_v3_small"),  # Hardswish, squeeze-excitation with Hardsigmoid
    Arch("shufflenet_v2_x1_0"),  # channel shuffle, chunked branches
    # paddle's InceptionV3 has no auxiliary head; torchvision's has one unless told not
    Arch(
        "inception_v3",
        size=75,
        torch_kwargs='{"aux_logits":false,"num_classes":10}',
    ),
)
DIRECTIONS = (("torch", "paddle"), ("paddle", "torch"))


def emit_args(arch: Arch, base: str, raw: str, torch_module: str) -> list[str]:
    specs = arch.specs(torch_module)
    args = []
    for role, framework in (("base", base), ("raw", raw)):
        spec, kwargs = specs[framework]
        args += [f"--{role}", spec, f"--{role}-kwargs", kwargs]
    return args


def run_zoo(tmp_path, archs, torch_module: str) -> dict[tuple[str, str], dict]:
    """Emit every (arch, direction) script in-process; check them all in one
    subprocess."""
    outcomes, jobs = {}, []
    for arch in archs:
        for base, raw in DIRECTIONS:
            key = (arch.name, f"{base}_to_{raw}")
            script = tmp_path / f"{arch.name}_{base}_to_{raw}.py"
            code = main(
                [
                    "emit",
                    *emit_args(arch, base, raw, torch_module),
                    "-o",
                    str(script),
                    "-q",
                ]
            )
            if code != 0:
                outcomes[key] = {"emit_exit_code": code}
                continue
            jobs.append({"script": str(script), "inputs": arch.inputs})
            outcomes[key] = {"script": str(script)}
    by_script = check_scripts(tmp_path, jobs)
    for outcome in outcomes.values():
        if "script" in outcome:
            outcome.update(by_script[outcome["script"]])
    return outcomes


def check_scripts(tmp_path, jobs: list[dict]) -> dict[str, dict]:
    """Run tests/zoo_check.py on the jobs; its outcome for each script."""
    jobs_file = tmp_path / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "zoo_check.py"), str(jobs_file)],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
    )
    found = {}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            found[entry["script"]] = entry
    crashed = {"error": f"zoo_check.py crashed: {result.stderr[-2000:]}"}
    return {job["script"]: found.get(job["script"], crashed) for job in jobs}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    return run_zoo(tmp_path_factory.mktemp("zoo"), ARCHS, TORCH_MIRRORS)


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
@pytest.mark.parametrize("arch", [arch.name for arch in ARCHS])
def test_default_invocation_copies_every_weight(zoo, arch, direction):
    assert_copied_faithfully(zoo[(arch, direction)])


def assert_copied_faithfully(outcome: dict) -> None:
    """The script was emitted, ran standalone and made finite, equal outputs."""
    assert "error" not in outcome and "emit_exit_code" not in outcome, outcome
    assert outcome["padiff_gen_imported"] is False
    assert outcome["finite"], outcome
    assert_outputs_match(outcome)


@pytest.mark.parametrize(
    "base, raw", DIRECTIONS, ids=["torch_to_paddle", "paddle_to_torch"]
)
def test_googlenet_architectures_differ_and_the_error_says_where(
    capsys, tmp_path, base, raw
):
    """torchvision's GoogLeNet has BatchNorm after every convolution, paddle's has none:
    no pairing is right, so emit must refuse, naming the first layer that differs."""
    arch = Arch("googlenet")
    output = tmp_path / "init_weights.py"
    code = main(["emit", *emit_args(arch, base, raw, TORCH_MIRRORS), "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 1 and not output.exists()
    assert "Traceback" not in err
    paragraph = " ".join(err.partition("\n\n")[0].split())
    torch_side = "`conv1.bn` (BatchNorm2d"
    paddle_side = "`_conv_1._conv` (Conv2D"
    assert torch_side in paragraph and paddle_side in paragraph
    assert "only the torch" not in paragraph  # roles, not frameworks, are named
    marked = [line for line in err.splitlines() if line.startswith(">>")]
    assert len(marked) == 1
    left, right = marked[0].split(" | ")
    torch_cell, paddle_cell = (left, right) if base == "torch" else (right, left)
    assert "conv1.bn  BatchNorm2d (layer map)" in torch_cell
    assert "_conv_1._conv  Conv2D" in paddle_cell


@pytest.mark.parametrize(
    "base, raw", DIRECTIONS, ids=["torch_to_paddle", "paddle_to_torch"]
)
def test_inception_v3_auxiliary_head_is_reported(capsys, tmp_path, base, raw):
    """torchvision's inception_v3() builds an auxiliary head (AuxLogits) between
    Mixed_6e and Mixed_7a unless aux_logits=False; paddle's has none. The error names
    the extra layers and the fix."""
    arch = Arch("inception_v3", torch_kwargs=TEN_CLASSES)
    output = tmp_path / "init_weights.py"
    code = main(["emit", *emit_args(arch, base, raw, TORCH_MIRRORS), "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 1 and not output.exists()
    paragraph = " ".join(err.partition("\n\n")[0].split())
    torch_role = "base" if base == "torch" else "raw"
    other_role = "raw" if torch_role == "base" else "base"
    assert (
        f"The {other_role} model lacks 5 units of the {torch_role} model, from "
        "`AuxLogits.conv0.conv` to `AuxLogits.fc`, all under `AuxLogits`" in paragraph
    )
    assert f"Build the {torch_role} model without those layers" in paragraph
    marked = [line for line in err.splitlines() if line.startswith(">>")]
    assert len(marked) == 1 and "AuxLogits.conv0.conv  Conv2d" in marked[0]
    assert "block_list.8.branch3x3_1.0  Conv2D  [192,768,1,1]" in marked[0]


def test_the_harness_sees_two_swapped_tensors(tmp_path):
    """Negative control: the same check on a script whose table sends two same-shaped
    tensors to each other's place must report different outputs, or the passes above
    mean nothing. (A dropped row the script itself refuses: every raw tensor must be
    written.)
    """
    arch = Arch("squeezenet1_1")
    script = tmp_path / "squeezenet1_1.py"
    args = emit_args(arch, "torch", "paddle", TORCH_MIRRORS)
    assert main(["emit", *args, "-o", str(script), "-q"]) == 0
    lines = script.read_text().splitlines()
    start = lines.index("TENSOR_TABLE = (") + 1
    rows = {}  # (transform, shapes) -> line numbers of such rows
    for number in range(start, lines.index(")", start)):
        code = lines[number].split("  # ")[0]  # without the row's comment
        base, raw, transform, base_shape, raw_shape = ast.literal_eval(
            code.strip().rstrip(",")
        )
        rows.setdefault((transform, base_shape, raw_shape), []).append(number)
    first, second = next(numbers for numbers in rows.values() if len(numbers) > 1)[:2]
    first_raw = ast.literal_eval(lines[first].split("  # ")[0].strip().rstrip(","))[1]
    second_raw = ast.literal_eval(lines[second].split("  # ")[0].strip().rstrip(","))[1]
    lines[first] = lines[first].replace(f'"{first_raw}"', f'"{second_raw}"')
    lines[second] = lines[second].replace(f'"{second_raw}"', f'"{first_raw}"')
    script.write_text("\n".join(lines) + "\n")
    job = {"script": str(script), "inputs": arch.inputs}
    outcome = check_scripts(tmp_path, [job])[str(script)]
    assert outcome["finite"], outcome
    assert outcome["max_abs_diff"] > 0.01 * outcome["scale"], outcome
