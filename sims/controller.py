"""Differential IK: the 7-d end-effector action becomes joint position targets.

Each control step the action is a Cartesian step (position and orientation) from
the measured hand pose, clipped to the workspace. The joint step toward it is
damped least squares on the TCP Jacobian, plus a null-space pull toward the home
posture on redundant arms, limited in speed and clipped to the joint limits. The backend's joint servos then track the targets.
"""
from __future__ import annotations

import numpy as np

from robolearn.spec import ACTION_DIM
from sims.backend import Backend

# Hand workspace, m: above the table, within reach of all three arms.
WORKSPACE_LOW = np.array([0.15, -0.45, 0.005])
WORKSPACE_HIGH = np.array([0.85, 0.45, 0.6])
DLS_DAMPING = 0.02
NULLSPACE_GAIN = 0.1
JOINT_SPEED = 2.0  # rad/s per joint
LIMIT_MARGIN = 0.01  # rad kept from the joint limits


class EndEffectorController:
    def __init__(self, sim: Backend, max_pos_step: float, max_rot_step: float, dt: float):
        self.sim = sim
        self.max_pos_step = max_pos_step
        self.max_rot_step = max_rot_step
        self.max_joint_step = JOINT_SPEED * dt
        lo, hi = sim.arm_limits()
        self.q_low, self.q_high = lo + LIMIT_MARGIN, hi - LIMIT_MARGIN
        self.q_home = np.asarray(sim.robot.home_q, dtype=np.float64)
        self.finger_max = sim.robot.finger_max

    def apply(self, action: np.ndarray) -> None:
        """`action` must already be finite and within [-1, 1] (the env checks)."""
        self.sim.set_targets(*self.joint_targets(action))

    def joint_targets(self, action: np.ndarray) -> tuple[np.ndarray, float]:
        """Arm joint targets and the finger target for `action` from the current state."""
        assert action.shape == (ACTION_DIM,)
        pos, _ = self.sim.tcp_pose()
        # Deltas apply to the measured pose, so a zero action holds the hand where it
        # is and a hand blocked by contact never winds up a far-away target. The
        # rotation part is already a world-frame axis-angle step.
        target_pos = np.clip(pos + action[:3] * self.max_pos_step, WORKSPACE_LOW, WORKSPACE_HIGH)
        err = np.concatenate([target_pos - pos, action[3:6] * self.max_rot_step])
        q = self.sim.arm_positions()
        jac = self.sim.tcp_jacobian()
        # One SVD gives the damped inverse for the task and an exact null-space
        # projector, so the posture pull cannot leak into the hand's motion.
        u, sv, vt = np.linalg.svd(jac, full_matrices=False)
        dq = vt.T @ ((sv / (sv**2 + DLS_DAMPING**2)) * (u.T @ err))
        if jac.shape[1] > 6:
            posture = NULLSPACE_GAIN * (self.q_home - q)
            dq += posture - vt.T @ (vt @ posture)
        scale = np.max(np.abs(dq)) / self.max_joint_step
        if scale > 1.0:
            dq /= scale
        q_target = np.clip(q + dq, self.q_low, self.q_high)
        return q_target, self.finger_max * (1.0 - float(action[6])) / 2.0
