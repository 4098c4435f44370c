"""Dense baselines with the MoE network's interface: (x, cond, task, robot) -> (out, aux loss, routes)."""
from __future__ import annotations

import torch
from torch import nn

from robolearn.policies import MATCHES, PolicyConfig
from robolearn.policies.heads import TaskHeads
from robolearn.policies.moe import MoENet


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

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        return self.head(self.body(torch.cat([x, cond], dim=-1))), x.new_zeros(()), []


class MultiHeadNet(nn.Module):
    """A shared dense body and one output head per task (multi-head SAC)."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, n_tasks: int, hidden: int = 256, n_layers: int = 3):
        super().__init__()
        self.body = _mlp(d_in + d_cond, hidden, n_layers)
        self.head = TaskHeads(hidden, d_out, n_tasks)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        return self.head(self.body(torch.cat([x, cond], dim=-1)), task), x.new_zeros(()), []


class ResidualDenseNet(nn.Module):
    """`MoENet` with every MoE layer replaced by one dense block (hidden -> `width` -> hidden)
    that every example runs: the same encoder, residual layer norms and head, no routing. So a
    comparison against it isolates what the routing adds."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, n_tasks: int, hidden: int, n_layers: int, width: int,
                 task_heads: bool = False):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in + d_cond, hidden), nn.ReLU())
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_layers))
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(hidden, width), nn.ReLU(), nn.Linear(width, hidden))
                                    for _ in range(n_layers))
        self.head = TaskHeads(hidden, d_out, n_tasks) if task_heads else nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        h = self.encoder(torch.cat([x, cond], dim=-1))
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
        h = torch.relu(h)
        return (self.head(h, task) if isinstance(self.head, TaskHeads) else self.head(h)), x.new_zeros(()), []


def matched_width(cfg: PolicyConfig, d_in: int, d_out: int, d_cond: int, n_tasks: int) -> int:
    """The dense block width that matches the MoE `cfg` describes (as `kind=moe`): with
    `match=compute`, k x expert_hidden (the k experts' multiply-adds per example); with
    `match=params`, the width whose total parameter count is nearest the MoE's (the E experts,
    the gate and its noise)."""
    if cfg.match not in MATCHES:
        raise ValueError(f"policy.match={cfg.match!r}; allowed: {', '.join(MATCHES)}")
    if cfg.match == "compute":
        return cfg.k * cfg.expert_hidden
    moe = MoENet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers, cfg.n_experts, cfg.k, cfg.expert_hidden,
                 cfg.task_heads)

    def count(width: int) -> int:
        net = ResidualDenseNet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers, width, cfg.task_heads)
        return sum(p.numel() for p in net.parameters())

    per_unit = count(2) - count(1)  # the parameter count is linear in the width
    return max(1, round((sum(p.numel() for p in moe.parameters()) - count(1)) / per_unit) + 1)
