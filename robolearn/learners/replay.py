"""A uniform replay buffer of transitions tagged with their task and robot, and the typed batches it yields."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


@dataclass(frozen=True)
class ReplayBatch:
    """Transitions for one gradient step: obs/next_obs (B, D) raw states, action (B, A),
    reward and terminal (B,), task and robot ids (B,), `extra` (B,) marking the rows drawn
    from a second buffer (scripted-expert demos, pooled datasets), and for a policy that sees
    cameras their frames before and after the step (camera -> (B, H, W, 3) uint8; else empty)."""
    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminal: torch.Tensor
    task: torch.Tensor
    robot: torch.Tensor
    extra: torch.Tensor
    images: dict[str, torch.Tensor] = field(default_factory=dict)
    next_images: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> ReplayBatch:
        return ReplayBatch(*(_each(getattr(self, f.name), lambda t: t.to(device, non_blocking=True))
                             for f in dataclasses.fields(self)))

    def cat(self, other: ReplayBatch) -> ReplayBatch:
        def joined(name: str) -> torch.Tensor | dict[str, torch.Tensor]:
            mine, theirs = getattr(self, name), getattr(other, name)
            if isinstance(mine, dict):
                return {camera: torch.cat([frames, theirs[camera]]) for camera, frames in mine.items()}
            return torch.cat([mine, theirs])
        return ReplayBatch(*(joined(f.name) for f in dataclasses.fields(self)))


def _each(value: torch.Tensor | dict[str, torch.Tensor], fn: Callable[[torch.Tensor], torch.Tensor]):
    """`fn` of a tensor, or of each camera's frames."""
    return {camera: fn(frames) for camera, frames in value.items()} if isinstance(value, dict) else fn(value)


class ReplayBuffer:
    """`cameras` at `image_size`: the frames each transition saw before and after its step
    are kept too (uint8: 21 KB a frame at 84 x 84, twice per camera and transition)."""
    FIELDS = ("obs", "action", "reward", "next_obs", "terminal", "task", "robot")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, cameras: Sequence[str] = (), image_size: int = 84):
        self.capacity, self.size, self.cursor = capacity, 0, 0
        frames = (capacity, image_size, image_size, 3)
        check_frame_memory(2 * len(cameras) * int(np.prod(frames)))
        self.images = {camera: np.zeros(frames, np.uint8) for camera in cameras}
        self.next_images = {camera: np.zeros(frames, np.uint8) for camera in cameras}
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.action = np.zeros((capacity, act_dim), np.float32)
        self.reward = np.zeros(capacity, np.float32)
        self.terminal = np.zeros(capacity, np.float32)  # true ends only: time limits bootstrap
        self.task = np.zeros(capacity, np.int64)
        self.robot = np.zeros(capacity, np.int64)

    def add(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
            terminal: np.ndarray, task: np.ndarray, robot: np.ndarray, images: dict[str, np.ndarray] | None = None,
            next_images: dict[str, np.ndarray] | None = None) -> None:
        """Add a batch of transitions (one per env); a buffer with cameras needs their frames."""
        n = len(obs)
        idx = (self.cursor + np.arange(n)) % self.capacity
        self.obs[idx], self.action[idx], self.reward[idx] = obs, action, reward
        self.next_obs[idx], self.terminal[idx] = next_obs, terminal
        self.task[idx], self.robot[idx] = task, robot
        for stored, given in ((self.images, images), (self.next_images, next_images)):
            for camera, frames in stored.items():
                if given is None or camera not in given:
                    raise ValueError(f"replay: the buffer keeps camera {camera}; the transitions have no frames of it")
                frames[idx] = given[camera]
        self.cursor = (self.cursor + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, batch_size: int, rng: np.random.Generator, extra: bool = False) -> ReplayBatch:
        """`batch_size` transitions drawn uniformly; `extra` is what their `extra` flags say."""
        idx = rng.integers(0, self.size, batch_size)
        return ReplayBatch(*(torch.from_numpy(getattr(self, name)[idx]) for name in self.FIELDS),
                           extra=torch.full((batch_size,), extra),
                           images={c: torch.from_numpy(f[idx]) for c, f in self.images.items()},
                           next_images={c: torch.from_numpy(f[idx]) for c, f in self.next_images.items()})

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


def check_frame_memory(nbytes: int) -> None:
    """Refuse, before a run starts, a replay whose camera frames would not fit in this
    machine's memory (the arrays fill as the run goes: it would fail hours in)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if nbytes > 0.75 * total:
        raise ValueError(f"algo.buffer_size: the replay's camera frames would take {nbytes / 2**30:.1f} GiB of this "
                         f"machine's {total / 2**30:.0f} GiB; lower algo.buffer_size, total_steps or algo.image_size")


def mixed_batch(live: ReplayBuffer, extra: ReplayBuffer | None, ratio: float, size: int,
                rng: np.random.Generator) -> ReplayBatch:
    """A batch of `size` with `ratio` of it from `extra` (demos, pooled datasets) and the rest
    from `live`; all from `live` without `extra`. Its `extra` marks the rows from `extra`."""
    n_extra = int(round(size * ratio)) if extra is not None and ratio > 0 else 0
    batch = live.sample(size - n_extra, rng)
    return batch.cat(extra.sample(n_extra, rng, extra=True)) if n_extra else batch
