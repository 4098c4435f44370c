"""Building the training and evaluation envs: the suite's own tasks, Meta-World's and any gymnasium env's.

A task is a suite task name (`reach`), `mw:<name>` for a Meta-World task
(robolearn/metaworld_tasks.py; `mt10` and `mt50` stand for its task sets), or
`gym:<env id>` for any gymnasium env whose observation and action spaces are Boxes
(`gym:Pendulum-v1`); `gym:<env id>@<variant>` names the same env again as another task,
with its own `env_kwargs`. External envs are wrapped to the suite's interface: the flat
observation is the state, the first n of the 7 action dimensions are scaled to the env's
action bounds, and `info["success"]` is taken from the env's `success` or `is_success`.
Suite tasks run on every robot of the run; a Meta-World task on its Sawyer (robot
`sawyer`), an external task on robot `gym`. Every env reports the ids of the run's
vocabulary (robolearn/vocab.py), its state zero-padded to the vocabulary's size.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

import robolearn.sims as sims
from robolearn.deploy.sim_limits import DeployLimits, deploy_limits_for
from robolearn.metaworld_tasks import (BENCHMARKS, METAWORLD_PREFIX, METAWORLD_ROBOT, MetaWorldTask, benchmark_tasks,
                                       check_metaworld_task, is_metaworld)
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.sims.backend import BACKENDS
from robolearn.sims.randomization import Randomizer
from robolearn.sims.robots import ROBOTS
from robolearn.sims.tasks import TASKS
from robolearn.vocab import Vocabulary

EXTERNAL_PREFIX = "gym:"
EXTERNAL_ROBOT = "gym"
TASK_HINT = f"allowed: {', '.join(TASKS)}, mw:<name> (robolearn envs lists them), {', '.join(BENCHMARKS)} or gym:<env id>"


def is_external(task: str) -> bool:
    return task.startswith(EXTERNAL_PREFIX)


def external_id(task: str) -> str:
    """The gymnasium id of `gym:<id>` or `gym:<id>@<variant>`."""
    return task[len(EXTERNAL_PREFIX):].split("@", 1)[0]


def expand_tasks(tasks: list[str]) -> list[str]:
    """`tasks` with the benchmark shorthands (mt10, mt50) replaced by their tasks."""
    out: list[str] = []
    for task in tasks:
        out += benchmark_tasks(task) if task in BENCHMARKS else [task]
    return out


def check_names(tasks: list[str], robots: list[str], backend: str) -> None:
    if not tasks:
        raise ValueError(f"tasks is empty; {TASK_HINT}")
    bad = [t for t in tasks if not is_external(t) and not is_metaworld(t) and t not in TASKS]
    if bad:
        raise ValueError(f"tasks: unknown {bad}; {TASK_HINT}")
    for task in filter(is_metaworld, tasks):
        check_metaworld_task(task)
    for field, names in (("tasks", tasks), ("robots", robots)):
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"{field}: {', '.join(repeated)} listed more than once; name each once")
    bad = [r for r in robots if r not in ROBOTS]
    if not robots or bad:
        raise ValueError(f"robots: unknown or empty {bad or robots}; allowed: {', '.join(ROBOTS)}")
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}; allowed: {', '.join(BACKENDS)}")


def robots_of(task: str, robots: list[str]) -> list[str]:
    """Suite tasks run on every robot; a Meta-World or external task on its own arm."""
    if is_metaworld(task):
        return [METAWORLD_ROBOT]
    return [EXTERNAL_ROBOT] if is_external(task) else list(robots)


def combos_for(tasks: list[str], robots: list[str]) -> list[tuple[str, str]]:
    return [(t, r) for t in tasks for r in robots_of(t, robots)]


def task_obs_dim(task: str, env_kwargs: dict[str, dict] | None = None) -> int:
    """The length of `task`'s state (an external env is made once to read its space)."""
    if not is_external(task):
        return STATE_DIM
    env = make_external(task, (env_kwargs or {}).get(task, {}))
    env.close()
    return env.obs_dim


def task_spaces(tasks: Sequence[str]) -> list[int]:
    """Each task's observation space id, numbered in order of first appearance (so adding
    tasks never renumbers the old ones). The suite's tasks and Meta-World's (mapped into the
    suite's state layout) share one space; an external env has its own per gymnasium id."""
    keys = [external_id(t) if is_external(t) else "suite" for t in tasks]
    ids = {key: i for i, key in enumerate(dict.fromkeys(keys))}
    return [ids[key] for key in keys]


