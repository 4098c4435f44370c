"""The off-policy learner's side of a run, shared by `robolearn train` and `robolearn fleet`.

Transitions come in (from in-process envs or from Ray actors), go to the replay and the
observation normalizer, and each env step past the warm-up adds `updates_per_step` to the
gradient steps owed; `run_owed` pays them (all, or at most a given number, as the fleet's
publishing cadence wants), each on a batch mixed from the replay and an optional second
buffer (scripted-expert demos or recorded episodes) at `extra_ratio`.
"""
from __future__ import annotations

import numpy as np
import torch

from robolearn.learners.replay import ReplayBuffer, mixed_batch
from robolearn.learners.sac import SAC
from robolearn.logger import Logger

LOSS_LOG_EVERY = 200  # gradient steps between loss logs


class OffPolicyCore:
    def __init__(self, agent: SAC, buffer: ReplayBuffer, rng: np.random.Generator, logger: Logger, warmup_until: int,
                 extra: ReplayBuffer | None = None, extra_ratio: float = 0.0, clone_extra: bool = False):
        """`warmup_until`: the env step from which updates are owed; `clone_extra`: the actor
        also clones the actions of the `extra` rows (scripted-expert demos)."""
        self.agent, self.buffer, self.rng, self.logger = agent, buffer, rng, logger
        self.warmup_until, self.extra, self.extra_ratio, self.clone_extra = warmup_until, extra, extra_ratio, clone_extra
        self.owed = 0.0

    def store(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
              terminal: np.ndarray, task: np.ndarray, robot: np.ndarray, env_steps: int,
              images: dict[str, np.ndarray] | None = None, next_images: dict[str, np.ndarray] | None = None) -> None:
        """Add transitions (with their camera frames for a policy that sees); `env_steps`: the
        run's count once they are included."""
        self.buffer.add(obs, action, reward, next_obs, terminal, task, robot, images, next_images)
        self.agent.norm.update(torch.from_numpy(obs), torch.from_numpy(robot))
        if env_steps >= self.warmup_until and self.buffer.size >= self.agent.cfg.batch_size:
            self.owed += len(obs) * self.agent.cfg.updates_per_step

    def run_owed(self, env_steps: int, most: int | None = None) -> int:
        """Run the whole gradient steps owed (at most `most`); returns how many ran."""
        ran = 0
        while self.owed >= 1.0 and (most is None or ran < most):
            cfg = self.agent.cfg
            batch = mixed_batch(self.buffer, self.extra, self.extra_ratio, cfg.batch_size, self.rng)
            metrics = self.agent.update(batch, clone_extra=self.clone_extra)
            self.owed -= 1.0
            ran += 1
            if self.agent.updates % LOSS_LOG_EVERY == 0:
                self.logger.log({f"train/{k}": v for k, v in metrics.items()}, env_steps)
        return ran
