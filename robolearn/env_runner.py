"""The training envs: `num_envs` per task x robot, stepped in worker processes or in this one.

With workers the envs are split over a few processes (one per core by default), each stepping
its share one after another; `step_async` hands out the actions and returns at once, so the
caller can work while they step. One process per env was measured slower on 2 cores: the
context switches and pipe round trips of 12 processes took longer than the physics
(docs/benchmarks.md). With ADR the learner's process owns the one state: each worker's envs
share a collect-only copy that takes the owner's ranges with every command and sends its
boundary results back with the reply, merged in env order. Either way a finished episode
resets in the same step, and the transition keeps the episode's final observation.
"""
from __future__ import annotations

import functools
import multiprocessing as mp
import os
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable

import gymnasium as gym
import numpy as np

from robolearn.envs import make_env
from robolearn.logger import Logger
from robolearn.sims.randomization import ADR, Randomizer
from robolearn.vocab import Vocabulary

EnvFn = Callable[[], gym.Env]


@dataclass(frozen=True)
class EnvStep:
    """One env's step: the observation to act on next (after a reset if the episode ended)
    and what the transition stores."""
    state: np.ndarray
    task: int
    robot: int
    reward: float
    terminated: bool
    truncated: bool
    success: bool
    final_state: np.ndarray  # the step's own observation: the final one when the episode ended
    images: dict[str, np.ndarray]  # camera frames of `state` (envs with cameras; else empty)
    final_images: dict[str, np.ndarray]  # those of `final_state`


def reset_env(env: gym.Env, seed: int | None) -> EnvStep:
    obs, info = env.reset(seed=seed)
    images = obs.get("images", {})
    return EnvStep(obs["state"], int(obs["task_id"]), int(obs["robot_id"]), 0.0, False, False, bool(info["success"]),
                   obs["state"], images, images)


def step_env(env: gym.Env, action: np.ndarray) -> EnvStep:
    obs, reward, terminated, truncated, info = env.step(action)
    final, final_images = obs["state"], obs.get("images", {})
    if terminated or truncated:
        obs, _ = env.reset()
    return EnvStep(obs["state"], int(obs["task_id"]), int(obs["robot_id"]), float(reward), bool(terminated),
                   bool(truncated), bool(info["success"]), final, obs.get("images", {}), final_images)


def stacked_images(steps: list[EnvStep], final: bool = False) -> dict[str, np.ndarray]:
    """Each camera's frames over the envs, (N, H, W, 3); of the steps' final observations with `final`."""
    frames = [s.final_images if final else s.images for s in steps]
    return {camera: np.stack([f[camera] for f in frames]) for camera in frames[0]}


def _worker(pipe: Connection, fns: list[EnvFn], adr: ADR | None) -> None:
    envs = [fn() for fn in fns]
    for env in envs:  # the suite's envs randomize from this process's copy (external ones do not randomize)
        if adr is not None and hasattr(env.unwrapped, "randomizer"):
            env.unwrapped.randomizer = adr
    try:
        while True:
            command, (data, ranges) = pipe.recv()
            if adr is not None and ranges is not None:
                adr.ranges = ranges
            if command == "reset":
                steps = [reset_env(env, seed) for env, seed in zip(envs, data)]
            elif command == "step":
                steps = [step_env(env, action) for env, action in zip(envs, data)]
            else:
                break
            pipe.send((steps, adr.take_results() if adr is not None else {}))
    except (EOFError, KeyboardInterrupt):  # the learner went away
        pass
    finally:
        for env in envs:
            env.close()


