"""Policy networks with one interface: `net(x, cond, task, expert_mask) -> (out, balance_loss, routes)`.

`moe` is the sparse mixture of experts; `mlp` (dense) and `multihead` (one head per
task) are the baselines it is measured against.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

POLICIES = ("moe", "mlp", "multihead")


@dataclass
class PolicyConfig:
    kind: str = "moe"
    hidden: int = 256
    n_layers: int = 1
    n_experts: int = 8
    k: int = 2
    expert_hidden: int = 128
    embed_dim: int = 16
    task_heads: bool = False  # moe only: one output layer per task instead of a shared one


def build_net(cfg: PolicyConfig, d_in: int, d_out: int, d_cond: int, n_tasks: int) -> nn.Module:
    from robolearn.policies.baselines import MLPNet, MultiHeadNet
    from robolearn.policies.moe import MoENet

    if cfg.kind == "moe":
        return MoENet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers, cfg.n_experts, cfg.k, cfg.expert_hidden,
                      cfg.task_heads)
    if cfg.kind == "mlp":
        return MLPNet(d_in, d_out, d_cond, cfg.hidden, cfg.n_layers + 1)
    if cfg.kind == "multihead":
        return MultiHeadNet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers + 1)
    raise ValueError(f"policy.kind={cfg.kind!r}; allowed: {', '.join(POLICIES)}")
