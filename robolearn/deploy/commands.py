"""The shared 7-d action as a real arm's commands, and back (the twin reads them so).

A twist is the action's step per control tick (robolearn.spec.CONTROL_HZ) as a velocity:
linear = action[:3] * max_pos_step / dt, angular = action[3:6] * max_rot_step / dt, in the
arm's base frame. The gripper command is the finger opening in metres (0 closed).
"""
from __future__ import annotations

import numpy as np

from robolearn.spec import ACTION_DIM
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.robots import RobotSpec


def action_to_twist(action: np.ndarray, spec: RobotSpec) -> tuple[np.ndarray, np.ndarray]:
    return action[:3] * spec.max_pos_step / CONTROL_DT, action[3:6] * spec.max_rot_step / CONTROL_DT


def twist_to_action(linear: np.ndarray, angular: np.ndarray, opening: float, spec: RobotSpec) -> np.ndarray:
    action = np.zeros(ACTION_DIM)
    action[:3] = np.asarray(linear) * CONTROL_DT / spec.max_pos_step
    action[3:6] = np.asarray(angular) * CONTROL_DT / spec.max_rot_step
    action[6] = gripper_action(opening, spec)
    return np.clip(action, -1.0, 1.0)


def gripper_opening(gripper: float, spec: RobotSpec) -> float:
    """-1 (open) -> both fingers at full travel; +1 (closed) -> 0."""
    return spec.finger_max * (1.0 - float(gripper))


def gripper_action(opening: float, spec: RobotSpec) -> float:
    return float(np.clip(1.0 - opening / spec.finger_max, -1.0, 1.0))
