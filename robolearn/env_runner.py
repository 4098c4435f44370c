"""The training envs: `num_envs` per task x robot, stepped as one gymnasium vector env.

With workers every env runs in its own process (`AsyncVectorEnv`), so physics overlaps with
whatever the caller does between `step_async` and `step_wait` (the gradient updates);
without, they step in this process one after another (`SyncVectorEnv`), which is what a
stateful randomizer (ADR) needs: its episode results must reach the one ADR state the
learner owns. Either way finished episodes reset in the same step and their final
observation is what the transition stores.
"""
from __future__ import annotations

import functools
from collections import deque

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

from robolearn.envs import make_env
from robolearn.logger import Logger
from sims.randomization import Randomizer


def vector_env(combos: list[tuple[str, str]], backend: str, tasks: list[str], env_kwargs: dict[str, dict] | None,
               randomizer: Randomizer | str, workers: bool) -> gym.vector.VectorEnv:
    """One env per entry of `combos` (repeat a combo for several envs of it)."""
    fns = [functools.partial(make_env, task, robot, backend, tasks, env_kwargs, dr=randomizer) for task, robot in combos]
    if workers:
        # forkserver, not fork: a forked copy of a process whose OpenMP threads are running can hang.
        return AsyncVectorEnv(fns, context="forkserver", autoreset_mode=AutoresetMode.SAME_STEP)
    return SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)


class EnvRunner:
    """Steps a vector env whose env i plays `combos[i]`, and keeps each combo's episode
    success and return (the recent ones for the progress bar, every one for the logger)."""

    def __init__(self, combos: list[tuple[str, str]], envs: gym.vector.VectorEnv, seed: int, logger: Logger):
        if len(combos) != envs.num_envs:
            raise ValueError(f"{len(combos)} task x robot entries for {envs.num_envs} envs")
        self.combos, self.envs, self.logger, self.n = combos, envs, logger, envs.num_envs
        self.recent = {combo: deque(maxlen=20) for combo in dict.fromkeys(combos)}
        self.restart(seed)

    def restart(self, seed: int) -> None:
        """Reset every env (env i with seed + 1000 i) and forget the episodes in progress."""
        obs, _ = self.envs.reset(seed=[seed + 1000 * i for i in range(self.n)])
        self._take(obs)
        self.success, self.returns = np.zeros(self.n, bool), np.zeros(self.n)

    def _take(self, obs: dict[str, np.ndarray]) -> None:
        self.states = np.asarray(obs["state"], np.float32).copy()
        self.task, self.robot = np.asarray(obs["task_id"]).copy(), np.asarray(obs["robot_id"]).copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Start stepping: the workers run while the caller goes on; in-process envs step in `step_wait`."""
        self._actions = actions
        if isinstance(self.envs, AsyncVectorEnv):
            self.envs.step_async(actions)

    def step_wait(self, env_steps: int) -> tuple[np.ndarray, ...]:
        """Returns (reward, terminated, truncated, next_state); `next_state` is the
        observation the step produced (the final one when an episode ended), while
        `self.states` moves on to the reset observation."""
        if isinstance(self.envs, AsyncVectorEnv):
            obs, reward, terminated, truncated, info = self.envs.step_wait()
        else:
            obs, reward, terminated, truncated, info = self.envs.step(self._actions)
        next_state = np.asarray(obs["state"], np.float32).copy()
        done = terminated | truncated
        success = np.asarray(info["success"], bool).copy()
        if done.any():
            final = info["final_info"]
            next_state[done] = np.stack([info["final_obs"][i]["state"] for i in np.flatnonzero(done)])
            success[done] = np.asarray(final["success"], bool)[done]
        self.success |= success
        self.returns += reward
        for i in np.flatnonzero(done):
            task, robot = self.combos[i]
            self.recent[(task, robot)].append(self.success[i])
            self.logger.log({f"train/{task}/{robot}/success": float(self.success[i]),
                             f"train/{task}/{robot}/return": self.returns[i]}, env_steps)
            self.success[i], self.returns[i] = False, 0.0
        self._take(obs)
        return np.asarray(reward, np.float32), terminated, truncated, next_state

    def step(self, actions: np.ndarray, env_steps: int) -> tuple[np.ndarray, ...]:
        self.step_async(actions)
        return self.step_wait(env_steps)

    def summary(self) -> str:
        return " ".join(f"{t}/{r}={np.mean(q) if q else 0:.2f}" for (t, r), q in self.recent.items())

    def close(self) -> None:
        self.envs.close()
