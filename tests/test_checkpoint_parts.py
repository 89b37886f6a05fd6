"""Base tensors that a checkpoint holds in parts (Hugging Face's Hub layout of MoE experts).

transformers 5 keeps MoE experts stacked in the model (``experts.gate_up_proj`` [E, 2I, H])
but saves them per expert (``experts.0.gate_proj.weight`` [I, H], ...), and declares how
(``transformers.conversion_mapping``). padiff_gen.analysis.hf_checkpoints turns that declaration
into CHECKPOINT_TABLE rows; the script's checkpoint reader assembles the stacked tensor
from the parts. The real libraries are exercised by `make test-llm`; here a stand-in for
transformers' declaration, and the reader on a real checkpoint file.
"""

from __future__ import annotations

import sys
import types

import pytest
import torch
from safetensors.torch import load_file, save_file

from padiff_gen.analysis.hf_checkpoints import checkpoint_rows
from padiff_gen.plan.plan import TensorRef
from padiff_gen.runtime.core.common import CheckpointError
from padiff_gen.runtime.conversion.io_torch import open_checkpoint

EXPERTS, INTER, HIDDEN = 3, 4, 5


class Experts(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate_up_proj = torch.nn.Parameter(torch.randn(EXPERTS, 2 * INTER, HIDDEN))
        self.down_proj = torch.nn.Parameter(torch.randn(EXPERTS, HIDDEN, INTER))


class Block(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.experts = Experts()
        self.norm = torch.nn.LayerNorm(HIDDEN)


def _converter(name: str, sources, target, *operations):
    return types.SimpleNamespace(
        source_patterns=list(sources),
        target_patterns=[target],
        operations=[type(name, (), {"dim": dim})() for name, dim in operations],
    )


@pytest.fixture
def fake_transformers(monkeypatch):
    """transformers' declaration for Qwen-MoE-like experts, without transformers."""

    class PreTrainedModel(torch.nn.Module):
        pass

    converters = [
        _converter(
            "gate_up",
            ["experts.*.gate_proj.weight", "experts.*.up_proj.weight"],
            "experts.gate_up_proj",
            ("MergeModulelist", 0),
            ("Concatenate", 1),
        ),
        _converter(
            "down",
            ["experts.*.down_proj.weight"],
            "experts.down_proj",
            ("MergeModulelist", 0),
        ),
    ]
    package = types.ModuleType("transformers")
    package.PreTrainedModel = PreTrainedModel
    mapping = types.ModuleType("transformers.conversion_mapping")
    mapping.get_model_conversion_mapping = lambda model: converters
    monkeypatch.setitem(sys.modules, "transformers", package)
    monkeypatch.setitem(sys.modules, "transformers.conversion_mapping", mapping)
    return PreTrainedModel


def hub_checkpoint(model: Block, path) -> None:
    """The checkpoint as transformers' save_pretrained writes it: experts one by one."""
    gate_up, down = (
        model.experts.gate_up_proj.detach(),
        model.experts.down_proj.detach(),
    )
    state = {
        "norm.weight": model.norm.weight.detach(),
        "norm.bias": model.norm.bias.detach(),
    }
    for e in range(EXPERTS):
        state[f"experts.{e}.gate_proj.weight"] = gate_up[e, :INTER].clone()
        state[f"experts.{e}.up_proj.weight"] = gate_up[e, INTER:].clone()
        state[f"experts.{e}.down_proj.weight"] = down[e].clone()
    save_file(state, str(path))


def rows_of(model) -> tuple:
    tensors = [
        TensorRef(name, tuple(t.shape), "float32")
        for name, t in model.state_dict().items()
    ]
    return tuple(
        (r.keys, r.tensor.path, r.transform.text(), r.shapes, r.tensor.shape)
        for r in checkpoint_rows(model, tensors)
    )


def test_rows_follow_the_library_declaration(fake_transformers):
    class Model(fake_transformers):
        def __init__(self):
            super().__init__()
            self.experts = Experts()

    rows = rows_of(Model())
    gate_up = next(r for r in rows if r[1] == "experts.gate_up_proj")
    assert gate_up[0] == tuple(
        f"experts.{e}.{part}.weight"
        for part in ("gate_proj", "up_proj")
        for e in range(3)
    )
    assert gate_up[2] == "stack(axis=0, every=3) | concatenate(axis=1)"
    assert gate_up[3] == ((INTER, HIDDEN),) * 6
    down = next(r for r in rows if r[1] == "experts.down_proj")
    assert down[2] == "stack(axis=0)" and down[3] == ((HIDDEN, INTER),) * 3


def test_no_rows_for_a_model_of_another_library(fake_transformers):
    assert rows_of(Block()) == ()


def test_the_reader_assembles_stacked_tensors_from_their_parts(
    fake_transformers, tmp_path
):
    class Model(fake_transformers, Block):
        pass

    model = Model()
    path = tmp_path / "model.safetensors"
    hub_checkpoint(model, path)
    rows = rows_of(model)
    with open_checkpoint(str(path), model, assembled=rows) as checkpoint:
        for name in ("experts.gate_up_proj", "experts.down_proj", "norm.weight"):
            expected = model.state_dict()[name]
            assert torch.equal(checkpoint.read(name), expected), name
        assert (
            checkpoint.nbytes("experts.gate_up_proj")
            == 4 * EXPERTS * 2 * INTER * HIDDEN
        )
    # Without the rows the same checkpoint does not fit the model, and says why.
    with pytest.raises(CheckpointError, match="it lacks `experts.gate_up_proj`"):
        open_checkpoint(str(path), model)
    # A part of another shape is named.
    parts = load_file(str(path))
    parts["experts.1.up_proj.weight"] = torch.zeros(INTER + 1, HIDDEN)
    save_file(parts, str(path))
    with pytest.raises(
        CheckpointError, match="`experts.1.up_proj.weight` is \\[5, 5\\]"
    ):
        open_checkpoint(str(path), model, assembled=rows)
