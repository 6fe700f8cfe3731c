"""A tiny two-group MLP for the fine-tuning search tests (``model.factory: tinynet:make_net``).

Groups ``body`` and ``block``, head ``fc``: what ``model.kind: custom`` needs. It trains in
milliseconds on CPU, so a whole search (trials, re-check, final) takes seconds.
"""

from __future__ import annotations

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, in_features: int = 6, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, width), nn.ReLU())
        self.block = nn.Sequential(nn.Linear(width, width), nn.ReLU())
        self.fc = nn.Linear(width, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.fc(self.block(self.body(x)))


def make_net(in_features: int = 6, width: int = 16) -> nn.Module:
    return TinyNet(in_features, width)
