"""`padiff-gen check`: same, or which of the four reasons makes the file differ.

A throwaway model repository (the custom-layer example with its initializer module) is
emitted once; each test edits a copy the way a user would and re-checks it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, run_cli, subprocess_env
from padiff_gen import __version__
from padiff_gen.cli.check import (
    classify,
    header_version,
    read_header,
    root_for,
    table_rows,
)
from padiff_gen.errors import UsageError

EMIT = (
    "emit",
    "--base",
    "torch:mymodels.layers.TorchBlock",
    "--raw",
    "paddle:mymodels.layers.PaddleBlock",
    "--init-module",
    "mymodels.inits",
    "-o",
    "init_weights.py",
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("pristine")
    package = repo / "mymodels"
    package.mkdir()
    (package / "__init__.py").write_text("")
    shutil.copy(ROOT / "examples" / "custom_layers.py", package / "layers.py")
    shutil.copy(ROOT / "examples" / "custom_inits.py", package / "inits.py")
    result = run_cli(*EMIT, cwd=repo)
    assert result.returncode == 0, result.stderr
    return repo


@pytest.fixture
def repo(pristine, tmp_path) -> Path:
    copy = tmp_path / "repo"
    shutil.copytree(pristine, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) == count, (old, text.count(old))
    path.write_text(text.replace(old, new))


def test_a_fresh_script_checks_clean_from_anywhere(repo):
    found = run_cli("check", cwd=repo)  # no files, no config: finds generated scripts
    assert found.returncode == 0, found.stdout + found.stderr
    assert found.stdout.strip() == "init_weights.py: up to date"
    (repo / "sub").mkdir()
    # The recorded -o path tells where the command ran, so the models still import.
    nested = run_cli("check", "../init_weights.py", cwd=repo / "sub")
    assert nested.returncode == 0, nested.stdout + nested.stderr
    assert nested.stdout.strip() == "../init_weights.py: up to date"


def test_models_changed(repo):
    script = repo / "init_weights.py"
    committed = script.read_text()
    edit(repo / "mymodels" / "layers.py", "dim=8", "dim=12", count=4)
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    out = result.stdout
    assert out.startswith("init_weights.py: out of date\n")
    assert re.search(
        r"reason \(models\): the models changed: TENSOR_TABLE has 4 rows only in the "
        r"file and 4 only in the\s+regenerated script; SPECIAL_INIT_TENSORS has 4 rows",
        out,
    ), out
    assert "--- init_weights.py (committed)\n+++ init_weights.py (regenerated)\n" in out
    assert '-    ("norm.weight", "norm.weight", "copy", (8,), (8,)),' in out
    assert '+    ("norm.weight", "norm.weight", "copy", (12,), (12,)),' in out
    assert f"fix: {read_header(script).command}" in out
    assert script.read_text() == committed, "check must not write"


def test_a_setting_changed_in_the_models(repo):
    """An eps changed in one model: the same tensors are copied, and the reason names
    the setting and the layer, not an initializer or a hand edit."""
    script = repo / "init_weights.py"
    edit(
        repo / "mymodels" / "layers.py",
        "paddle.nn.LayerNorm(dim)",
        "paddle.nn.LayerNorm(dim, epsilon=1e-3)",
    )
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    text = " ".join(result.stdout.split())
    assert (
        "reason (models): a setting of the models that is not a weight changed (the "
        "tables copy the same tensors): `norm.bias` now differs (torch eps=1e-05, "
        "paddle epsilon=0.001); `norm.weight` now differs" in text
    ), result.stdout
    reason = text[: text.index(" fix: ")]
    assert "initializer" not in reason and "by hand" not in reason, result.stdout
    edit(repo / "mymodels" / "layers.py", "epsilon=1e-3", "epsilon=1e-5")
    back = run_cli("check", "init_weights.py", cwd=repo)
    assert back.returncode == 0, back.stdout + back.stderr


def test_models_that_no_longer_pair(repo):
    edit(
        repo / "mymodels" / "layers.py",
        "self.out = torch.nn.Linear(dim, dim)",
        "self.out = torch.nn.Linear(dim, dim + 1)",
    )
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    assert (
        "reason (models): the models changed and no longer pair: Shape mismatch: base"
        in (result.stdout.replace("\n    ", " "))
    )
    assert (
        "fix: make the models pair (`padiff-gen inspect` shows where)" in result.stdout
    )
    assert "Traceback" not in result.stderr


def test_initializer_source_changed(repo):
    edit(
        repo / "mymodels" / "inits.py",
        "np.ascontiguousarray(block.T)",
        "np.ascontiguousarray(block.T) * 1.0",
    )
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    text = result.stdout.replace("\n    ", " ")
    assert (
        "reason (code): the tables are the same but the code differs in "
        "init_packed_projection: an initializer's source changed" in text
    ), text
    # The script imports numpy once, as `numpy`: the module's `np.` reads `numpy.` there.
    assert (
        "+        getattr(raw_model, name).set_value("
        "numpy.ascontiguousarray(block.T) * 1.0)" in text
    )


def test_a_comment_changed_in_an_initializer(repo):
    """The inlined source changed in a comment only: the code is the same, but the
    reason is the initializer's source, not another black or a hand edit."""
    edit(
        repo / "mymodels" / "inits.py",
        "    for index, name in enumerate(PROJECTIONS):",
        "    # q, k and v are stacked in this order\n"
        "    for index, name in enumerate(PROJECTIONS):",
    )
    edit(
        repo / "mymodels" / "inits.py",
        "    rows = weight.shape[0] // count",
        "    rows = weight.shape[0] // count  # rows per projection",
    )
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    text = " ".join(result.stdout.split())
    assert (
        "reason (code): the source of an initializer changed, in comments or formatting "
        "only: init_packed_projection, torch_rows (the tables and the code are the same)"
        in text
    ), text
    assert "black" not in text and "by hand" not in text
    assert "+ # q, k and v are stacked in this order" in text


