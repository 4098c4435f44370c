"""A uniform replay buffer of transitions tagged with their task and robot, and the typed batches it yields."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class ReplayBatch:
    """Transitions for one gradient step: obs/next_obs (B, D) raw states, action (B, A),
    reward and terminal (B,), task and robot ids (B,), and `extra` (B,) marking the rows drawn
    from a second buffer (scripted-expert demos, pooled datasets)."""
    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminal: torch.Tensor
    task: torch.Tensor
    robot: torch.Tensor
    extra: torch.Tensor

    def to(self, device: torch.device) -> ReplayBatch:
        return ReplayBatch(*(getattr(self, f.name).to(device, non_blocking=True) for f in dataclasses.fields(self)))

    def cat(self, other: ReplayBatch) -> ReplayBatch:
        return ReplayBatch(*(torch.cat([getattr(self, f.name), getattr(other, f.name)])
                             for f in dataclasses.fields(self)))


class ReplayBuffer:
    FIELDS = ("obs", "action", "reward", "next_obs", "terminal", "task", "robot")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int):
        self.capacity, self.size, self.cursor = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, act_dim), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.terminal = np.zeros(capacity, np.float32)  # true ends only: time limits bootstrap
        self.task = np.zeros(capacity, np.int64)
        self.robot = np.zeros(capacity, np.int64)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminal: np.ndarray, task: np.ndarray, robot: np.ndarray) -> None:
        """Add a batch of transitions (one per env)."""
        n = len(obs)
        idx = (self.cursor + np.arange(n)) % self.capacity
        self.obs[idx], self.action[idx], self.reward[idx] = obs, action, reward
        self.next_obs[idx], self.terminal[idx] = next_obs, terminal
        self.task[idx], self.robot[idx] = task, robot
        self.cursor = (self.cursor + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, extra: bool = False) -> ReplayBatch:
        """`batch_size` transitions drawn uniformly; `extra` is what their `extra` flags say."""
        idx = rng.integers(0, self.size, batch_size)
        return ReplayBatch(*(torch.from_numpy(getattr(self, name)[idx]) for name in self.FIELDS),
                           extra=torch.full((batch_size,), extra))

    def save(self, path: str | Path) -> None:
        """The filled part, to resume a learner; written to a temporary file then renamed."""
        path = Path(path)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, cursor=self.cursor, **{k: getattr(self, k)[:self.size] for k in self.FIELDS})
        tmp.replace(path)

    def load(self, path: str | Path) -> None:
        with np.load(path) as data:
            n = min(len(data["obs"]), self.capacity)
            for key in self.FIELDS:
                getattr(self, key)[:n] = data[key][-n:]
            self.size, self.cursor = n, int(data["cursor"]) % self.capacity if n == self.capacity else n


def mixed_batch(live: ReplayBuffer, extra: ReplayBuffer | None, ratio: float, size: int,
                rng: np.random.Generator) -> ReplayBatch:
    """A batch of `size` with `ratio` of it from `extra` (demos, pooled datasets) and the rest
    from `live`; all from `live` without `extra`. Its `extra` marks the rows from `extra`."""
    n_extra = int(round(size * ratio)) if extra is not None and ratio > 0 else 0
    batch = live.sample(size - n_extra, rng)
    return batch.cat(extra.sample(n_extra, rng, extra=True)) if n_extra else batch