class EnvPool:
    """Envs split over worker processes (or none: all in this process); the same calls either way.
    `adr`: the randomizer the envs were built with, when it is the learner's ADR state."""

    def __init__(self, fns: list[EnvFn], workers: int, adr: ADR | None = None):
        self.num_envs, self.workers = len(fns), min(workers, len(fns))
        self._pending: list[np.ndarray] | None = None
        self.adr = adr
        if self.workers == 0:
            self.envs = [fn() for fn in fns]
            return
        # forkserver, not fork: a forked copy of a process whose OpenMP threads are running can hang.
        context = mp.get_context("forkserver")
        self.shares = np.array_split(np.arange(len(fns)), self.workers)
        self.pipes, self.processes = [], []
        for share in self.shares:
            parent, child = context.Pipe()
            copy = adr.worker_copy() if adr is not None else None
            process = context.Process(target=_worker, args=(child, [fns[i] for i in share], copy), daemon=True)
            process.start()
            child.close()
            self.pipes.append(parent)
            self.processes.append(process)

    def _ask(self, command: str, per_env: list) -> None:
        ranges = self.adr.ranges if self.adr is not None else None
        for pipe, share in zip(self.pipes, self.shares):
            pipe.send((command, ([per_env[i] for i in share], ranges)))

    def _collect(self) -> list[EnvStep]:
        steps = []
        for pipe in self.pipes:
            try:
                share, results = pipe.recv()
            except EOFError:
                raise RuntimeError("an env worker process died (see its error above)") from None
            if self.adr is not None:
                self.adr.record_results(results)
            steps += share
        return steps

    def reset(self, seeds: list[int]) -> list[EnvStep]:
        if self.workers == 0:
            return [reset_env(env, seed) for env, seed in zip(self.envs, seeds)]
        self._ask("reset", seeds)
        return self._collect()

    def step_async(self, actions: np.ndarray) -> None:
        if self.workers == 0:
            self._pending = list(actions)
        else:
            self._ask("step", list(actions))

    def step_wait(self) -> list[EnvStep]:
        if self.workers == 0:
            return [step_env(env, action) for env, action in zip(self.envs, self._pending)]
        return self._collect()

    def close(self) -> None:
        if self.workers == 0:
            for env in self.envs:
                env.close()
            return
        for pipe in self.pipes:
            try:
                pipe.send(("close", (None, None)))
            except (BrokenPipeError, OSError):
                pass
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def env_pool(combos: list[tuple[str, str]], backend: str, vocab: Vocabulary, env_kwargs: dict[str, dict] | None,
             randomizer: Randomizer | str, workers: bool, deploy_limits: str = "") -> EnvPool:
    """One env per entry of `combos` (repeat a combo for several envs of it), over one worker
    process per core when `workers`."""
    fns = [functools.partial(make_env, task, robot, backend, vocab, env_kwargs, dr=randomizer, deploy_limits=deploy_limits)
           for task, robot in combos]
    return EnvPool(fns, (os.cpu_count() or 1) if workers else 0, randomizer if isinstance(randomizer, ADR) else None)


class EnvRunner:
    """Steps a pool whose env i plays `combos[i]`, and keeps each combo's episode success and
    return (the recent ones for the progress bar, every one for the logger)."""

    def __init__(self, combos: list[tuple[str, str]], envs: EnvPool, seed: int, logger: Logger):
        if len(combos) != envs.num_envs:
            raise ValueError(f"{len(combos)} task x robot entries for {envs.num_envs} envs")
        self.combos, self.envs, self.logger, self.n = combos, envs, logger, envs.num_envs
        self.recent = {combo: deque(maxlen=20) for combo in dict.fromkeys(combos)}
        self.restart(seed)

    def restart(self, seed: int) -> None:
        """Reset every env (env i with seed + 1000 i) and forget the episodes in progress."""
        self._take(self.envs.reset([seed + 1000 * i for i in range(self.n)]))
        self.success, self.returns = np.zeros(self.n, bool), np.zeros(self.n)

    def _take(self, steps: list[EnvStep]) -> None:
        self.states = np.stack([s.state for s in steps]).astype(np.float32)
        self.images = stacked_images(steps)  # camera -> (N, H, W, 3) of `states` (envs with cameras)
        self.task = np.array([s.task for s in steps])
        self.robot = np.array([s.robot for s in steps])

    def step_async(self, actions: np.ndarray) -> None:
        """Start stepping: the workers run while the caller goes on; in-process envs step in `step_wait`."""
        self.envs.step_async(actions)

    def step_wait(self, env_steps: int) -> tuple[np.ndarray, ...]:
        """Returns (reward, terminated, truncated, next_state); `next_state` is the
        observation the step produced (the final one when an episode ended), while
        `self.states` moves on to the reset observation. `self.next_images` holds the
        camera frames of `next_state`."""
        steps = self.envs.step_wait()
        self.next_images = stacked_images(steps, final=True)
        reward = np.array([s.reward for s in steps], np.float32)
        terminated = np.array([s.terminated for s in steps])
        truncated = np.array([s.truncated for s in steps])
        next_state = np.stack([s.final_state for s in steps]).astype(np.float32)
        self.success |= np.array([s.success for s in steps])
        self.returns += reward
        for i in np.flatnonzero(terminated | truncated):
            task, robot = self.combos[i]
            self.recent[(task, robot)].append(self.success[i])
            self.logger.log({f"train/{task}/{robot}/success": float(self.success[i]),
                             f"train/{task}/{robot}/return": self.returns[i]}, env_steps)
            self.success[i], self.returns[i] = False, 0.0
        self._take(steps)
        return reward, terminated, truncated, next_state

    def step(self, actions: np.ndarray, env_steps: int) -> tuple[np.ndarray, ...]:
        self.step_async(actions)
        return self.step_wait(env_steps)

    def summary(self) -> str:
        return " ".join(f"{t}/{r}={np.mean(q) if q else 0:.2f}" for (t, r), q in self.recent.items())

    def close(self) -> None:
        self.envs.close()