def test_only_the_generator_version_and_formatting_changed(repo):
    script = repo / "init_weights.py"
    edit(script, f"padiff-gen {__version__}.", "padiff-gen 0.0.1.")
    # What another black might do: other quotes and line breaks, same code.
    edit(
        script,
        "def init_weights(base_model, raw_model):",
        "def init_weights(\n    base_model, raw_model\n):",
    )
    edit(script, 'if __name__ == "__main__":', "if __name__ == '__main__':")
    result = run_cli("check", "init_weights.py", cwd=repo)
    assert result.returncode == 1, result.stderr
    text = result.stdout.replace("\n    ", " ")
    assert (
        "reason (version): only the generator version changed (the file was made by "
        f"padiff-gen 0.0.1; this is {__version__})" in text
    ), text
    assert f"-# @generated by padiff-gen 0.0.1." in text
    assert f"+# @generated by padiff-gen {__version__}." in text


def test_options_changed_in_the_configuration(repo):
    # The same models, but the configured target maps `proj` by hand instead of
    # automatically: the tables agree, the recorded command does not.
    (repo / "pyproject.toml").write_text(textwrap.dedent("""
            [[tool.padiff-gen.targets]]
            output = "init_weights.py"
            base = "torch:mymodels.layers.TorchBlock"
            raw = "paddle:mymodels.layers.PaddleBlock"
            layer-map = "none"
            maps = ["proj=proj"]
            init-modules = ["mymodels.inits"]
            """))
    stale = run_cli("check", cwd=repo)  # no files: the configured targets
    assert stale.returncode == 1, stale.stderr
    text = stale.stdout.replace("\n    ", " ")
    assert (
        "reason (options): the mapping options changed: maps [] -> ['proj=proj']; "
        "layer-map 'auto' -> 'none'" in text
    ), text
    assert "fix: padiff-gen emit --target init_weights" in text
    emitted = run_cli("emit", cwd=repo)  # no flags: every configured target
    assert emitted.returncode == 0, emitted.stderr
    assert "wrote init_weights.py" in emitted.stderr
    assert "--layer-map none" in read_header(repo / "init_weights.py").command
    fresh = run_cli("check", cwd=repo)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr


