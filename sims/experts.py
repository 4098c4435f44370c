"""Scripted experts: closed-loop policies that read only the observation.

`expert_for(env)` returns the task's expert as a callable `obs -> action`. Experts
generate demonstrations and anchor the learning tests; each must reach >= 95%
success on every task x robot x backend (tests/contract). The helpers below turn
a desired hand pose into an action in the shared 7-d convention.
"""
from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from robolearn.spec import GRIPPER_CLOSED, GRIPPER_OPEN, STATE_SLICES
from robolearn.sims.geometry import axis_angle_to_mat, mat_to_axis_angle, quat_to_mat
from robolearn.sims.robots import MAX_POS_STEP as POS_STEP
from robolearn.sims.robots import MAX_ROT_STEP as ROT_STEP

S = STATE_SLICES
# The home orientation: pointing down, TCP x forward, fingers opening along world y.
DOWN = np.diag([1.0, -1.0, -1.0])
OPEN, CLOSE = GRIPPER_OPEN, GRIPPER_CLOSED


def down_yawed(yaw: float) -> np.ndarray:
    """The home orientation turned about the world z axis."""
    return axis_angle_to_mat(np.array([0.0, 0.0, yaw])) @ DOWN


def servo(state: np.ndarray, pos: np.ndarray, grip: float, rot: np.ndarray = DOWN, gain: float = 1.0,
          max_speed: float = 1.0, max_turn: float = 1.0) -> np.ndarray:
    """Action that moves the hand toward `pos` and `rot` and sets the gripper; `max_speed`
    and `max_turn` cap the translation and rotation parts (fractions of the largest step)."""
    action = np.zeros(7, dtype=np.float32)
    move = (pos - state[S["tcp_pos"]]) * gain / POS_STEP
    norm = np.linalg.norm(move)
    if norm > max_speed:
        move *= max_speed / norm
    action[:3] = move
    err = mat_to_axis_angle(rot @ quat_to_mat(state[S["tcp_quat"]]).T)
    action[3:6] = np.clip(err / ROT_STEP, -max_turn, max_turn)
    action[6] = grip
    return action


def gripper_opening(state: np.ndarray) -> float:
    return float(state[S["gripper"]][0])


def yaw_of(quat: np.ndarray) -> float:
    """Yaw of a body about world z, from its x axis."""
    x_axis = quat_to_mat(quat)[:, 0]
    return float(np.arctan2(x_axis[1], x_axis[0]))


def grasp_yaw(quat: np.ndarray, symmetry: float = np.pi / 2) -> float:
    """The hand yaw (within +-symmetry/2 of zero) that lines the fingers up with a box's faces."""
    yaw = yaw_of(quat)
    return float((yaw + symmetry / 2) % symmetry - symmetry / 2)


def expert_for(env: gym.Env) -> Callable[[dict], np.ndarray]:
    """The scripted expert of `env`'s task: `obs -> 7-d action`. An env that brings its own
    experts (Meta-World's tasks, robolearn/metaworld_tasks.py) hands it out with `expert()`."""
    if hasattr(env.unwrapped, "expert"):
        return env.unwrapped.expert()
    task = env.unwrapped.task
    return lambda obs: task.expert(np.asarray(obs["state"], dtype=np.float64))
