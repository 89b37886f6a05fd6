"""A custom layer written differently in each framework.

torch keeps the query/key/value projections in one packed [3 * dim, dim] weight; paddle in
three separate [dim, dim] weights. No automatic rule can know that, so
``examples/custom_inits.py`` registers a special initializer for the pair.
"""

import paddle
import torch


class PackedProjection(torch.nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.qkv = torch.nn.Parameter(torch.randn(3 * dim, dim))

    def forward(self, x):
        q, k, v = (x @ self.qkv.t()).chunk(3, dim=-1)
        return q * k + v


class SplitProjection(paddle.nn.Layer):
    def __init__(self, dim=8):
        super().__init__()
        self.q = self.create_parameter([dim, dim])
        self.k = self.create_parameter([dim, dim])
        self.v = self.create_parameter([dim, dim])

    def forward(self, x):
        return (x @ self.q) * (x @ self.k) + x @ self.v


class TorchBlock(torch.nn.Module):
    def __init__(self, dim=8):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.proj = PackedProjection(dim)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x):
        return self.out(self.proj(self.norm(x)))


class PaddleBlock(paddle.nn.Layer):
    def __init__(self, dim=8):
        super().__init__()
        self.norm = paddle.nn.LayerNorm(dim)
        self.proj = SplitProjection(dim)
        self.out = paddle.nn.Linear(dim, dim)

    def forward(self, x):
        return self.out(self.proj(self.norm(x)))