def test_scripts_outside_the_configured_targets_are_checked_too(repo):
    # A project configures one target; a second script was emitted by hand next to it.
    (repo / "pyproject.toml").write_text(textwrap.dedent("""
            [[tool.padiff-gen.targets]]
            output = "configured.py"
            base = "torch:mymodels.layers.TorchBlock"
            raw = "paddle:mymodels.layers.PaddleBlock"
            init-modules = ["mymodels.inits"]
            """))
    emitted = run_cli("emit", cwd=repo)
    assert emitted.returncode == 0, emitted.stderr
    fresh = run_cli("check", cwd=repo)
    assert fresh.returncode == 0, fresh.stdout + fresh.stderr
    assert "configured.py: up to date" in fresh.stdout
    assert "init_weights.py: up to date" in fresh.stdout
    # The hand-emitted script goes stale: a bare `check` must say so, not skip it.
    edit(repo / "mymodels" / "layers.py", "dim=8", "dim=12", count=4)
    stale = run_cli("check", cwd=repo)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert "init_weights.py: out of date" in stale.stdout
    assert "configured.py: out of date" in stale.stdout


def test_usage_errors_exit_2_and_the_other_files_are_still_checked(repo):
    (repo / "plain.py").write_text("print('hello')\n")
    script = (repo / "init_weights.py").read_text()
    (repo / "memory.py").write_text(
        script.replace(
            script.split('"""', 1)[0],
            "# @generated by padiff-gen 0.1.0. Do not edit by hand.\n"
            "# Made from models passed in memory: regenerate with padiff_gen.emit().\n",
        )
    )
    (repo / "garbled.py").write_text(
        script.replace("#   padiff-gen emit --base", "#   padiff-gen emit --bsae")
    )
    result = run_cli(
        "check",
        "init_weights.py",
        "missing.py",
        "plain.py",
        "memory.py",
        "garbled.py",
        cwd=repo,
    )
    assert result.returncode == 2
    assert result.stdout.strip() == "init_weights.py: up to date"
    errors = result.stderr.replace("\n", " ")
    assert "padiff-gen: error: missing.py does not exist." in errors
    assert "plain.py was not generated by padiff-gen" in errors
    assert "memory.py records no `padiff-gen emit` command" in errors
    assert "The command recorded in garbled.py cannot be parsed" in errors
    assert "Traceback" not in result.stderr


def documented_pre_commit_configs() -> list[dict]:
    """The .pre-commit-config.yaml snippets of docs/commands.md, parsed."""
    text = (ROOT / "docs" / "commands.md").read_text()
    section = text[text.index("### As a pre-commit hook") :]
    section = section[: section.index("\n## ")]
    return [
        yaml.safe_load(block)
        for block in re.findall(r"```yaml\n(.*?)```", section, re.S)
    ]


def test_the_documented_pre_commit_snippets_match_the_shipped_hook():
    shipped = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in shipped if h["id"] == "padiff-gen-check")
    assert hook["pass_filenames"] is False  # a model edit must re-check every script
    local, remote = documented_pre_commit_configs()
    [local_repo] = local["repos"]
    assert local_repo["repo"] == "local" and "rev" not in local_repo
    [copied] = local_repo["hooks"]
    # The local hook is the shipped one, word for word (its description aside).
    assert copied == {k: v for k, v in hook.items() if k != "description"}
    [remote_repo] = remote["repos"]
    assert remote_repo["hooks"] == [{"id": "padiff-gen-check"}]
    # No made-up tag: a placeholder to fill in, or a tag this repository has.
    rev = str(remote_repo["rev"])
    tags = subprocess.run(
        ["git", "tag"], cwd=ROOT, capture_output=True, text=True
    ).stdout.split()
    assert rev.startswith("<") or rev in tags, rev


