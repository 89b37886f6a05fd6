"""Models built from a small JSON description, in torch or in paddle (for property tests).

A description is a tree of plain dicts, so it travels as constructor kwargs: the spec
``torch:examples.random_models.build_torch`` with ``{"tree": ...}`` builds it, and a
generated script rebuilds it from the spec it records.

Containers: ``{"kind": "seq" | "list" | "dict" | "custom", "children": [...]}``, with
``"names"`` for dict and custom (sub-layer names in definition order). The root is always a
custom container. Leaves all map ``[batch, time, width_in]`` to ``[batch, time, width_out]``:

    linear {in, out}                conv1d / conv2d {in, out, k, bias}  (kernel k x 1)
    batchnorm {c}   layernorm {c}   embedding {num, c}: adds a position embedding (num >= time)
    lstm / gru {in, hidden, layers, bidirectional}    attention {c, heads}

The forward pass runs the leaves in definition order. This module imports neither
padiff_gen nor anything generated.
"""

from __future__ import annotations

from typing import Any, Iterator

import paddle
import torch

CONTAINERS = ("seq", "list", "dict", "custom")
LEAVES = (
    "linear",
    "conv1d",
    "conv2d",
    "batchnorm",
    "layernorm",
    "embedding",
    "lstm",
    "gru",
    "attention",
)


def child_names(node: dict) -> list[str]:
    """The sub-layer names of a container, as both frameworks name them."""
    if node["kind"] in ("seq", "list"):
        return [str(index) for index in range(len(node["children"]))]
    return list(node["names"])


