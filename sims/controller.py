"""Differential IK: the 7-d end-effector action becomes joint position targets.

Each control step the action is a Cartesian step (position and orientation) from a
reference pose, clipped to the workspace. The joint step toward it is damped least
squares on the TCP Jacobian, plus a null-space pull toward the home posture on
redundant arms, limited in speed and clipped to the joint limits. The backend's joint
servos then track the targets.

The reference is the pose commanded last, kept within REFERENCE_LEAD of the commanded
step of the measured pose. Servos realize unequal fractions of a step on different
joints within one control period; stepping from the measured pose alone would drop the
unrealized part every step and bend the motion (a pure rotation moved the KUKA's TCP by
76 mm in 20 steps in MuJoCo; 7 mm now). Bounding the lead by the commanded speed keeps a
hand held still, or blocked by contact, from winding up a far-away target.
"""
from __future__ import annotations

import math

import numpy as np

from robolearn.spec import ACTION_DIM
from robolearn.sims.backend import Backend
from robolearn.sims.geometry import axis_angle_to_mat, mat_to_axis_angle, quat_to_mat

# Hand workspace, m: above the table, within reach of all three arms.
WORKSPACE_LOW = np.array([0.15, -0.45, 0.005])
WORKSPACE_HIGH = np.array([0.85, 0.45, 0.6])
DLS_DAMPING = 0.02
NULLSPACE_GAIN = 0.1
JOINT_SPEED = 2.0  # rad/s per joint
LIMIT_MARGIN = 0.01  # rad kept from the joint limits
REFERENCE_LEAD = 0.5  # how far the reference may lead the measured pose, in commanded steps


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
        self._reference: tuple[np.ndarray, np.ndarray] | None = None

    def reset(self) -> None:
        """Forget the reference: the next step starts from the measured pose (episode starts,
        and whenever the arm was moved by anything but this controller)."""
        self._reference = None

    def apply(self, action: np.ndarray) -> None:
        """`action` must already be finite and within [-1, 1] (the env checks)."""
        self.sim.set_targets(*self.joint_targets(action))

    def _lead(self, action: np.ndarray, pos: np.ndarray, rot: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """How far the reference is ahead of the measured pose (offset, rotation), at most
        REFERENCE_LEAD of this action's step."""
        if self._reference is None:
            return np.zeros(3), np.eye(3)
        ref_pos, ref_rot = self._reference
        speed = min(1.0, max(math.hypot(*action[:3]), math.hypot(*action[3:6])))
        lead = REFERENCE_LEAD * speed
        return (clip_norm(ref_pos - pos, lead * self.max_pos_step),
                axis_angle_to_mat(clip_norm(mat_to_axis_angle(ref_rot @ rot.T), lead * self.max_rot_step)))

    def joint_targets(self, action: np.ndarray) -> tuple[np.ndarray, float]:
        """Arm joint targets and the finger target for `action` from the current state."""
        assert action.shape == (ACTION_DIM,)
        pos, quat = self.sim.tcp_pose()
        rot = quat_to_mat(quat)
        lead_pos, lead_rot = self._lead(action, pos, rot)
        # The rotation part is a world-frame axis-angle step.
        target_pos = np.clip(pos + lead_pos + action[:3] * self.max_pos_step, WORKSPACE_LOW, WORKSPACE_HIGH)
        turn = axis_angle_to_mat(action[3:6] * self.max_rot_step) @ lead_rot  # measured -> target orientation
        self._reference = (target_pos, turn @ rot)
        err = np.concatenate([target_pos - pos, mat_to_axis_angle(turn)])
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


def clip_norm(v: np.ndarray, limit: float) -> np.ndarray:
    """`v` scaled down to length `limit` if longer."""
    n = math.hypot(*v)
    return v * (limit / n) if n > limit else v
