"""Dense baselines with the MoE network's interface: (x, cond, task) -> (out, aux loss, routes)."""
from __future__ import annotations

import torch
from torch import nn

from robolearn.policies.heads import TaskHeads


def _mlp(d_in: int, hidden: int, n_layers: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(n_layers):
        layers += [nn.Linear(d_in if i == 0 else hidden, hidden), nn.ReLU()]
    return nn.Sequential(*layers)


class MLPNet(nn.Module):
    """One dense MLP for every task; task and robot enter as embeddings."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        self.body = _mlp(d_in + d_cond, hidden, n_layers)
        self.head = nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        return self.head(self.body(torch.cat([x, cond], dim=-1))), x.new_zeros(()), []


class MultiHeadNet(nn.Module):
    """A shared dense body and one output head per task (multi-head SAC)."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, n_tasks: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        self.body = _mlp(d_in + d_cond, hidden, n_layers)
        self.head = TaskHeads(hidden, d_out, n_tasks)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        return self.head(self.body(torch.cat([x, cond], dim=-1)), task), x.new_zeros(()), []
