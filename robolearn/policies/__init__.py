"""Policy networks with one interface: `net(x, cond, task, robot, expert_mask) -> (out, balance_loss, routes)`.

`moe` is the sparse mixture of experts; `mlp` (dense) and `multihead` (one head per
task) are the baselines it is measured against, and `dense` is the MoE network's own shape
with one dense block per layer in place of the routed experts, sized by `match` to the MoE
that the same config would build: `params` (the same total parameters) or `compute` (the
same multiply-adds per example as its k active experts). With `input_adapter=per_space`
the actor and critics map each observation space through its own learned projection first.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

POLICIES = ("moe", "mlp", "multihead", "dense")
MATCHES = ("params", "compute")
INPUT_ADAPTERS = ("pad", "per_space")


@dataclass
class PolicyConfig:
    kind: str = "moe"
    hidden: int = 256
    n_layers: int = 1
    n_experts: int = 8
    k: int = 2
    expert_hidden: int = 128
    embed_dim: int = 16
    task_heads: bool = False  # moe and dense: one output layer per task instead of a shared one
    match: str = "params"  # dense only: what of the MoE above (n_experts, k, expert_hidden) it matches
    input_adapter: str = "pad"  # pad (states zero-padded) | per_space: a learned map per observation space first


def build_net(cfg: PolicyConfig, d_in: int, d_out: int, d_cond: int, n_tasks: int, n_robots: int) -> nn.Module:
    from robolearn.policies.baselines import MLPNet, MultiHeadNet, ResidualDenseNet, matched_width
    from robolearn.policies.moe import MoENet

    if cfg.kind == "moe":
        return MoENet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers, cfg.n_experts, cfg.k, cfg.expert_hidden,
                      cfg.task_heads, n_robots)
    if cfg.kind == "dense":
        width = matched_width(cfg, d_in, d_out, d_cond, n_tasks)
        return ResidualDenseNet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers, width, cfg.task_heads)
    if cfg.kind == "mlp":
        return MLPNet(d_in, d_out, d_cond, cfg.hidden, cfg.n_layers + 1)
    if cfg.kind == "multihead":
        return MultiHeadNet(d_in, d_out, d_cond, n_tasks, cfg.hidden, cfg.n_layers + 1)
    raise ValueError(f"policy.kind={cfg.kind!r}; allowed: {', '.join(POLICIES)}")
