"""Multitask PPO: clipped surrogate, GAE, advantages normalized per task.

Per-task normalization keeps a task with large returns from drowning the gradient of
the others. Observations are normalized when collected and stored normalized, so the
probability ratio compares the same inputs; the normalizer's statistics are updated
after each rollout. The MoE load-balancing losses enter with `balance_coef`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from robolearn.policies import PolicyConfig
from robolearn.policies.actor_critic import Actor, RunningNorm, ValueNet, squashed_log_prob
from robolearn.policies.moe import set_routing_noise


MAX_LOG_RATIO = 20.0


@dataclass
class PPOConfig:
    name: str = "ppo"
    gamma: float = 0.97
    gae_lambda: float = 0.95
    lr: float = 3e-4
    rollout_steps: int = 256  # steps per env between updates
    epochs: int = 5
    minibatch_size: int = 512
    clip: float = 0.2
    value_coef: float = 0.5
    entropy_coef: float = 0.001
    balance_coef: float = 0.01
    max_grad_norm: float = 0.5


def gae(reward: np.ndarray, value: np.ndarray, done: np.ndarray, last_value: np.ndarray, gamma: float,
        lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Advantages and returns for (T, N) arrays; `done[t]` ends the episode after step t."""
    advantage = np.zeros_like(reward)
    running = np.zeros_like(last_value)
    for t in reversed(range(len(reward))):
        next_value = last_value if t == len(reward) - 1 else value[t + 1]
        alive = 1.0 - done[t]
        delta = reward[t] + gamma * next_value * alive - value[t]
        running = delta + gamma * lam * alive * running
        advantage[t] = running
    return advantage, advantage + value