def suite_vocabulary() -> Vocabulary:
    """Every suite task on every suite robot: the vocabulary of models trained from recorded episodes."""
    return Vocabulary(tuple(TASKS), tuple(ROBOTS), STATE_DIM)


def run_vocabulary(tasks: list[str], robots: list[str], env_kwargs: dict[str, dict] | None = None) -> Vocabulary:
    """The vocabulary of a new model for `tasks` x `robots`."""
    used = dict.fromkeys(r for _, r in combos_for(tasks, robots))
    return Vocabulary(tuple(tasks), tuple(used), max(task_obs_dim(t, env_kwargs) for t in tasks))


class ExternalTaskEnv(gym.Wrapper):
    def __init__(self, env: gym.Env):
        super().__init__(env)
        obs_space, act_space = env.observation_space, env.action_space
        name = env.spec.id if env.spec else env
        if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Box):
            raise ValueError(f"external task {name}: observation and action spaces must be "
                             f"Boxes, got {type(obs_space).__name__} and {type(act_space).__name__}")
        self.obs_dim, self.act_dim = int(np.prod(obs_space.shape)), int(np.prod(act_space.shape))
        if self.act_dim > ACTION_DIM:
            raise ValueError(f"external task {name}: action space {act_space.shape} has {self.act_dim} values; "
                             f"at most {ACTION_DIM} are supported")
        self.low, self.high = act_space.low.reshape(-1), act_space.high.reshape(-1)
        self.observation_space = gym.spaces.Dict({
            "state": gym.spaces.Box(-np.inf, np.inf, (self.obs_dim,), np.float32),
            "task_id": gym.spaces.Discrete(1), "robot_id": gym.spaces.Discrete(1)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

    def _wrap(self, obs: np.ndarray) -> dict[str, Any]:
        return {"state": np.asarray(obs, np.float32).reshape(-1), "task_id": 0, "robot_id": 0}

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


class RunIds(gym.ObservationWrapper):
    """An env's observation with the run's task and robot ids, its state padded to the run's size."""

    def __init__(self, env: gym.Env, vocab: Vocabulary, task: str, robot: str):
        super().__init__(env)
        self.vocab, self.task_id, self.robot_id = vocab, vocab.task_id(task), vocab.robot_id(robot)
        self.observation_space = gym.spaces.Dict(dict(env.observation_space.spaces) | {
            "state": gym.spaces.Box(-np.inf, np.inf, (vocab.obs_dim,), np.float32),
            "task_id": gym.spaces.Discrete(len(vocab.tasks)), "robot_id": gym.spaces.Discrete(len(vocab.robots))})

    def observation(self, obs: dict) -> dict:
        return obs | {"state": self.vocab.pad(obs["state"]), "task_id": self.task_id, "robot_id": self.robot_id}


def make_external(task: str, kwargs: dict, render_mode: str | None = None) -> ExternalTaskEnv:
    env_id = external_id(task)
    try:
        env = gym.make(env_id, render_mode=render_mode, **kwargs)
    except gym.error.Error as err:
        raise ValueError(f"tasks: cannot make external env {env_id!r}: {err}") from None
    return ExternalTaskEnv(env)


def make_env(task: str, robot: str, backend: str, vocab: Vocabulary, env_kwargs: dict[str, dict] | None = None,
             render_mode: str | None = None, dr: Randomizer | str = "none", deploy_limits: str = "") -> gym.Env:
    """`dr` randomizes the suite's own tasks (sims.randomization) and `deploy_limits` puts the
    deploy safety layer in their loop (robolearn.deploy.sim_limits); other envs are left as they are."""
    kwargs = dict((env_kwargs or {}).get(task, {}))
    if is_external(task):
        return RunIds(make_external(task, kwargs, render_mode), vocab, task, robot)
    if is_metaworld(task):
        return RunIds(MetaWorldTask(task[len(METAWORLD_PREFIX):], render_mode, **kwargs), vocab, task, robot)
    env = gym.make(sims.env_id(task), robot=robot, backend=backend, render_mode=render_mode, dr=dr, **kwargs)
    limits = deploy_limits_for(robot, deploy_limits)
    return RunIds(DeployLimits(env, limits) if limits else env, vocab, task, robot)
