"""Running episodes: one rollout loop for experts, tests and benchmarks."""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from robolearn.sims.experts import expert_for
from robolearn.sims.tasks import env_id


def run_episode(env: gym.Env, policy: Callable[[dict], np.ndarray], seed: int, stop_on_success: bool = False,
                on_step: Callable[[dict, np.ndarray, float, dict, bool], None] | None = None) -> tuple[bool, int]:
    """Success if any step succeeded (the suite's convention); returns (success, steps).
    `on_step(obs, action, reward, next_obs, terminated)` sees every transition."""
    obs, info = env.reset(seed=seed)
    success, steps, done = bool(info["success"]), 0, False
    while not done and not (stop_on_success and success):
        action = policy(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        if on_step:
            on_step(obs, action, reward, next_obs, terminated)
        obs = next_obs
        success |= bool(info["success"])
        steps += 1
        done = terminated or truncated
    return success, steps


def expert_success_table(tasks: list[str], robots: list[str], backends: list[str], episodes: int,
                         seed: int = 0) -> dict[tuple[str, str, str], float]:
    combos = [(t, r, b) for b in backends for t in tasks for r in robots]
    table = {}
    bar = tqdm(combos, desc="experts", unit="env")
    for task, robot, backend in bar:
        bar.set_postfix_str(f"{task}/{robot}/{backend}")
        env = gym.make(env_id(task), robot=robot, backend=backend)
        expert = expert_for(env)
        wins = sum(run_episode(env, expert, seed + i, stop_on_success=True)[0] for i in range(episodes))
        env.close()
        table[(task, robot, backend)] = wins / episodes
    return table
