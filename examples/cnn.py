"""A small CNN: Conv2d + BatchNorm2d + ReLU + pooling + Linear, in both frameworks."""

import paddle
import torch


class TorchCNN(torch.nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3, padding=1),
            torch.nn.BatchNorm2d(8),
            torch.nn.ReLU(),
            torch.nn.Conv2d(8, 16, 3, padding=1, bias=False),
            torch.nn.BatchNorm2d(16),
            torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1),
        )
        self.head = torch.nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


class PaddleCNN(paddle.nn.Layer):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.features = paddle.nn.Sequential(
            paddle.nn.Conv2D(3, 8, 3, padding=1),
            paddle.nn.BatchNorm2D(8),
            paddle.nn.ReLU(),
            paddle.nn.Conv2D(8, 16, 3, padding=1, bias_attr=False),
            paddle.nn.BatchNorm2D(16),
            paddle.nn.ReLU(),
            paddle.nn.AdaptiveAvgPool2D(1),
        )
        self.head = paddle.nn.Linear(16, num_classes)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))
