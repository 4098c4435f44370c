"""Meta-World's tasks (metaworld 3.1.1, its Sawyer arm in MuJoCo) as tasks of the suite: `mw:<name>`.

Observation: Meta-World's 39 values (hand, gripper, two object poses, the previous frame's
18 values, goal) mapped into the suite's state layout (robolearn/spec.py), so the shared
trunk and its relative inputs (goal minus hand, object minus hand) read the same thing on
every task: hand -> tcp_pos, hand motion since the previous frame -> tcp_vel, gripper
opening -> gripper, first object -> obj0, second object -> obj1, goal -> goal_pos.
Action: the suite's 7-d action; Meta-World's arm takes the position delta (dims 0-2) and
the gripper (dim 6, +1 closes); it holds its orientation, so dims 3-5 are unused.
Goals: each task has Meta-World's 50 goal configurations (its MT1 benchmark, seed
GOAL_SEED). A reset with seed s plays goal s mod 50, an unseeded reset a random goal, so
50 evaluation episodes on consecutive seeds are Meta-World's protocol: every goal once,
success at any step, horizon 500. Meta-World's own scripted policies are the experts.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import gymnasium as gym
import numpy as np

from robolearn.spec import ACTION_DIM, STATE_DIM, STATE_SLICES

METAWORLD_PREFIX = "mw:"
METAWORLD_ROBOT = "sawyer"
N_GOALS = 50
GOAL_SEED = 0
INSTALL_HINT = ("Meta-World is not installed: pip install -e '.[metaworld]' && pip install --no-deps "
                "metaworld==3.1.1 (make test and make train install it)")
BENCHMARKS = ("mt10", "mt50")  # shorthands for Meta-World's task sets


def is_metaworld(task: str) -> bool:
    return task.startswith(METAWORLD_PREFIX)


def _metaworld() -> Any:
    try:
        import metaworld
    except ImportError:
        raise ValueError(INSTALL_HINT) from None
    return metaworld


def metaworld_names() -> list[str]:
    """Every Meta-World task, as `mw:<name>`."""
    return [METAWORLD_PREFIX + name for name in _metaworld().env_dict.ALL_V3_ENVIRONMENTS]


def benchmark_tasks(benchmark: str) -> list[str]:
    """The tasks of `mt10` or `mt50`, in Meta-World's order."""
    env_dict = _metaworld().env_dict
    names = {"mt10": env_dict.MT10_V3, "mt50": env_dict.MT50_V3}[benchmark]
    return [METAWORLD_PREFIX + name for name in names]


def check_metaworld_task(task: str) -> None:
    allowed = metaworld_names()
    if task not in allowed:
        raise ValueError(f"tasks: unknown Meta-World task {task!r}; allowed: {', '.join(allowed)}")


@functools.lru_cache(maxsize=None)
def _goals(name: str) -> tuple[type, tuple]:
    """(env class, its 50 goal configurations); building them resets the env 50 times, so once per process."""
    benchmark = _metaworld().MT1(name, seed=GOAL_SEED)
    return benchmark.train_classes[name], tuple(benchmark.train_tasks)


def suite_state(raw: np.ndarray, dt: float) -> np.ndarray:
    """Meta-World's 39-d observation in the suite's layout (STATE_DIM values)."""
    state = np.zeros(STATE_DIM, np.float32)
    state[STATE_SLICES["tcp_pos"]] = raw[0:3]
    state[STATE_SLICES["tcp_vel"]] = (raw[0:3] - raw[18:21]) / dt
    state[STATE_SLICES["gripper"]] = raw[3]
    state[STATE_SLICES["obj0_pos"]], state[STATE_SLICES["obj0_quat"]] = raw[4:7], raw[7:11]
    state[STATE_SLICES["obj1_pos"]], state[STATE_SLICES["obj1_quat"]] = raw[11:14], raw[14:18]
    state[STATE_SLICES["goal_pos"]] = raw[36:39]
    return state


def suite_action(metaworld_action: np.ndarray) -> np.ndarray:
    """Meta-World's 4-d action (xyz, gripper) as the suite's 7-d action."""
    action = np.zeros(ACTION_DIM, np.float32)
    action[:3], action[6] = metaworld_action[:3], metaworld_action[3]
    return np.clip(action, -1.0, 1.0)


class MetaWorldTask(gym.Env):
    """One Meta-World task over its 50 goals, with the suite's observation and action."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, name: str, render_mode: str | None = None):
        check_metaworld_task(METAWORLD_PREFIX + name)
        env_class, self.goals = _goals(name)
        self.name = name
        self.env = env_class(render_mode=render_mode)
        self.render_mode = render_mode
        self.raw = np.zeros(39)
        self.observation_space = gym.spaces.Dict({
            "state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32),
            "task_id": gym.spaces.Discrete(1), "robot_id": gym.spaces.Discrete(1)})
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)

    def _obs(self, raw: np.ndarray) -> dict[str, Any]:
        self.raw = raw
        return {"state": suite_state(raw, self.env.dt), "task_id": 0, "robot_id": 0}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        goal = seed % N_GOALS if seed is not None else int(self.np_random.integers(N_GOALS))
        self.env.set_task(self.goals[goal])
        raw, info = self.env.reset()
        return self._obs(raw), info | {"success": False, "goal": goal}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, np.float64), -1.0, 1.0)
        raw, reward, terminated, truncated, info = self.env.step(np.array([a[0], a[1], a[2], a[6]]))
        return self._obs(raw), float(reward), bool(terminated), bool(truncated), info | {"success": bool(info["success"])}

    def render(self) -> np.ndarray | None:
        return self.env.render()

    def close(self) -> None:
        self.env.close()

    def expert(self) -> Callable[[dict], np.ndarray]:
        """Meta-World's scripted policy for this task, reading the env's own last observation."""
        from metaworld.policies import ENV_POLICY_MAP

        policy = ENV_POLICY_MAP[self.name]()
        return lambda obs: suite_action(policy.get_action(self.raw))
