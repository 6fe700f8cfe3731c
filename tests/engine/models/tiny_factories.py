"""Factories imported by model.factory in the custom-model tests."""

from torch import nn


class Net(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, width), nn.ReLU())
        self.block = nn.Linear(width, width)
        self.fc = nn.Linear(width, 3)

    def forward(self, x):
        return self.fc(self.block(self.body(x)))


def make_net(width: int = 8) -> nn.Module:
    return Net(width)


def not_a_module():
    return 42
