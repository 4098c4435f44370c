"""One learned input projection per observation space (`policy.input_adapter=per_space`).

Zero-padding puts every task's state into one vector, so slot i of a Pendulum state and
slot i of a suite state share the first layer's weights although they mean different
things. A per-space map gives each space its own first-layer weights (the network's input
layer composed with the space's map) at the price of dim x dim parameters per space. Maps
start at the identity: an untrained per-space model computes what the padded one does.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from robolearn.policies import INPUT_ADAPTERS


class SpaceAdapter(nn.Module):
    """x -> x @ weight[s] + bias[s], s the observation space of each example's task."""

    def __init__(self, dim: int, task_spaces: Sequence[int]):
        super().__init__()
        if not task_spaces:
            raise ValueError("policy.input_adapter=per_space needs each task's observation space")
        n_spaces = max(task_spaces) + 1
        self.register_buffer("task_space", torch.tensor(list(task_spaces), dtype=torch.long))
        self.weight = nn.Parameter(torch.eye(dim).repeat(n_spaces, 1, 1))
        self.bias = nn.Parameter(torch.zeros(n_spaces, dim))

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        # Every space's map on every row (a handful of ~50 x 50 maps costs less than sorting
        # rows by space), each row keeping its own: a space's result is the same op on the same
        # shapes however many spaces there are, so adding one leaves old tasks' outputs exact.
        out = torch.addmm(self.bias[0], x, self.weight[0])
        if self.weight.shape[0] > 1:
            space = self.task_space[task].unsqueeze(-1)
            for s in range(1, self.weight.shape[0]):
                out = torch.where(space == s, torch.addmm(self.bias[s], x, self.weight[s]), out)
        return out

class Padded(nn.Module):
    """Padding alone: the zero-padded state enters the network as it is (no parameters, so
    checkpoints of padded models hold nothing for it)."""

    def forward(self, x: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        return x


def input_adapter(kind: str, dim: int, task_spaces: Sequence[int]) -> SpaceAdapter | Padded:
    """The adapter `policy.input_adapter` names."""
    if kind not in INPUT_ADAPTERS:
        raise ValueError(f"policy.input_adapter={kind!r}; allowed: {', '.join(INPUT_ADAPTERS)}")
    return SpaceAdapter(dim, task_spaces) if kind == "per_space" else Padded()
