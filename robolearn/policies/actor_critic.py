"""SAC's actor (tanh-squashed Gaussian) and twin critics, over any network of `build_net`."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from robolearn.policies import PolicyConfig, build_net
from robolearn.policies.inputs import PolicyInputs

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class RunningNorm(nn.Module):
    """Observation normalizer; its statistics are buffers, so they travel in the checkpoint.
    It takes raw states; with `inputs`, it normalizes what those select and derive from them
    (`dim` of them), so every caller hands over the same raw state."""

    def __init__(self, obs_dim: int, clip: float = 10.0, inputs: PolicyInputs | None = None):
        super().__init__()
        self.clip, self.inputs = clip, inputs
        self.dim = inputs.dim if inputs else obs_dim
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("var", torch.ones(self.dim))
        self.register_buffer("count", torch.tensor(1e-4))
        self.frozen = False  # adapting to new tasks: old tasks must see exactly the inputs they learned on

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        if self.frozen:
            return
        x = x.to(self.mean.device)
        x = self.inputs(x) if self.inputs else x
        batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.var = (self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total
        self.count = total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.inputs(x) if self.inputs else x
        return ((x - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


class Conditioner(nn.Module):
    """Task and robot embeddings, concatenated: what the gate and the layers condition on."""

    def __init__(self, n_tasks: int, n_robots: int, dim: int):
        super().__init__()
        self.task = nn.Embedding(n_tasks, dim)
        self.robot = nn.Embedding(n_robots, dim)
        self.dim = 2 * dim

    def forward(self, task: torch.Tensor, robot: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.task(task), self.robot(robot)], dim=-1)


class Actor(nn.Module):
    def __init__(self, cfg: PolicyConfig, obs_dim: int, act_dim: int, n_tasks: int, n_robots: int):
        super().__init__()
        self.cond = Conditioner(n_tasks, n_robots, cfg.embed_dim)
        self.net = build_net(cfg, obs_dim, 2 * act_dim, self.cond.dim, n_tasks)

    def distribution(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                     expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
        """The Gaussian before the tanh squash: (mean, log_std, balance loss, routes)."""
        out, balance, routes = self.net(obs, self.cond(task, robot), task, expert_mask)
        mean, log_std = out.chunk(2, dim=-1)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        return mean, log_std, balance, routes

    def forward(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor, deterministic: bool = False,
                expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
        """Returns (action in [-1, 1], log-prob, balance loss, routes)."""
        mean, log_std, balance, routes = self.distribution(obs, task, robot, expert_mask)
        if deterministic:
            return torch.tanh(mean), torch.zeros_like(mean[:, 0]), balance, routes
        return *squashed_sample(mean, log_std), balance, routes


def squashed_sample(mean: torch.Tensor, log_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A reparameterized draw tanh(pre), pre ~ N(mean, exp(log_std)), and its log-density."""
    pre = mean + log_std.exp() * torch.randn_like(mean)
    return torch.tanh(pre), squashed_log_prob(pre, mean, log_std)


def squashed_log_prob(pre: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Log-density of tanh(pre) for pre ~ N(mean, exp(log_std)), summed over action dims."""
    log_prob = (-0.5 * ((pre - mean) / log_std.exp()) ** 2 - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    # tanh change of variables, in the numerically stable form
    return log_prob - (2 * (math.log(2) - pre - F.softplus(-2 * pre))).sum(-1)


class ValueNet(nn.Module):
    """State value V(s, task, robot) for on-policy learners, built like the actor."""

    def __init__(self, cfg: PolicyConfig, obs_dim: int, n_tasks: int, n_robots: int):
        super().__init__()
        self.cond = Conditioner(n_tasks, n_robots, cfg.embed_dim)
        self.net = build_net(cfg, obs_dim, 1, self.cond.dim, n_tasks)

    def forward(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value, balance, _ = self.net(obs, self.cond(task, robot), task)
        return value.squeeze(-1), balance


class TwinCritic(nn.Module):
    def __init__(self, cfg: PolicyConfig, obs_dim: int, act_dim: int, n_tasks: int, n_robots: int):
        super().__init__()
        self.conds = nn.ModuleList(Conditioner(n_tasks, n_robots, cfg.embed_dim) for _ in range(2))
        self.nets = nn.ModuleList(build_net(cfg, obs_dim + act_dim, 1, self.conds[0].dim, n_tasks) for _ in range(2))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, task: torch.Tensor,
                robot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (q1, q2, balance loss)."""
        x = torch.cat([obs, action], dim=-1)
        (q1, b1, _), (q2, b2, _) = (net(x, cond(task, robot), task) for net, cond in zip(self.nets, self.conds))
        return q1.squeeze(-1), q2.squeeze(-1), b1 + b2
