"""One attention block, ported by hand: torch fuses the query/key/value projections, paddle
keeps three.

torch's ``FusedQKV`` holds one Linear of [3 * dim, dim] (as timm's and many torch ports
do); paddle's ``SplitQKV`` holds ``q``, ``k`` and ``v``, each a Linear of [dim, dim]
(paddle Linear weights are [in, out]). No table of tensor copies can pair one tensor with
three, so ``examples/fused_qkv_inits.py`` registers an initializer for the pair: the worked
example of docs/writing_initializers.md.
"""

import paddle
import torch


class FusedQKV(torch.nn.Module):
    def __init__(self, dim=16, bias=True):
        super().__init__()
        self.qkv = torch.nn.Linear(dim, 3 * dim, bias=bias)

    def forward(self, x):
        return self.qkv(x).chunk(3, dim=-1)


class SplitQKV(paddle.nn.Layer):
    def __init__(self, dim=16, bias=True):
        super().__init__()
        bias_attr = None if bias else False
        self.q = paddle.nn.Linear(dim, dim, bias_attr=bias_attr)
        self.k = paddle.nn.Linear(dim, dim, bias_attr=bias_attr)
        self.v = paddle.nn.Linear(dim, dim, bias_attr=bias_attr)

    def forward(self, x):
        return self.q(x), self.k(x), self.v(x)


class TorchAttention(torch.nn.Module):
    """Single-head self-attention over x [batch, tokens, dim]."""

    def __init__(self, dim=16, bias=True):
        super().__init__()
        self.norm = torch.nn.LayerNorm(dim)
        self.attention = FusedQKV(dim, bias)
        self.out = torch.nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.attention(self.norm(x))
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        return self.out(torch.softmax(scores, dim=-1) @ v)


class PaddleAttention(paddle.nn.Layer):
    def __init__(self, dim=16, bias=True):
        super().__init__()
        self.norm = paddle.nn.LayerNorm(dim)
        self.attention = SplitQKV(dim, bias)
        self.out = paddle.nn.Linear(dim, dim)

    def forward(self, x):
        q, k, v = self.attention(self.norm(x))
        scores = q @ k.transpose([0, 2, 1]) / q.shape[-1] ** 0.5
        return self.out(paddle.nn.functional.softmax(scores, axis=-1) @ v)
