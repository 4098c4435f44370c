"""A uniform replay buffer of transitions tagged with their task and robot."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


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

    def sample(self, batch_size: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, batch_size)
        return {name: torch.from_numpy(getattr(self, name)[idx]) for name in self.FIELDS}

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
                rng: np.random.Generator) -> dict[str, torch.Tensor]:
    """A batch of `size` with `ratio` of it from `extra` (demos, pooled datasets) and the rest
    from `live`; all from `live` without `extra`. Its boolean "extra" marks the rows from `extra`."""
    n_extra = int(round(size * ratio)) if extra is not None and ratio > 0 else 0
    batch = live.sample(size - n_extra, rng)
    if n_extra:
        batch = {k: torch.cat([batch[k], v]) for k, v in extra.sample(n_extra, rng).items()}
    return batch | {"extra": torch.arange(size) >= size - n_extra}
