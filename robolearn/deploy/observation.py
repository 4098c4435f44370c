"""The simulator's observation, rebuilt from a real arm's joint states and object poses.

A real arm reports joint positions and velocities (sensor_msgs/JointState); the hand
pose comes from the robot's kinematic model (the same generated URDF both simulators
load, evaluated by MuJoCo) and the hand velocity from the Jacobian times the joint
velocities, exactly as the simulators define them. Task slots (object, goal and
articulation) come from the object pose topic.
"""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_DIM, STATE_SLICES, canonical_tcp_quat
from robolearn.sims.backend import make_backend
from robolearn.sims.robots import robot_spec

TASK_SLOTS = ("obj0_pos", "obj0_quat", "obj1_pos", "obj1_quat", "goal_pos", "articulation", "aux")


class ArmModel:
    """Forward kinematics and the TCP Jacobian of one arm, with nothing else in the scene."""

    def __init__(self, robot: str):
        self.spec = robot_spec(robot)
        self.sim = make_backend("mujoco", self.spec, [])

    def set_joints(self, q: np.ndarray, finger: float) -> None:
        self.sim.reset_robot(np.asarray(q, dtype=np.float64), finger)

    def tcp_pose(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sim.tcp_pose()

    def tcp_jacobian(self) -> np.ndarray:
        return self.sim.tcp_jacobian()


class ObservationBuilder:
    def __init__(self, robot: str):
        self.model = ArmModel(robot)
        self.dof = self.model.spec.dof

    def build(self, q: np.ndarray, qd: np.ndarray, fingers: np.ndarray, task_slots: dict[str, np.ndarray]) -> np.ndarray:
        q, qd, fingers = (np.asarray(v, dtype=np.float64) for v in (q, qd, fingers))
        if q.shape != (self.dof,) or qd.shape != (self.dof,):
            raise ValueError(f"joint positions and velocities must have {self.dof} values, got {q.shape} and {qd.shape}")
        unknown = set(task_slots) - set(TASK_SLOTS)
        if unknown:
            raise ValueError(f"unknown task slots {sorted(unknown)}; allowed: {', '.join(TASK_SLOTS)}")
        self.model.set_joints(q, float(fingers.mean()))
        pos, quat = self.model.tcp_pose()
        state = np.zeros(STATE_DIM, np.float32)
        state[STATE_SLICES["tcp_pos"]] = pos
        state[STATE_SLICES["tcp_quat"]] = canonical_tcp_quat(quat)
        state[STATE_SLICES["tcp_vel"]] = self.model.tcp_jacobian()[:3] @ qd
        state[STATE_SLICES["gripper"]] = fingers.sum()
        start = STATE_SLICES["joint_pos"].start
        state[start:start + self.dof] = q
        for key, value in task_slots.items():
            state[STATE_SLICES[key]] = value
        if not np.all(np.isfinite(state)):
            raise ValueError(f"non-finite observation from the arm's state: {state.tolist()}")
        return state


def task_slot_names(task: str, robot: str) -> tuple[str, ...]:
    """The state slots `task` fills; the others stay zero on a real arm as in simulation."""
    from robolearn.sims.env import RobolearnEnv

    env = RobolearnEnv(task, robot, "mujoco")
    env.reset(seed=0)
    names = tuple(env.task.observe(env.sim))
    env.close()
    return names
