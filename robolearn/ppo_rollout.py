"""PPO experience collection from an EnvRunner, shared by `robolearn train` and the fleet's actors."""
from __future__ import annotations

from typing import Callable

import numpy as np

from robolearn.env_runner import EnvRunner
from robolearn.learners.ppo import PPO

ROLLOUT_KEYS = ("obs", "pre", "logp", "reward", "done", "task", "robot")


def ppo_step(agent: PPO, runner: EnvRunner, env_steps: int) -> dict[str, np.ndarray]:
    """One exploratory step of every env: what `agent.sample` returns plus reward, done, task, robot."""
    step = agent.sample(runner.states, runner.task, runner.robot)
    reward, terminated, truncated, next_state = runner.step(step["action"], env_steps)
    # A time limit is not a failure: bootstrap the cut-off episode with its value.
    cut = truncated & ~terminated
    if cut.any():
        reward[cut] += agent.cfg.gamma * agent.state_value(next_state[cut], runner.task[cut], runner.robot[cut])
    return step | {"reward": reward, "done": (terminated | truncated).astype(np.float32), "task": runner.task.copy(),
                   "robot": runner.robot.copy()}


def collect_rollout(agent: PPO, runner: EnvRunner, horizon: int, keys: tuple[str, ...], raw_states: list[np.ndarray],
                    steps_done: Callable[[], int], after_step: Callable[[], None] = lambda: None
                    ) -> dict[str, np.ndarray]:
    """`horizon` steps of every env as (T, N) arrays of `keys`; the raw (unnormalized) states are
    appended to `raw_states` as they are seen (for the normalizer, and for routing probes mid-rollout)."""
    rows: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    for _ in range(horizon):
        raw_states.append(runner.states.copy())
        for key, value in ppo_step(agent, runner, steps_done()).items():
            if key in rows:
                rows[key].append(value)
        after_step()
    return {k: np.stack(v) for k, v in rows.items()}