def test_the_pre_commit_snippet_works_when_copied(repo, tmp_path):
    """pre-commit itself runs the documented snippet in a fresh repository, offline."""
    local, _ = documented_pre_commit_configs()
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(local))
    environment = subprocess_env(PRE_COMMIT_HOME=str(tmp_path / "pre-commit-home"))
    # The `padiff-gen` command of the environment that runs the tests, as for a user.
    environment["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), environment.get("PATH", "")]
    )

    def pre_commit() -> subprocess.CompletedProcess:
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        return subprocess.run(
            [sys.executable, "-m", "pre_commit", "run", "--all-files"],
            cwd=repo,
            env=environment,
            capture_output=True,
            text=True,
        )

    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    clean = pre_commit()
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert re.search(r"padiff-gen check\.+Passed", clean.stdout), clean.stdout
    edit(repo / "mymodels" / "layers.py", "dim=8", "dim=12", count=4)
    stale = pre_commit()
    assert stale.returncode == 1, stale.stdout + stale.stderr
    assert re.search(r"padiff-gen check\.+Failed", stale.stdout), stale.stdout
    assert "reason (models)" in stale.stdout


# ---------------------------------------------------------------- pure functions

HEADER = (
    "# @generated by padiff-gen {version}. Do not edit by hand.\n"
    "# Regenerate with:\n"
    "#   padiff-gen emit --base torch:m.A --raw paddle:m.B -o out/init.py\n"
)


def script(
    version="0.1.0", rows='("a.weight", "a.weight", "copy", (2,), (2,)),', body="x = 1"
):
    return (
        HEADER.format(version=version)
        + f"TENSOR_TABLE = (\n    {rows}\n)\nSPECIAL_INITS = ()\nSPECIAL_INIT_TENSORS = ()\n"
        + body
        + "\n"
    )


def test_classify_tells_the_reasons_apart():
    base = script()
    [models] = classify(
        base, script(rows='("a.weight", "a.weight", "copy", (3,), (3,)),')
    )
    assert models.kind == "models"
    assert (
        "TENSOR_TABLE has 1 row only in the file and 1 only in the regenerated"
        in models.text
    )
    [version] = classify(script(version="0.0.1", body="x  =  1"), base)
    assert version.kind == "version"
    assert "made by padiff-gen 0.0.1; this is 0.1.0" in version.text
    [formatting] = classify(script(body="x = (1)"), base)
    assert formatting.kind == "version"
    assert formatting.text.startswith("only comments or formatting differ")
    [code] = classify(
        script(body="def f():\n    return 2"), script(body="def f():\n    return 1")
    )
    assert code.kind == "code" and "differs in f:" in code.text
    marked = '("a.weight", "a.weight", "copy", (2,), (2,)),  # differs: eps 1 vs 2'
    [setting] = classify(script(rows=marked), base)
    assert setting.kind == "models"
    assert "`a.weight` no longer differs (was: eps 1 vs 2)" in setting.text
    [broken] = classify("# @generated by padiff-gen 0.1.0.\ndef (:\n", base)
    assert broken.kind == "code" and "not valid Python" in broken.text


def test_table_rows_ignore_formatting():
    import ast

    spread = script(
        rows='(\n        "a.weight",\n        "a.weight",\n        "copy",\n        (2,),\n        (2,),\n    ),'
    )
    assert table_rows(ast.parse(spread)) == table_rows(ast.parse(script()))
    assert header_version(script("1.2.3")) == "1.2.3"


