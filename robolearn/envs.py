"""Building the training and evaluation envs: the suite's own tasks and external gymnasium tasks.

A task is a suite task name (`reach`) or `gym:<env id>` for any gymnasium env whose
observation and action spaces are Boxes (`gym:Pendulum-v1`). External envs are
wrapped to the suite's interface: the flat observation is zero-padded to the common
state length, the first n of the 7 action dimensions are scaled to the env's action
bounds, and `info["success"]` is taken from the env's `success` or `is_success`.
They use the robot slot `gym` and task ids after the suite's own.
"""
from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

import robolearn.sims as sims
from robolearn.deploy.sim_limits import DeployLimits, deploy_limits_for
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.sims.backend import BACKENDS
from robolearn.sims.randomization import Randomizer
from robolearn.sims.robots import ROBOTS
from robolearn.sims.tasks import TASKS

EXTERNAL_PREFIX = "gym:"
EXTERNAL_ROBOT = "gym"
EXTERNAL_TASK_SLOTS = 8  # embedding rows reserved for external tasks
N_TASK_IDS = len(TASKS) + EXTERNAL_TASK_SLOTS
N_ROBOT_IDS = len(ROBOTS) + 1


def is_external(task: str) -> bool:
    return task.startswith(EXTERNAL_PREFIX)


def check_names(tasks: list[str], robots: list[str], backend: str) -> None:
    if not tasks:
        raise ValueError(f"tasks is empty; allowed: {', '.join(TASKS)} or gym:<env id>")
    bad = [t for t in tasks if not is_external(t) and t not in TASKS]
    if bad:
        raise ValueError(f"tasks: unknown {bad}; allowed: {', '.join(TASKS)} or gym:<env id>")
    for field, names in (("tasks", tasks), ("robots", robots)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{field}: {', '.join(repeated)} listed more than once; name each once")
    external = [t for t in tasks if is_external(t)]
    if len(external) > EXTERNAL_TASK_SLOTS:
        raise ValueError(f"tasks: {len(external)} external tasks, at most {EXTERNAL_TASK_SLOTS}")
    bad = [r for r in robots if r not in ROBOTS]
    if not robots or bad:
        raise ValueError(f"robots: unknown or empty {bad or robots}; allowed: {', '.join(ROBOTS)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; allowed: {', '.join(BACKENDS)}")


def combos_for(tasks: list[str], robots: list[str]) -> list[tuple[str, str]]:
    """Suite tasks run on every robot; an external task is one env of its own."""
    return [(t, EXTERNAL_ROBOT) if is_external(t) else (t, r) for t in tasks for r in (robots[:1] if is_external(t) else robots)]


def task_ids(tasks: list[str]) -> dict[str, int]:
    """Suite tasks keep their global ids; external ones take the reserved slots in list order."""
    external = [t for t in tasks if is_external(t)]
    return {t: len(TASKS) + external.index(t) if is_external(t) else list(TASKS).index(t) for t in tasks}


class ExternalTaskEnv(gym.Wrapper):
    def __init__(self, env: gym.Env, task_id: int):
        super().__init__(env)
        obs_space, act_space = env.observation_space, env.action_space
        if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
            raise ValueError(f"external task {env.spec.id if env.spec else env}: observation and action spaces must be "
                             f"Boxes, got {type(obs_space).__name__} and {type(act_space).__name__}")
        self.obs_dim, self.act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
        if self.obs_dim > STATE_DIM or self.act_dim > ACTION_DIM:
            raise ValueError(f"external task {env.spec.id if env.spec else env}: observation {self.obs_dim}-d and action "
                             f"{self.act_dim}-d must fit in {STATE_DIM} and {ACTION_DIM}")
        self.low, self.high = act_space.low.reshape(-1), act_space.high.reshape(-1)
        self.task_id, self.robot_id = task_id, len(ROBOTS)
        self.observation_space = gym.spaces.Dict({
            "state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32),
            "task_id": gym.spaces.Discrete(N_TASK_IDS), "robot_id": gym.spaces.Discrete(N_ROBOT_IDS)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

    def _wrap(self, obs: np.ndarray) -> dict[str, Any]:
        state = np.zeros(STATE_DIM, np.float32)
        state[:self.obs_dim] = np.asarray(obs, np.float32).reshape(-1)
        return {"state": state, "task_id": self.task_id, "robot_id": self.robot_id}

    @staticmethod
    def _success(info: dict) -> dict:
        return info | {"success": bool(info.get("success", info.get("is_success", False)))}

    def reset(self, **kwargs: Any) -> tuple[dict, dict]:
        obs, info = self.env.reset(**kwargs)
        return self._wrap(obs), self._success(info)

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, np.float64)[:self.act_dim], -1.0, 1.0)
        scaled = self.low + (a + 1.0) * 0.5 * (self.high - self.low)
        obs, reward, terminated, truncated, info = self.env.step(scaled.reshape(self.env.action_space.shape))
        return self._wrap(obs), float(reward), terminated, truncated, self._success(info)


def make_env(task: str, robot: str, backend: str, tasks: list[str], env_kwargs: dict[str, dict] | None = None,
             render_mode: str | None = None, dr: Randomizer | str = "none", deploy_limits: str = "") -> gym.Env:
    """`dr` randomizes the suite's own tasks (sims.randomization) and `deploy_limits` puts the
    deploy safety layer in their loop (robolearn.deploy.sim_limits); external envs are left as they are."""
    kwargs = dict((env_kwargs or {}).get(task, {}))
    if is_external(task):
        env_id = task[len(EXTERNAL_PREFIX):]
        try:
            env = gym.make(env_id, render_mode=render_mode, **kwargs)
        except gym.error.Error as err:
            raise ValueError(f"tasks: cannot make external env {env_id!r}: {err}") from None
        return ExternalTaskEnv(env, task_ids(tasks)[task])
    env = gym.make(sims.env_id(task), robot=robot, backend=backend, render_mode=render_mode, dr=dr, **kwargs)
    limits = deploy_limits_for(robot, deploy_limits)
    return DeployLimits(env, limits) if limits else env
