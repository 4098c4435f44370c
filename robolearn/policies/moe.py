"""Sparsely-gated mixture of experts (Shazeer et al. 2017) for multitask policies.

`MoELayer` routes each example to k of E expert MLPs. The gate sees the input and a
conditioning vector (task and robot embeddings); noisy top-k routing spreads examples
during training; the load-balancing loss is returned, never hidden in a global.

Dispatch is dropless (`grouped_experts`): every example's k assignments run on per-expert
slices of expert-sorted rows, and the outputs are combined weighted by the gate. With k=1 the weight is the chosen expert's full-softmax probability
(Switch Transformer), so the gate learns from the task loss for every k.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from robolearn.policies.grouped_experts import grouped_experts
from robolearn.policies.heads import TaskHeads


# How much a copied expert's gate logit starts above its original's (`add_experts`): enough
# that the copy wins over the routing noise (softplus(0) ~ 0.7) most of the time.
COPY_GATE_MARGIN = 2.0


class MoELayer(nn.Module):
    def __init__(self, d_in: int, d_out: int, d_cond: int, n_experts: int = 8, k: int = 2, hidden: int = 256,
                 noisy: bool = True):
        super().__init__()
        if not 1 <= k <= min(4, n_experts):
            raise ValueError(f"k must be in 1..min(4, n_experts={n_experts}), got {k}")
        self.n_experts, self.k, self.noisy = n_experts, k, noisy
        self.gate = nn.Linear(d_in + d_cond, n_experts)
        self.noise = nn.Linear(d_in + d_cond, n_experts)
        # Uniform routing at the start: a random gate bias alone skews the load (busiest
        # expert 1.4x the mean load instead of 1.2x at E=64, batch 4096).
        for param in (self.gate.weight, self.gate.bias, self.noise.weight, self.noise.bias):
            nn.init.zeros_(param)
        self.w1 = nn.Parameter(torch.empty(n_experts, d_in, hidden))
        self.b1 = nn.Parameter(torch.zeros(n_experts, 1, hidden))
        self.w2 = nn.Parameter(torch.empty(n_experts, hidden, d_out))
        self.b2 = nn.Parameter(torch.zeros(n_experts, 1, d_out))
        for w in (self.w1, self.w2):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)

    def route(self, x: torch.Tensor, cond: torch.Tensor,
              expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Top-k expert indices (B, k), their gate weights (B, k) and the load-balancing loss."""
        g_in = torch.cat([x, cond], dim=-1)
        clean = self.gate(g_in)
        logits = clean
        if self.noisy and self.training:
            logits = clean + torch.randn_like(clean) * F.softplus(self.noise(g_in))
        if expert_mask is not None:
            available = expert_mask.sum(-1)
            if (available == 0).any():
                raise ValueError("expert_mask disables every expert")
            keep = min(self.k, int(available.min()))
            logits = logits.masked_fill(~expert_mask, float("-inf"))
            clean = clean.masked_fill(~expert_mask, float("-inf"))
        else:
            keep = self.k
        top_idx = top_k_indices(logits.detach(), keep)
        if keep == 1:  # a softmax over one logit is always 1: no gradient would reach the gate
            weights = torch.softmax(logits, dim=-1).gather(-1, top_idx)
        else:
            weights = torch.softmax(logits.gather(-1, top_idx), dim=-1)
        if not torch.is_grad_enabled():  # acting and Bellman targets: nothing trains on the balance
            return top_idx, weights, clean.new_zeros(())
        # Switch-style balance: E * sum_e (fraction routed to e) * (mean gate prob of e);
        # 1.0 when perfectly balanced, E when collapsed onto one expert.
        probs = torch.softmax(clean, dim=-1)
        routed = torch.zeros_like(probs).scatter_(1, top_idx, 1.0).mean(0) / keep
        balance = self.n_experts * (routed * probs.mean(0)).sum()
        return top_idx, weights, balance

    def add_experts(self, n: int, copy_of: list[int] | None = None) -> None:
        """Append `n` experts (and their gate rows); existing ones are kept. New experts are
        freshly initialized, or with `copy_of` (one existing expert per new one) copies of
        those experts whose gate logit is `COPY_GATE_MARGIN` above the original's, so
        the examples that chose an original now choose its trainable copy."""
        if copy_of is not None and len(copy_of) != n:
            raise ValueError(f"copy_of names {len(copy_of)} experts for {n} new ones")

        def grow(param: torch.Tensor, fresh: torch.Tensor) -> nn.Parameter:
            return nn.Parameter(torch.cat([param.data, fresh.to(param)], dim=0))  # its device and dtype

        if copy_of is None:
            bound1, bound2 = 1.0 / math.sqrt(self.w1.shape[1]), 1.0 / math.sqrt(self.w2.shape[1])
            fresh = {"w1": torch.empty(n, *self.w1.shape[1:]).uniform_(-bound1, bound1),
                     "w2": torch.empty(n, *self.w2.shape[1:]).uniform_(-bound2, bound2),
                     "b1": torch.zeros(n, *self.b1.shape[1:]), "b2": torch.zeros(n, *self.b2.shape[1:])}
        else:
            fresh = {name: getattr(self, name).data[copy_of].clone() for name in ("w1", "b1", "w2", "b2")}
        for name, values in fresh.items():
            setattr(self, name, grow(getattr(self, name), values))
        for name in ("gate", "noise"):
            old = getattr(self, name)
            new = nn.Linear(old.in_features, old.out_features + n, device=old.weight.device)
            with torch.no_grad():
                new.weight.zero_()
                new.bias.zero_()
                new.weight[:old.out_features] = old.weight
                new.bias[:old.out_features] = old.bias
                if copy_of is not None:
                    new.weight[old.out_features:] = old.weight[copy_of]
                    new.bias[old.out_features:] = old.bias[copy_of] + (COPY_GATE_MARGIN if name == "gate" else 0.0)
            setattr(self, name, new)
        self.n_experts += n

    def forward(self, x: torch.Tensor, cond: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (output (B, d_out), load-balancing loss, chosen experts (B, k)).
        `expert_mask`: bool, (E,) for every example or (B, E) per example."""
        top_idx, weights, balance = self.route(x, cond, expert_mask)
        picked = grouped_experts(x, top_idx, self.w1, self.b1, self.w2, self.b2)  # (B, k, d_out)
        y = (picked * weights.unsqueeze(-1)).sum(1)  # a (1, k) @ (k, d) bmm per example is 5x slower
        return y, balance, top_idx


def top_k_indices(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k largest logits per row, largest first: k max passes, which for
    k <= 4 beat `torch.topk` on CPU by 2.5x at E=64 (its sort-based path)."""
    work, picked = logits.clone(), []
    for _ in range(k):
        idx = work.max(-1, keepdim=True).indices  # faster than argmax here
        picked.append(idx)
        work.scatter_(-1, idx, float("-inf"))
    return torch.cat(picked, dim=-1)


class MoENet(nn.Module):
    """Encoder, `n_layers` residual MoE layers, linear head; conditioned on task and robot."""

    def __init__(self, d_in: int, d_out: int, d_cond: int, n_tasks: int, hidden: int = 256, n_layers: int = 2,
                 n_experts: int = 8, k: int = 2, expert_hidden: int = 256, task_heads: bool = False,
                 n_robots: int = 1):
        super().__init__()
        # The experts an example may use: those its task or its robot is granted. Every task is
        # granted all of them until experts are added for new tasks or robots (`add_experts`).
        self.register_buffer("task_experts", torch.ones(n_tasks, n_experts, dtype=torch.bool))
        self.register_buffer("robot_experts", torch.zeros(n_robots, n_experts, dtype=torch.bool))
        self.register_load_state_dict_pre_hook(_grant_robots_nothing)
        self.encoder = nn.Sequential(nn.Linear(d_in + d_cond, hidden), nn.ReLU())
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(n_layers))
        self.layers = nn.ModuleList(
            MoELayer(hidden, hidden, d_cond, n_experts, k, expert_hidden) for _ in range(n_layers))
        # Per-task output layers keep tasks from fighting over one shared output.
        self.head = TaskHeads(hidden, d_out, n_tasks) if task_heads else nn.Linear(hidden, d_out)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        h = self.encoder(torch.cat([x, cond], dim=-1))
        # Masking costs a few ops and two host syncs per layer: skip it while every task may use every expert.
        allowed = None if bool(self.task_experts.all()) else self.task_experts[task] | self.robot_experts[robot]
        if expert_mask is not None:
            expert_mask = expert_mask.to(h.device)
            allowed = expert_mask if allowed is None else allowed & expert_mask
        balance, routes = h.new_zeros(()), []
        for norm, layer in zip(self.norms, self.layers):
            y, aux, idx = layer(norm(h), cond, allowed)
            h = h + y
            balance, routes = balance + aux / len(self.layers), routes + [idx]
        h = F.relu(h)
        return (self.head(h, task) if isinstance(self.head, TaskHeads) else self.head(h)), balance, routes

    def add_experts(self, n: int, new_tasks: list[int], new_robots: list[int], exclusive: bool,
                    copy_of: list[list[int]] | None = None) -> None:
        """Add `n` experts to every layer (`copy_of`: per layer, the experts the new ones copy;
        fresh ones when None). With `exclusive`, only `new_tasks` (on any robot) and
        `new_robots` (on any task) are granted the new experts; an old task on an old robot
        keeps routing over the old experts, so it cannot change."""
        for i, layer in enumerate(self.layers):
            layer.add_experts(n, None if copy_of is None else copy_of[i])
        old_tasks, old_robots = self.task_experts, self.robot_experts
        n_old = old_tasks.shape[1]
        tasks = torch.ones(old_tasks.shape[0], n_old + n, dtype=torch.bool, device=old_tasks.device)
        robots = torch.zeros(old_robots.shape[0], n_old + n, dtype=torch.bool, device=old_robots.device)
        robots[:, :n_old] = old_robots
        if exclusive:
            tasks[:, :n_old] = old_tasks
            tasks[:, n_old:] = False
            tasks[new_tasks] = True
            robots[new_robots, n_old:] = True
        self.task_experts, self.robot_experts = tasks, robots


def _grant_robots_nothing(module: MoENet, state: dict, prefix: str, *_: object) -> None:
    """Checkpoints from before per-robot grants have no `robot_experts`: no robot was granted
    anything then, which is what an all-false grant means."""
    state.setdefault(prefix + "robot_experts", torch.zeros_like(module.robot_experts))


def set_routing_noise(module: nn.Module, on: bool) -> None:
    """Turn the noisy top-k gating of every MoE layer in `module` on or off (training mode
    only; evaluation always routes without noise)."""
    for layer in module.modules():
        if isinstance(layer, MoELayer):
            layer.noisy = on


def expert_mask_for(net: nn.Module, fraction: float, seed: int = 0) -> torch.Tensor | None:
    """A gate mask with `fraction` of the experts disabled (chosen at random); None for
    dense networks or fraction 0. At least one expert always stays on."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"disable_experts must be in [0, 1), got {fraction}")
    if not isinstance(net, MoENet) or fraction == 0.0:
        return None
    n = net.layers[0].n_experts
    off = min(int(round(fraction * n)), n - 1)
    mask = torch.ones(n, dtype=torch.bool)
    mask[torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:off]] = False
    return mask
