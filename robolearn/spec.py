"""Conventions every part of robolearn shares (docs/design.md).

Action: 7 float32 in [-1, 1] for every robot, task, simulator and real arm
(Open X-Embodiment): end-effector delta position (3, world frame), delta rotation as
an axis-angle vector (3, world frame), gripper (1; -1 open, +1 closed). Each robot
scales the first six by its maximum step per control tick.

Observation `state`: float32 of length STATE_DIM, laid out as STATE_LAYOUT. Slots a
task does not use are zero. Quaternions are (w, x, y, z); objects' with w >= 0, the
hand's in the hemisphere of its palm-down pose (canonical_tcp_quat).
"""
from __future__ import annotations

import numpy as np

ACTION_DIM = 7
ACTION_LOW, ACTION_HIGH = -1.0, 1.0
GRIPPER_OPEN, GRIPPER_CLOSED = -1.0, 1.0
CONTROL_HZ = 20

STATE_LAYOUT: tuple[tuple[str, int, str], ...] = (
    ("tcp_pos", 3, "tool centre point position, m, world frame (robot base at origin, table top z=0)"),
    ("tcp_quat", 4, "tool centre point orientation; z out of the palm, fingers open along y"),
    ("tcp_vel", 3, "tool centre point linear velocity, m/s"),
    ("gripper", 1, "finger opening (distance between the fingers), m"),
    ("joint_pos", 7, "arm joint positions, rad; zero-padded for 6-joint arms"),
    ("obj0_pos", 3, "main object (or handle) position"),
    ("obj0_quat", 4, "main object (or handle) orientation"),
    ("obj1_pos", 3, "second object (target object, container) position"),
    ("obj1_quat", 4, "second object orientation"),
    ("goal_pos", 3, "goal position"),
    ("articulation", 1, "articulated joint position (drawer m, door rad, button m)"),
    ("aux", 2, "task-specific extras (documented per task)"),
)


def _slices() -> dict[str, slice]:
    out, start = {}, 0
    for name, size, _ in STATE_LAYOUT:
        out[name] = slice(start, start + size)
        start += size
    return out


STATE_SLICES: dict[str, slice] = _slices()
STATE_DIM: int = sum(size for _, size, _ in STATE_LAYOUT)

# The hand works palm down: a half turn about x, (w, x, y, z) = (0, 1, 0, 0). There w is
# near zero, so the w >= 0 rule would flip the observed quaternion between (0, 1, ...) and
# (0, -1, ...) at every small tilt; the sign is taken relative to this pose instead, which
# keeps tcp_quat continuous everywhere within 90 degrees of it.
TCP_QUAT_REFERENCE = np.array([0.0, 1.0, 0.0, 0.0])


def canonical_tcp_quat(quat: np.ndarray) -> np.ndarray:
    """The sign of `quat` (..., 4) in the hemisphere of TCP_QUAT_REFERENCE (same rotation)."""
    return quat * np.where(quat @ TCP_QUAT_REFERENCE < 0, -1.0, 1.0)[..., None]
