"""Plugins: a real distribution (tests/plugin_pkg) installed with pip into a throwaway folder.

Its entry points (group padiff_gen.special_inits) name a module and a callable; padiff-gen
finds them through the installed metadata, lists them with the distribution as origin, and
inlines their initializers, so the generated script runs without the plugin installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import ROOT, assert_outputs_match, check_script, subprocess_env
from padiff_gen.load.plugins import (
    init_module_origin,
    origin_detail,
    origin_kind,
    plugin_origin,
)

PLUGIN = "padiff-gen-demo-inits 0.1.0"

MODELS = '''
"""Layers whose weights need the demo plugin: Gain keeps log(scale), Shift adds -offset."""

import paddle
import torch


class Gain(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.log_scale = torch.nn.Parameter(torch.zeros(n))

    def forward(self, x):
        return x * self.log_scale.exp()


class Shift(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.shift = torch.nn.Parameter(torch.zeros(n))

    def forward(self, x):
        return x + self.shift


class Scale(paddle.nn.Layer):
    def __init__(self, n):
        super().__init__()
        self.scale = self.create_parameter([n])

    def forward(self, x):
        return x * self.scale


class Offset(paddle.nn.Layer):
    def __init__(self, n):
        super().__init__()
        self.offset = self.create_parameter([n])

    def forward(self, x):
        return x - self.offset


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(6, 8)
        self.gain = Gain(8)
        self.shift = Shift(8)

    def forward(self, x):
        return self.shift(self.gain(self.fc(x)))


class PaddleNet(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(6, 8)
        self.gain = Scale(8)
        self.shift = Offset(8)

    def forward(self, x):
        return self.shift(self.gain(self.fc(x)))
'''


def pip_install(source: Path, target: Path) -> None:
    """Build and install a local project the ordinary way, offline, into ``target``."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        env=subprocess_env(),
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding the installed demo plugin (built from a copy: no build/ in tests/)."""
    work = tmp_path_factory.mktemp("plugin")
    shutil.copytree(ROOT / "tests" / "plugin_pkg", work / "src")
    pip_install(work / "src", work / "site")
    return work / "site"


def run_with(
    site_dirs: list[Path], *args: str, cwd: Path
) -> subprocess.CompletedProcess:
    """`padiff-gen ARGS` with the given installed folders on the path."""
    path = os.pathsep.join([str(ROOT), *map(str, site_dirs)])
    return subprocess.run(
        [sys.executable, "-m", "padiff_gen", *args],
        cwd=cwd,
        env=subprocess_env(PYTHONPATH=path),
        capture_output=True,
        text=True,
    )


def test_list_inits_shows_plugins_with_their_distribution(site, tmp_path):
    text = run_with([site], "list-inits", cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    rows = [line.split() for line in text.stdout.splitlines()]
    assert [
        "torch",
        "Gain",
        "->",
        "paddle",
        "Scale",
        "init_gain_to_scale",
        "plugin",
        *PLUGIN.split(),
    ] in rows
    assert [
        "torch",
        "Shift",
        "->",
        "paddle",
        "Offset",
        "init_shift_to_offset",
        "plugin",
        *PLUGIN.split(),
    ] in rows
    assert "2 from plugins" in text.stdout
    data = json.loads(run_with([site], "list-inits", "--json", cwd=tmp_path).stdout)
    gain = next(e for e in data if e["base"]["class"] == "Gain")
    assert gain["origin"] == {
        "kind": "plugin",
        "label": f"plugin {PLUGIN}",
        "distribution": "padiff-gen-demo-inits",
        "version": "0.1.0",
    }
    assert gain["module"] == "padiff_demo_inits.gain"
    batchnorm = next(
        e
        for e in data
        if e["base"]["class"] == "BatchNorm2d" and e["raw"]["class"] == "BatchNorm2D"
    )
    assert batchnorm["origin"]["kind"] == "built-in"
    # Without the plugin on the path, its initializers are not there.
    bare = run_with([], "list-inits", "--json", cwd=tmp_path)
    assert not [e for e in json.loads(bare.stdout) if e["origin"]["kind"] == "plugin"]


def test_plugin_initializers_are_inlined_and_the_script_stands_alone(
    site, tmp_path, monkeypatch
):
    (tmp_path / "plugmodels.py").write_text(MODELS)
    result = run_with(
        [site],
        "emit",
        "--base",
        "torch:plugmodels.TorchNet",
        "--raw",
        "paddle:plugmodels.PaddleNet",
        "-o",
        "init_net.py",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    script = (tmp_path / "init_net.py").read_text()
    assert "def init_gain_to_scale(base_model, raw_model):" in script
    assert "def init_shift_to_offset(base_model, raw_model):" in script
    assert "padiff_demo_inits" not in script and "register" not in script
    # The models import from tmp_path; neither padiff_gen nor the plugin can be imported.
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    outcome = check_script(tmp_path / "init_net.py", [["float32", [3, 6]]])
    assert_outputs_match(outcome)


def test_a_broken_plugin_is_named_with_its_distribution(site, tmp_path):
    broken = tmp_path / "broken"
    (broken / "broken_inits").mkdir(parents=True)
    (broken / "broken_inits" / "__init__.py").write_text("raise RuntimeError('boom')\n")
    (broken / "pyproject.toml").write_text(textwrap.dedent("""
            [build-system]
            requires = ["setuptools>=68"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "broken-inits"
            version = "2.0"

            [project.entry-points."padiff_gen.special_inits"]
            broken = "broken_inits"

            [tool.setuptools]
            packages = ["broken_inits"]
            """))
    pip_install(broken, tmp_path / "site")
    result = run_with([site, tmp_path / "site"], "list-inits", cwd=tmp_path)
    assert result.returncode == 2
    message = result.stderr.replace("\n", " ")
    assert (
        "The padiff-gen plugin broken = broken_inits (from the installed distribution "
        "broken-inits) failed to load: RuntimeError: boom." in message
    )
    assert "pip uninstall broken-inits" in message
    assert "Traceback" not in result.stderr


def test_origin_labels_round_trip():
    assert origin_kind("built-in") == "built-in"
    assert origin_detail(plugin_origin("my-dist", "1.2")) == {
        "kind": "plugin",
        "label": "plugin my-dist 1.2",
        "distribution": "my-dist",
        "version": "1.2",
    }
    assert origin_detail(init_module_origin("pkg.inits"))["module"] == "pkg.inits"
    assert origin_kind("some.module") == "module"