def test_read_header(tmp_path):
    path = tmp_path / "init.py"
    path.write_text(script())
    header = read_header(path)
    assert header.version == "0.1.0"
    assert header.argv == (
        "--base",
        "torch:m.A",
        "--raw",
        "paddle:m.B",
        "-o",
        "out/init.py",
    )
    path.write_text(
        script().replace("padiff-gen emit", "padiff-gen emit --layer-map sideways")
    )
    with pytest.raises(
        UsageError, match="cannot be parsed: .*invalid choice: 'sideways'"
    ):
        read_header(path)
    path.write_text(script().replace("--raw paddle:m.B ", ""))
    with pytest.raises(UsageError, match="names no --base or no --raw"):
        read_header(path)


def test_a_script_written_outside_the_folder_emit_ran_in_checks_from_its_own(
    repo, tmp_path
):
    """emit ran in the models' folder with -o elsewhere: the header records only the
    file's name, so check from the script's folder could not import the models
    ("Cannot import module"); it now imports them from where BASE_SPEC says emit did."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    args = list(EMIT)
    args[args.index("-o") + 1] = str(elsewhere / "init_weights.py")
    assert run_cli(*args, cwd=repo).returncode == 0
    done = run_cli("check", "--full", "init_weights.py", cwd=elsewhere)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "init_weights.py: up to date"


def test_root_for_finds_where_the_command_ran(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "repo" / "out" / "init.py"
    assert root_for(path, "out/init.py") == (tmp_path / "repo").resolve()
    assert root_for(path, "elsewhere/init.py") == Path.cwd()
    assert root_for(path, None) == Path.cwd()


# ---------------------------------------------------------------- unchanged inputs

COUNTED = """
import json, os, pathlib

import paddle
import torch

HERE = pathlib.Path(__file__).parent


def _width():
    with open(os.environ["BUILDS"], "a") as log:
        log.write("built\\n")
    return json.loads((HERE / "sizes.json").read_text())["width"]


class TorchNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, _width())

    def forward(self, x):
        return self.fc(x)


class PaddleNet(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.fc = paddle.nn.Linear(4, _width())

    def forward(self, x):
        return self.fc(x)
"""


def test_an_unchanged_project_is_answered_without_building_the_models(tmp_path):
    """emit records what deriving the script read (the models' source, the data file
    their constructors read, the libraries' versions); check then answers an unchanged
    project without building the models, and derives it again when one of them changed
    (the source, a data file) or when told to (--full)."""
    (tmp_path / "counted.py").write_text(COUNTED)
    (tmp_path / "sizes.json").write_text('{"width": 3}')
    builds = tmp_path / "builds.log"
    env = {
        "BUILDS": str(builds),
        "PADIFF_GEN_CACHE": str(tmp_path / "cache"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
    }

    def cli(*args):
        done = subprocess.run(
            [sys.executable, "-m", "padiff_gen", *args],
            cwd=tmp_path,
            env=subprocess_env(**env),
            capture_output=True,
            text=True,
        )
        count = len(builds.read_text().splitlines()) if builds.exists() else 0
        return done, count

    emitted, after_emit = cli(
        "emit", "--base", "torch:counted.TorchNet", "--raw", "paddle:counted.PaddleNet",
        "-o", "init_weights.py",
    )  # fmt: skip
    assert emitted.returncode == 0, emitted.stderr
    assert after_emit > 0
    checked, count = cli("check", "init_weights.py")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "up to date" in checked.stdout
    assert count == after_emit, "an unchanged project was derived again"
    full, count = cli("check", "--full", "init_weights.py")
    assert full.returncode == 0 and count > after_emit
    # the source changed (a comment): derived again, still up to date
    with (tmp_path / "counted.py").open("a") as source:
        source.write("# a comment\n")
    before = count
    checked, count = cli("check", "init_weights.py")
    assert checked.returncode == 0 and count > before
    before = count
    checked, count = cli("check", "init_weights.py")  # recorded again: not derived
    assert checked.returncode == 0 and count == before
    # the data file a constructor reads changed: derived again, and it differs
    (tmp_path / "sizes.json").write_text('{"width": 5}')
    checked, count = cli("check", "init_weights.py")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert count > before
    assert "fc.weight" in checked.stdout