def iter_leaves(node: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, leaf) in definition order."""
    if node["kind"] not in CONTAINERS:
        yield path, node
        return
    for name, child in zip(child_names(node), node["children"]):
        yield from iter_leaves(child, f"{path}.{name}" if path else name)


def iter_containers(node: dict, path: str = "") -> Iterator[tuple[str, dict]]:
    """(dotted path, container) in definition order, the root ("") first."""
    if node["kind"] not in CONTAINERS:
        return
    yield path, node
    for name, child in zip(child_names(node), node["children"]):
        yield from iter_containers(child, f"{path}.{name}" if path else name)


def in_width(leaf: dict) -> int:
    return leaf["in"] if "in" in leaf else leaf["c"]


def out_width(leaf: dict) -> int:
    kind = leaf["kind"]
    if kind in ("linear", "conv1d", "conv2d"):
        return leaf["out"]
    if kind in ("lstm", "gru"):
        return leaf["hidden"] * (2 if leaf["bidirectional"] else 1)
    return leaf["c"]


def _child(module: Any, kind: str, name: str) -> Any:
    if kind in ("seq", "list"):
        return module[int(name)]
    if kind == "dict":
        return module[name]
    return getattr(module, name)


def run(node: dict, module: Any, x: Any, leaf_forward) -> Any:
    """Run the leaves under ``node`` in definition order."""
    if node["kind"] not in CONTAINERS:
        return leaf_forward(node, module, x)
    for name, child in zip(child_names(node), node["children"]):
        x = run(child, _child(module, node["kind"], name), x, leaf_forward)
    return x


# ---------------------------------------------------------------- torch


def _torch_leaf(leaf: dict) -> Any:
    nn, kind = torch.nn, leaf["kind"]
    if kind == "linear":
        return nn.Linear(leaf["in"], leaf["out"])
    if kind == "conv1d":
        k = leaf["k"]
        return nn.Conv1d(leaf["in"], leaf["out"], k, padding=k // 2, bias=leaf["bias"])
    if kind == "conv2d":
        k = leaf["k"]
        return nn.Conv2d(
            leaf["in"], leaf["out"], (k, 1), padding=(k // 2, 0), bias=leaf["bias"]
        )
    if kind == "batchnorm":
        return nn.BatchNorm1d(leaf["c"])
    if kind == "layernorm":
        return nn.LayerNorm(leaf["c"])
    if kind == "embedding":
        return nn.Embedding(leaf["num"], leaf["c"])
    if kind in ("lstm", "gru"):
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        return rnn(
            leaf["in"],
            leaf["hidden"],
            num_layers=leaf["layers"],
            bidirectional=leaf["bidirectional"],
            batch_first=True,
        )
    if kind == "attention":
        return nn.MultiheadAttention(leaf["c"], leaf["heads"], batch_first=True)
    raise ValueError(f"unknown leaf kind {kind!r}")


def _torch_forward(leaf: dict, layer: Any, x: Any) -> Any:
    kind = leaf["kind"]
    if kind in ("conv1d", "batchnorm"):  # channels first: [batch, width, time]
        return layer(x.transpose(1, 2)).transpose(1, 2)
    if kind == "conv2d":
        return layer(x.transpose(1, 2).unsqueeze(-1)).squeeze(-1).transpose(1, 2)
    if kind == "embedding":
        return x + layer(torch.arange(x.shape[1]))
    if kind in ("lstm", "gru"):
        return layer(x)[0]
    if kind == "attention":
        return layer(x, x, x, need_weights=False)[0]
    return layer(x)


def _torch_node(node: dict) -> Any:
    kind = node["kind"]
    if kind not in CONTAINERS:
        return _torch_leaf(node)
    children = [_torch_node(child) for child in node["children"]]
    if kind == "seq":
        return torch.nn.Sequential(*children)
    if kind == "list":
        return torch.nn.ModuleList(children)
    if kind == "dict":
        return torch.nn.ModuleDict(dict(zip(node["names"], children)))
    block = TorchBlock()
    for name, child in zip(node["names"], children):
        setattr(block, name, child)
    return block


class TorchBlock(torch.nn.Module):
    """A user-defined container: sub-layers as attributes."""


class TorchRandomModel(torch.nn.Module):
    def __init__(self, tree: dict) -> None:
        super().__init__()
        self.tree = tree
        for name, child in zip(tree["names"], tree["children"]):
            setattr(self, name, _torch_node(child))

    def forward(self, x):
        return run(self.tree, self, x, _torch_forward)


# ---------------------------------------------------------------- paddle


def _paddle_leaf(leaf: dict) -> Any:
    nn, kind = paddle.nn, leaf["kind"]
    if kind == "linear":
        return nn.Linear(leaf["in"], leaf["out"])
    if kind in ("conv1d", "conv2d"):
        k, bias = leaf["k"], None if leaf["bias"] else False
        if kind == "conv1d":
            return nn.Conv1D(leaf["in"], leaf["out"], k, padding=k // 2, bias_attr=bias)
        return nn.Conv2D(
            leaf["in"], leaf["out"], (k, 1), padding=(k // 2, 0), bias_attr=bias
        )
    if kind == "batchnorm":
        return nn.BatchNorm1D(leaf["c"])
    if kind == "layernorm":
        return nn.LayerNorm(leaf["c"])
    if kind == "embedding":
        return nn.Embedding(leaf["num"], leaf["c"])
    if kind in ("lstm", "gru"):
        rnn = nn.LSTM if kind == "lstm" else nn.GRU
        return rnn(
            leaf["in"],
            leaf["hidden"],
            num_layers=leaf["layers"],
            direction="bidirect" if leaf["bidirectional"] else "forward",
        )
    if kind == "attention":
        return nn.MultiHeadAttention(leaf["c"], leaf["heads"])
    raise ValueError(f"unknown leaf kind {kind!r}")


def _paddle_forward(leaf: dict, layer: Any, x: Any) -> Any:
    kind = leaf["kind"]
    if kind in ("conv1d", "batchnorm"):
        return layer(x.transpose([0, 2, 1])).transpose([0, 2, 1])
    if kind == "conv2d":
        return (
            layer(x.transpose([0, 2, 1]).unsqueeze(-1)).squeeze(-1).transpose([0, 2, 1])
        )
    if kind == "embedding":
        return x + layer(paddle.arange(x.shape[1]))
    if kind in ("lstm", "gru"):
        return layer(x)[0]
    if kind == "attention":
        return layer(x, x, x)
    return layer(x)


def _paddle_node(node: dict) -> Any:
    kind = node["kind"]
    if kind not in CONTAINERS:
        return _paddle_leaf(node)
    children = [_paddle_node(child) for child in node["children"]]
    if kind == "seq":
        return paddle.nn.Sequential(*children)
    if kind == "list":
        return paddle.nn.LayerList(children)
    if kind == "dict":
        return paddle.nn.LayerDict(dict(zip(node["names"], children)))
    block = PaddleBlock()
    for name, child in zip(node["names"], children):
        setattr(block, name, child)
    return block


class PaddleBlock(paddle.nn.Layer):
    """A user-defined container: sub-layers as attributes."""


class PaddleRandomModel(paddle.nn.Layer):
    def __init__(self, tree: dict) -> None:
        super().__init__()
        self.tree = tree
        for name, child in zip(tree["names"], tree["children"]):
            setattr(self, name, _paddle_node(child))

    def forward(self, x):
        return run(self.tree, self, x, _paddle_forward)


def build_torch(tree: dict) -> TorchRandomModel:
    return TorchRandomModel(tree)


def build_paddle(tree: dict) -> PaddleRandomModel:
    return PaddleRandomModel(tree)
