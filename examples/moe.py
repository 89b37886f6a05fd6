"""A deep mixture-of-experts pair whose script has enough rows to fold them: layers of
MoE blocks, the experts stacked into 3-D tensors on the torch side (as transformers 5
holds them) and a list of per-expert layers on the paddle side (as PaddleFormers does),
so that rows repeat by layer and by expert. With ``odd``, one block has a router bias
the others lack: its rows do not repeat and stay rows of their own.

    padiff-gen emit --base torch:examples.moe.torch_model --base-kwargs '{"layers": 8}' \
        --raw paddle:examples.moe.paddle_model --raw-kwargs '{"layers": 8}'
"""

from __future__ import annotations

import paddle
import torch

tnn, pnn = torch.nn, paddle.nn
HIDDEN, INTER = 8, 6


class TorchExperts(tnn.Module):
    """up [E, I, H] and down [E, H, I], each expert F.linear with its slice."""

    def __init__(self, experts: int) -> None:
        super().__init__()
        self.up = tnn.Parameter(torch.randn(experts, INTER, HIDDEN) * 0.3)
        self.down = tnn.Parameter(torch.randn(experts, HIDDEN, INTER) * 0.3)

    def forward(self, x, weights):
        out = 0
        for e in range(self.up.shape[0]):
            hidden = torch.tanh(torch.nn.functional.linear(x, self.up[e]))
            out = out + weights[..., e : e + 1] * torch.nn.functional.linear(
                hidden, self.down[e]
            )
        return out


class TorchBlock(tnn.Module):
    def __init__(self, experts: int, bias: bool) -> None:
        super().__init__()
        self.norm = tnn.LayerNorm(HIDDEN)
        self.router = tnn.Linear(HIDDEN, experts, bias=bias)
        self.experts = TorchExperts(experts)

    def forward(self, x):
        h = self.norm(x)
        return x + self.experts(h, torch.softmax(self.router(h), -1))


class TorchNet(tnn.Module):
    def __init__(self, layers: int = 6, experts: int = 8, odd: int = -1) -> None:
        super().__init__()
        self.inp = tnn.Linear(HIDDEN, HIDDEN)
        self.layers = tnn.ModuleList(
            [TorchBlock(experts, bias=(i == odd)) for i in range(layers)]
        )
        self.out = tnn.Linear(HIDDEN, 3)

    def forward(self, x):
        x = self.inp(x)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


class PaddleExpert(pnn.Layer):
    def __init__(self) -> None:
        super().__init__()
        self.up = pnn.Linear(HIDDEN, INTER, bias_attr=False)
        self.down = pnn.Linear(INTER, HIDDEN, bias_attr=False)

    def forward(self, x):
        return self.down(paddle.tanh(self.up(x)))


class PaddleBlock(pnn.Layer):
    def __init__(self, experts: int, bias: bool) -> None:
        super().__init__()
        self.norm = pnn.LayerNorm(HIDDEN)
        self.router = pnn.Linear(HIDDEN, experts, bias_attr=None if bias else False)
        self.experts = pnn.LayerList([PaddleExpert() for _ in range(experts)])

    def forward(self, x):
        h = self.norm(x)
        weights = paddle.nn.functional.softmax(self.router(h), -1)
        out = 0
        for e, expert in enumerate(self.experts):
            out = out + weights[..., e : e + 1] * expert(h)
        return x + out


class PaddleNet(pnn.Layer):
    def __init__(self, layers: int = 6, experts: int = 8, odd: int = -1) -> None:
        super().__init__()
        self.inp = pnn.Linear(HIDDEN, HIDDEN)
        self.layers = pnn.LayerList(
            [PaddleBlock(experts, bias=(i == odd)) for i in range(layers)]
        )
        self.out = pnn.Linear(HIDDEN, 3)

    def forward(self, x):
        x = self.inp(x)
        for layer in self.layers:
            x = layer(x)
        return self.out(x)


def torch_model(**sizes):
    return TorchNet(**sizes)


def paddle_model(**sizes):
    return PaddleNet(**sizes)
