"""Containers inside containers: Sequential, ModuleList/LayerList, ModuleDict/LayerDict."""

import paddle
import torch


class TorchNested(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.LayerNorm(16)
        )
        self.blocks = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.GELU())
            for _ in range(2)
        )
        self.heads = torch.nn.ModuleDict(
            {"score": torch.nn.Linear(16, 1), "label": torch.nn.Linear(16, 3)}
        )

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.heads["score"](x), self.heads["label"](x)


class PaddleNested(paddle.nn.Layer):
    def __init__(self):
        super().__init__()
        self.stem = paddle.nn.Sequential(
            paddle.nn.Linear(8, 16), paddle.nn.ReLU(), paddle.nn.LayerNorm(16)
        )
        self.blocks = paddle.nn.LayerList(
            [
                paddle.nn.Sequential(paddle.nn.Linear(16, 16), paddle.nn.GELU())
                for _ in range(2)
            ]
        )
        self.heads = paddle.nn.LayerDict(
            {"score": paddle.nn.Linear(16, 1), "label": paddle.nn.Linear(16, 3)}
        )

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.heads["score"](x), self.heads["label"](x)
