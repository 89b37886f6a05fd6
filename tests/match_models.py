"""Models for the matching tests: ports that neither definition order nor paths pair."""

import paddle
import torch

from examples.reordered import TorchReordered


class PaddleRenamed(paddle.nn.Layer):
    """PaddleReordered with `head` called `classifier`: order and paths both fail."""

    def __init__(self):
        super().__init__()
        self.classifier = paddle.nn.Linear(8, 10)
        self.key = paddle.nn.Linear(8, 8)
        self.query = paddle.nn.Linear(8, 8)
        self.norm = paddle.nn.BatchNorm2D(8)
        self.stem = paddle.nn.Conv2D(3, 8, 3, padding=1)


class PaddleUnderscored(paddle.nn.Layer):
    """PaddleReordered with PaddleClas-style `_name` attributes: paths equal once the
    underscores are stripped."""

    def __init__(self):
        super().__init__()
        self._head = paddle.nn.Linear(8, 10)
        self._key = paddle.nn.Linear(8, 8)
        self._query = paddle.nn.Linear(8, 8)
        self._norm = paddle.nn.BatchNorm2D(8)
        self._stem = paddle.nn.Conv2D(3, 8, 3, padding=1)

    def forward(self, x):
        x = paddle.nn.functional.relu(self._norm(self._stem(x))).mean(axis=(2, 3))
        return self._head(paddle.tanh(self._query(x)) * self._key(x))


class TorchWider(TorchReordered):
    """TorchReordered with a wider `key`: same paths, and a shape that cannot pair."""

    def __init__(self):
        super().__init__()
        self.key = torch.nn.Linear(8, 12)  # emit refuses it: no forward needed
