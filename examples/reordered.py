"""Two ports of one model whose layers are defined in a different order.

The attribute names agree, so padiff-gen pairs the layers by path (``--match auto``,
the default, falls back to it when definition order fails). ``PaddleSwapped`` only swaps
two layers of equal shape: definition order would pair them without any error, and copy
``query`` into ``key``; auto matching notices that the paths disagree and pairs by
path.
"""

import paddle
import torch


class TorchReordered(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.norm = torch.nn.BatchNorm2d(8)
        self.query = torch.nn.Linear(8, 8)
        self.key = torch.nn.Linear(8, 8)
        self.head = torch.nn.Linear(8, 10)

    def forward(self, x):
        x = torch.relu(self.norm(self.stem(x))).mean(dim=(2, 3))
        return self.head(torch.tanh(self.query(x)) * self.key(x))


class PaddleReordered(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.head = paddle.nn.Linear(8, 10)
        self.key = paddle.nn.Linear(8, 8)
        self.query = paddle.nn.Linear(8, 8)
        self.norm = paddle.nn.BatchNorm2D(8)
        self.stem = paddle.nn.Conv2D(3, 8, 3, padding=1)

    def forward(self, x):
        x = paddle.nn.functional.relu(self.norm(self.stem(x))).mean(axis=(2, 3))
        return self.head(paddle.tanh(self.query(x)) * self.key(x))


class PaddleSwapped(paddle.nn.Layer):
    """PaddleReordered's layers in TorchReordered's order, except key before query."""

    def __init__(self):
        super().__init__()
        self.stem = paddle.nn.Conv2D(3, 8, 3, padding=1)
        self.norm = paddle.nn.BatchNorm2D(8)
        self.key = paddle.nn.Linear(8, 8)
        self.query = paddle.nn.Linear(8, 8)
        self.head = paddle.nn.Linear(8, 10)

    forward = PaddleReordered.forward
