"""Embedding + two-layer bidirectional LSTM + Linear head (a sequence tagger)."""

import paddle
import torch


class TorchTagger(torch.nn.Module):
    def __init__(self, vocab=50, dim=16, hidden=24, tags=5):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, dim)
        self.lstm = torch.nn.LSTM(
            dim, hidden, num_layers=2, bidirectional=True, batch_first=True
        )
        self.head = torch.nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        states, _ = self.lstm(self.embed(tokens))
        return self.head(states)


class PaddleTagger(paddle.nn.Layer):
    def __init__(self, vocab=50, dim=16, hidden=24, tags=5):
        super().__init__()
        self.embed = paddle.nn.Embedding(vocab, dim)
        self.lstm = paddle.nn.LSTM(dim, hidden, num_layers=2, direction="bidirect")
        self.head = paddle.nn.Linear(2 * hidden, tags)

    def forward(self, tokens):
        states, _ = self.lstm(self.embed(tokens))
        return self.head(states)
