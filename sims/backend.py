"""The backend protocol: everything a task or the controller may ask of a simulator.

Tasks are written against this protocol only; `sims/mujoco` and `sims/pybullet`
implement it. Poses are (position, quaternion wxyz) in the world frame, whose origin
is the robot base on the table top (z = 0), x pointing away from the robot.
"""
from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from robolearn.sims.objects import ObjectSpec
from robolearn.sims.robots import RobotSpec

BACKENDS = ("mujoco", "pybullet")
CONTROL_DT = 0.05  # 20 Hz (docs/design.md)

# The table: a box whose top is the plane z = 0.
TABLE_HALF = (0.45, 0.6, 0.02)
TABLE_CENTER = (0.4, 0.0, -0.02)
ROBOT_GROUP = "robot"  # contact names besides object names
FINGERS_GROUP = "fingers"
TABLE_GROUP = "table"


Pose = tuple[np.ndarray, np.ndarray]


class Backend(Protocol):
    name: str
    robot: RobotSpec
    substeps: int
    physics_dt: float
    pose_writes: int  # every pose or joint write counts; tests prove steps make none

    # robot
    def arm_limits(self) -> tuple[np.ndarray, np.ndarray]: ...
    def reset_robot(self, q_arm: np.ndarray, finger: float) -> None: ...
    def arm_positions(self) -> np.ndarray: ...
    def arm_velocities(self) -> np.ndarray: ...
    def finger_positions(self) -> np.ndarray: ...
    def set_targets(self, q_arm: np.ndarray, finger: float) -> None: ...
    def tcp_pose(self) -> Pose: ...
    def tcp_velocity(self) -> np.ndarray: ...
    def tcp_jacobian(self) -> np.ndarray: ...  # (6, dof): linear rows, then angular

    # objects
    def object_pose(self, name: str) -> Pose: ...
    def set_object_pose(self, name: str, pos: np.ndarray, quat: np.ndarray) -> None: ...
    def link_pose(self, name: str) -> Pose: ...
    def articulation(self, name: str) -> float: ...
    def set_articulation(self, name: str, value: float) -> None: ...
    def in_contact(self, a: str, b: str) -> bool: ...

    # simulation
    def step(self, n: int | None = None) -> None: ...  # n physics steps; default one control step
    def render(self, camera: str, width: int, height: int) -> np.ndarray: ...  # sims.cameras.CAMERAS; uint8 (H, W, 3)
    def set_param(self, name: str, value: Any) -> None: ...
    def set_params(self, values: dict[str, float]) -> None: ...  # many at once (PyBullet rebuilds resized objects once)
    def get_param(self, name: str) -> Any: ...
    def param_names(self) -> list[str]: ...
    def get_state(self) -> np.ndarray: ...
    def set_state(self, state: np.ndarray) -> None: ...
    def close(self) -> None: ...


def param_name_error(name: str, allowed: list[str]) -> ValueError:
    return ValueError(f"unknown physical parameter {name!r}; allowed: {', '.join(sorted(allowed))}")


def make_backend(name: str, robot: RobotSpec, objects: list[ObjectSpec]) -> Backend:
    if name == "mujoco":
        from robolearn.sims.mujoco.backend import MujocoBackend

        return MujocoBackend(robot, objects)
    if name == "pybullet":
        from robolearn.sims.pybullet.backend import PybulletBackend

        return PybulletBackend(robot, objects)
    raise ValueError(f"unknown backend {name!r}; allowed backends: {', '.join(BACKENDS)}")