def vtrace(reward: np.ndarray, value: np.ndarray, done: np.ndarray, last_value: np.ndarray, log_rho: np.ndarray,
           gamma: float, rho_bar: float = 1.0, c_bar: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """IMPALA's V-trace (Espeholt et al. 2018) for (T, N) arrays collected by an older policy:
    `log_rho` = log pi(a|s) - log mu(a|s). Returns policy-gradient advantages and value targets."""
    ratio = np.exp(np.minimum(log_rho, MAX_LOG_RATIO))
    rho, c = np.minimum(ratio, rho_bar), np.minimum(ratio, c_bar)
    targets = np.zeros_like(value)
    running = np.zeros_like(last_value)
    for t in reversed(range(len(reward))):
        next_value = last_value if t == len(reward) - 1 else value[t + 1]
        alive = 1.0 - done[t]
        running = rho[t] * (reward[t] + gamma * next_value * alive - value[t]) + gamma * c[t] * alive * running
        targets[t] = value[t] + running
    next_targets = np.concatenate([targets[1:], last_value[None]])
    advantage = rho * (reward + gamma * next_targets * (1.0 - done) - value)
    return advantage, targets


def normalize_per_task(advantage: np.ndarray, task: np.ndarray) -> np.ndarray:
    out = np.empty_like(advantage)
    for t in np.unique(task):
        group = task == t
        out[group] = (advantage[group] - advantage[group].mean()) / (advantage[group].std() + 1e-8)
    return out


class PPO:
    def __init__(self, policy: PolicyConfig, cfg: PPOConfig, obs_dim: int, act_dim: int, n_tasks: int,
                 n_robots: int, device: torch.device = torch.device("cpu"), task_spaces: Sequence[int] = ()):
        self.cfg, self.device = cfg, device
        self.norm = RunningNorm(obs_dim).to(device)
        self.actor = Actor(policy, obs_dim, act_dim, n_tasks, n_robots, task_spaces).to(device)
        self.value = ValueNet(policy, obs_dim, n_tasks, n_robots, task_spaces).to(device)
        # Routing noise would make the action's probability depend on a draw the log-prob
        # never sees: sampled and re-scored under different routings, an unchanged policy
        # showed log-ratios of tens of nats. PPO routes without noise; the balance loss
        # still spreads the load.
        set_routing_noise(self.actor, False)
        set_routing_noise(self.value, False)
        self.optimizer = torch.optim.Adam([*self.actor.parameters(), *self.value.parameters()], lr=cfg.lr)
        self.updates = 0

    def normalize(self, obs: np.ndarray) -> torch.Tensor:
        return self.norm(torch.as_tensor(obs, dtype=torch.float32, device=self.device))

    def tensor(self, array: np.ndarray, dtype: torch.dtype | None = None) -> torch.Tensor:
        return torch.as_tensor(array, dtype=dtype, device=self.device)

    @torch.no_grad()
    def act(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray, deterministic: bool = False,
            expert_mask: torch.Tensor | None = None) -> np.ndarray:
        self.actor.eval()
        action, *_ = self.actor(self.normalize(obs), self.tensor(task), self.tensor(robot), deterministic, expert_mask)
        self.actor.train()
        return action.cpu().numpy()

    @torch.no_grad()
    def routes(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray) -> list[torch.Tensor]:
        self.actor.eval()
        *_, routes = self.actor(self.normalize(obs), self.tensor(task), self.tensor(robot), True)
        self.actor.train()
        return [r.cpu() for r in routes]

    @torch.no_grad()
    def sample(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray) -> dict[str, np.ndarray]:
        """One exploratory step for a batch of envs, with what the update needs to store."""
        x, task_t, robot_t = self.normalize(obs), self.tensor(task), self.tensor(robot)
        mean, log_std, _, _ = self.actor.distribution(x, task_t, robot_t)
        pre = mean + log_std.exp() * torch.randn_like(mean)
        value, _ = self.value(x, task_t, robot_t)
        out = {"action": torch.tanh(pre), "pre": pre, "obs": x, "logp": squashed_log_prob(pre, mean, log_std),
               "value": value}
        return {k: v.cpu().numpy() for k, v in out.items()}

    @torch.no_grad()
    def state_value(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray) -> np.ndarray:
        return self.value(self.normalize(obs), self.tensor(task), self.tensor(robot))[0].cpu().numpy()

    def update(self, rollout: dict[str, np.ndarray], last_value: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
        """`rollout` holds (T, N, ...) arrays from `sample` plus reward, done, task, robot."""
        advantage, returns = gae(rollout["reward"], rollout["value"], rollout["done"], last_value, self.cfg.gamma,
                                 self.cfg.gae_lambda)
        return self.optimize(rollout, advantage, returns, rng)

    @torch.no_grad()
    def evaluate_rollout(self, rollout: dict[str, np.ndarray], last_obs: np.ndarray) -> dict[str, np.ndarray]:
        """Log-probabilities and values of a stored (normalized) rollout under the current nets,
        and the value of its last observation: what correcting for an older policy needs."""
        shape = rollout["reward"].shape
        obs, task, robot = (self.tensor(rollout[k].reshape(-1, *rollout[k].shape[2:])) for k in ("obs", "task", "robot"))
        mean, log_std, _, _ = self.actor.distribution(obs, task, robot)
        logp = squashed_log_prob(self.tensor(rollout["pre"].reshape(-1, rollout["pre"].shape[-1])), mean, log_std)
        value, _ = self.value(obs, task, robot)
        last, _ = self.value(self.tensor(last_obs), self.tensor(rollout["task"][-1]), self.tensor(rollout["robot"][-1]))
        return {"logp": logp.cpu().numpy().reshape(shape), "value": value.cpu().numpy().reshape(shape),
                "last_value": last.cpu().numpy()}

    def optimize(self, rollout: dict[str, np.ndarray], advantage: np.ndarray, returns: np.ndarray,
                 rng: np.random.Generator) -> dict[str, float]:
        """The clipped-surrogate epochs over a rollout whose advantages and returns are given."""
        cfg = self.cfg
        flat = {k: self.tensor(v.reshape(-1, *v.shape[2:])) for k, v in rollout.items()}
        task_np = rollout["task"].reshape(-1)
        adv = self.tensor(normalize_per_task(advantage.reshape(-1), task_np), torch.float32)
        ret = self.tensor(returns.reshape(-1), torch.float32)
        n, metrics = len(ret), {}
        for _ in range(cfg.epochs):
            for idx in np.array_split(rng.permutation(n), max(1, n // cfg.minibatch_size)):
                obs, task, robot = flat["obs"][idx], flat["task"][idx], flat["robot"][idx]
                mean, log_std, actor_balance, _ = self.actor.distribution(obs, task, robot)
                logp = squashed_log_prob(flat["pre"][idx], mean, log_std)
                # Clamped before exp: a log-ratio past MAX_LOG_RATIO would overflow.
                ratio = (logp - flat["logp"][idx]).clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO).exp()
                policy_loss = -torch.min(ratio * adv[idx], ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * adv[idx]).mean()
                value, value_balance = self.value(obs, task, robot)
                value_loss = F.mse_loss(value, ret[idx])
                entropy = log_std.sum(-1).mean()  # Gaussian entropy up to a constant
                loss = (policy_loss + cfg.value_coef * value_loss - cfg.entropy_coef * entropy
                        + cfg.balance_coef * (actor_balance + value_balance))
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_([*self.actor.parameters(), *self.value.parameters()], cfg.max_grad_norm)
                self.optimizer.step()
                self.updates += 1
                metrics = {"loss/policy": policy_loss.item(), "loss/value": value_loss.item(),
                           "loss/balance": actor_balance.item(), "entropy": entropy.item(),
                           "clip_fraction": ((ratio - 1).abs() > cfg.clip).float().mean().item()}
        return metrics

    def state_dict(self) -> dict:
        return {"norm": self.norm.state_dict(), "actor": self.actor.state_dict(), "value": self.value.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.norm.load_state_dict(state["norm"])
        self.actor.load_state_dict(state["actor"])
        self.value.load_state_dict(state["value"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = state["updates"]
