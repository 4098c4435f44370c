"""Scripted-expert demonstrations as replay for off-policy RL (RLPD, Ball et al. 2023).

Each task's scripted expert (sims.experts; a Meta-World task's own scripted policy) runs whole episodes in the training envs,
with a little action noise; their transitions go to a replay buffer of their own, and
every SAC batch draws a fixed share from it (`robolearn.learners.replay.mixed_batch`).
The critic learns what the expert's actions are worth, and the actor also clones them on
those rows (`SACConfig.demo_bc_coef`), so tasks whose rewards random exploration rarely
finds (lift, pick_place, stack, pour) are learned within the step budget.
"""
from __future__ import annotations

import gymnasium as gym
import numpy as np
from tqdm import tqdm

from robolearn.envs import is_external
from robolearn.learners.replay import ReplayBuffer
from robolearn.learners.sac import SACConfig
from robolearn.spec import ACTION_DIM
from robolearn.sims.experts import expert_for
from robolearn.sims.rollout import run_episode


def check_demo_settings(algo: SACConfig) -> None:
    """Errors that name the setting, raised before a run starts."""
    episodes = algo.demo_episodes
    if episodes < 0:
        raise ValueError(f"algo.demo_episodes={episodes}: must be >= 0")
    if episodes and not 0.0 < algo.demo_ratio < 1.0:
        raise ValueError(f"algo.demo_ratio={algo.demo_ratio}: must be in (0, 1)")
    for name in ("demo_noise", "demo_bc_coef"):
        if getattr(algo, name) < 0:
            raise ValueError(f"algo.{name}={getattr(algo, name)}: must be >= 0")


def has_expert(task: str) -> bool:
    """The suite's tasks and Meta-World's have scripted experts; external gym ids do not."""
    return not is_external(task)


def expert_replay(envs: list[gym.Env], episodes: int, seed: int, noise: float = 0.0) -> ReplayBuffer:
    """`episodes` full expert episodes in each env (to the time limit, so the buffer also
    shows holding a success), as one replay buffer. Gaussian `noise` is added to every action
    and the executed action is kept: the episodes then also show the expert recovering from
    states a little off its path. Envs with cameras give the buffer their frames too. The
    envs are left mid-episode: reset them."""
    steps: list[tuple] = []
    images: list[tuple[dict, dict]] = []  # the frames before and after each step
    rng = np.random.default_rng(seed)

    def keep(obs: dict, action: np.ndarray, reward: float, next_obs: dict, terminated: bool) -> None:
        steps.append((obs["state"], action, reward, next_obs["state"], float(terminated), obs["task_id"],
                      obs["robot_id"]))
        if "images" in obs:
            images.append((obs["images"], next_obs["images"]))

    for i, env in enumerate(tqdm(envs, desc="expert demos", unit="env", mininterval=1.0, leave=False)):
        expert = expert_for(env)
        for episode in range(episodes):
            run_episode(env, lambda obs: np.clip(expert(obs) + noise * rng.standard_normal(ACTION_DIM), -1.0,
                                                 1.0).astype(np.float32),
                        seed + 1000 * i + episode, on_step=keep)
    cameras = tuple(images[0][0]) if images else ()
    size = images[0][0][cameras[0]].shape[0] if images else 0
    buffer = ReplayBuffer(len(steps), len(steps[0][0]), ACTION_DIM, cameras, size)
    frames = [{c: np.stack([step[which][c] for step in images]) for c in cameras} for which in (0, 1)]
    buffer.add(*(np.asarray(column) for column in zip(*steps)), *frames)
    return buffer

