"""SAC's actor (tanh-squashed Gaussian) and twin critics, over any network of `build_net`."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from robolearn.policies import PolicyConfig, build_net
from robolearn.policies.inputs import PolicyInputs
from robolearn.policies.spaces import input_adapter

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0


class RunningNorm(nn.Module):
    """Observation normalizer; its statistics are buffers, so they travel in the checkpoint.
    It takes raw states; with `inputs`, it normalizes what those select and derive from them
    (`dim` of them), so every caller hands over the same raw state. `robot` (the examples'
    robot ids) is taken by every normalizer and used by `PerRobotNorm` only."""

    def __init__(self, obs_dim: int, clip: float = 10.0, inputs: PolicyInputs | None = None):
        super().__init__()
        self.clip, self.inputs = clip, inputs
        self.dim = inputs.dim if inputs else obs_dim
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("var", torch.ones(self.dim))
        self.register_buffer("count", torch.tensor(1e-4))
        self.frozen = False  # adapting to new tasks: old tasks must see exactly the inputs they learned on

    def _selected(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.mean.device)
        return self.inputs(x) if self.inputs else x

    @torch.no_grad()
    def update(self, x: torch.Tensor, robot: torch.Tensor | None = None) -> None:
        if not self.frozen:
            self.mean, self.var, self.count = merged_moments(self.mean, self.var, self.count, self._selected(x))

    def forward(self, x: torch.Tensor, robot: torch.Tensor | None = None) -> torch.Tensor:
        return ((self._selected(x) - self.mean) / torch.sqrt(self.var + 1e-8)).clamp(-self.clip, self.clip)


class PerRobotNorm(RunningNorm):
    """One set of statistics per robot id: pooled arms with other joint ranges, or another
    lab's robot with its own state layout, are each normalized by what their own data looks
    like instead of by a mixture dominated by whichever robot logged the most."""

    def __init__(self, obs_dim: int, n_robots: int, clip: float = 10.0, inputs: PolicyInputs | None = None):
        super().__init__(obs_dim, clip, inputs)
        self.mean = torch.zeros(n_robots, self.dim)
        self.var = torch.ones(n_robots, self.dim)
        self.count = torch.full((n_robots,), 1e-4)

    @torch.no_grad()
    def update(self, x: torch.Tensor, robot: torch.Tensor | None = None) -> None:
        if self.frozen:
            return
        if robot is None:
            raise ValueError("a per-robot normalizer needs each observation's robot id")
        x, robot = self._selected(x), torch.as_tensor(robot, device=self.mean.device).reshape(-1)
        for r in robot.unique().tolist():
            self.mean[r], self.var[r], self.count[r] = merged_moments(self.mean[r], self.var[r], self.count[r],
                                                                      x[robot == r])

    def forward(self, x: torch.Tensor, robot: torch.Tensor | None = None) -> torch.Tensor:
        if robot is None:
            raise ValueError("a per-robot normalizer needs each observation's robot id")
        robot = torch.as_tensor(robot, device=self.mean.device).reshape(-1)
        return ((self._selected(x) - self.mean[robot]) / torch.sqrt(self.var[robot] + 1e-8)).clamp(-self.clip,
                                                                                                    self.clip)


def merged_moments(mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor,
                   x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mean, var, count) of the data seen so far together with the rows of `x` (Chan et al.)."""
    batch_mean, batch_var, n = x.mean(0), x.var(0, unbiased=False), x.shape[0]
    total = count + n
    delta = batch_mean - mean
    return (mean + delta * n / total, (var * count + batch_var * n + delta**2 * count * n / total) / total, total)


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
    """`task_spaces`: each task's observation space id (used by `policy.input_adapter=per_space`)."""

    def __init__(self, cfg: PolicyConfig, obs_dim: int, act_dim: int, n_tasks: int, n_robots: int,
                 task_spaces: Sequence[int] = ()):
        super().__init__()
        self.cond = Conditioner(n_tasks, n_robots, cfg.embed_dim)
        self.spaces = input_adapter(cfg.input_adapter, obs_dim, task_spaces)
        self.net = build_net(cfg, obs_dim, 2 * act_dim, self.cond.dim, n_tasks, n_robots)

    def distribution(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                     expert_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list]:
        """The Gaussian before the tanh squash: (mean, log_std, balance loss, routes)."""
        out, balance, routes = self.net(self.spaces(obs, task), self.cond(task, robot), task, robot, expert_mask)
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

    def __init__(self, cfg: PolicyConfig, obs_dim: int, n_tasks: int, n_robots: int, task_spaces: Sequence[int] = ()):
        super().__init__()
        self.cond = Conditioner(n_tasks, n_robots, cfg.embed_dim)
        self.spaces = input_adapter(cfg.input_adapter, obs_dim, task_spaces)
        self.net = build_net(cfg, obs_dim, 1, self.cond.dim, n_tasks, n_robots)

    def forward(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        value, balance, _ = self.net(self.spaces(obs, task), self.cond(task, robot), task, robot)
        return value.squeeze(-1), balance


class TwinCritic(nn.Module):
    def __init__(self, cfg: PolicyConfig, obs_dim: int, act_dim: int, n_tasks: int, n_robots: int,
                 task_spaces: Sequence[int] = ()):
        super().__init__()
        self.conds = nn.ModuleList(Conditioner(n_tasks, n_robots, cfg.embed_dim) for _ in range(2))
        self.spaces = nn.ModuleList(input_adapter(cfg.input_adapter, obs_dim, task_spaces) for _ in range(2))
        self.nets = nn.ModuleList(build_net(cfg, obs_dim + act_dim, 1, self.conds[0].dim, n_tasks, n_robots)
                                  for _ in range(2))

    def forward(self, obs: torch.Tensor, action: torch.Tensor, task: torch.Tensor,
                robot: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Returns (q1, q2, balance loss)."""
        (q1, b1, _), (q2, b2, _) = (net(torch.cat([spaces(obs, task), action], dim=-1), cond(task, robot), task, robot)
                                    for net, cond, spaces in zip(self.nets, self.conds, self.spaces))
        return q1.squeeze(-1), q2.squeeze(-1), b1 + b2
