"""A three-layer perceptron."""

import paddle
import torch


class TorchMLP(torch.nn.Module):
    def __init__(self, sizes=(16, 32, 32, 4)):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            torch.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])
        )

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class PaddleMLP(paddle.nn.Layer):
    def __init__(self, sizes=(16, 32, 32, 4)):
        super().__init__()
        self.layers = paddle.nn.LayerList(
            [paddle.nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        )

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = paddle.nn.functional.relu(layer(x))
        return self.layers[-1](x)
