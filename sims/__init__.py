"""Simulators, robots, the task suite and their gymnasium registration.

`import sims` registers `robolearn/<Task>-v0` for every task; make one with
`gymnasium.make("robolearn/PickPlace-v0", robot="kuka", backend="pybullet")`.
"""
from __future__ import annotations

import os

if "DISPLAY" not in os.environ:  # no X server: MuJoCo's default (GLFW) cannot render, EGL renders offscreen
    os.environ.setdefault("MUJOCO_GL", "egl")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

import gymnasium as gym  # noqa: E402 (after the renderer choice, which must precede any MuJoCo import)

from robolearn.sims.tasks import TASKS, env_id


def _register() -> None:
    for name, task in TASKS.items():
        gid = env_id(name)
        if gid not in gym.registry:
            gym.register(id=gid, entry_point="robolearn.sims.env:RobolearnEnv", kwargs={"task": name},
                         max_episode_steps=task.horizon, disable_env_checker=True)


_register()
