"""One linear output layer per task, selected by each example's task id."""
from __future__ import annotations

import math

import torch
from torch import nn


class TaskHeads(nn.Module):
    def __init__(self, d_in: int, d_out: int, n_tasks: int):
        super().__init__()
        bound = 1.0 / math.sqrt(d_in)
        self.weight = nn.Parameter(torch.empty(n_tasks, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(n_tasks, d_out))

    def forward(self, h: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        # Every head on every example in one matmul, then each example's own: gathering a
        # (d_in, d_out) weight per example instead cost as much as the whole dense body.
        n_tasks, d_in, d_out = self.weight.shape
        every = (h @ self.weight.transpose(0, 1).reshape(d_in, n_tasks * d_out)).view(-1, n_tasks, d_out)
        return every[torch.arange(h.shape[0], device=h.device), task] + self.bias[task]
