"""The zoo checks of tests/test_zoo.py against real torchvision models.

    make test-zoo

needs torchvision, which `make test-zoo` installs in a venv of its own (.venv-zoo:
torch==2.14.1, torchvision==0.29.1, paddlepaddle==3.3.1; several GB), so this directory
is outside `make test` and CI. Same default invocation, same standalone harness, same
tolerance; torchvision's models get paddle.vision's non-weight settings before the
comparison (tests/zoo_torch.py's align_with_paddle).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from test_zoo import (  # noqa: E402
    ARCHS,
    DIRECTIONS,
    Arch,
    assert_copied_faithfully,
    emit_args,
    run_zoo,
)

from padiff_gen.cli.cli import main  # noqa: E402

TORCHVISION = "torchvision.models"
# Beyond the mirrored set: more of both libraries' shared architectures.
MORE = (
    Arch("resnet34"),
    Arch("resnet101"),
    Arch("resnext50_32x4d"),
    Arch("wide_resnet50_2"),
    Arch("vgg16"),
    Arch("densenet161"),
    Arch("mobilenet_v3_large"),
)
ZOO = ARCHS + MORE


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    import torchvision  # noqa: F401 - fail here, once, when it is missing

    return run_zoo(tmp_path_factory.mktemp("torchvision"), ZOO, TORCHVISION)


@pytest.mark.parametrize("direction", ["torch_to_paddle", "paddle_to_torch"])
@pytest.mark.parametrize("arch", [arch.name for arch in ZOO])
def test_torchvision_default_invocation(zoo, arch, direction):
    assert_copied_faithfully(zoo[(arch, direction)])


@pytest.mark.parametrize(
    "base, raw", DIRECTIONS, ids=["torch_to_paddle", "paddle_to_torch"]
)
@pytest.mark.parametrize(
    "arch",
    [Arch("googlenet"), Arch("inception_v3", torch_kwargs='{"num_classes":10}')],
    ids=["googlenet", "inception_v3_with_aux_head"],
)
def test_torchvision_architectures_that_differ_are_refused(
    capsys, tmp_path, arch, base, raw
):
    output = tmp_path / "init_weights.py"
    code = main(["emit", *emit_args(arch, base, raw, TORCHVISION), "-o", str(output)])
    err = capsys.readouterr().err
    assert code == 1 and not output.exists(), err
    assert "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith(">>")]) == 1
