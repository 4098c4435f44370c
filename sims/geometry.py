"""Small rotation helpers shared by both backends and the controller.

Quaternions are (w, x, y, z), as in MuJoCo; PyBullet's (x, y, z, w) is converted at
the backend boundary. These run several times on every control step, where scipy's
Rotation objects, and even numpy calls on 3-vectors, cost more than the maths: the
axis-angle conversions work on Python floats.
"""
from __future__ import annotations

import math

import numpy as np


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def mat_to_quat(m: np.ndarray) -> np.ndarray:
    """Rotation matrix to a unit quaternion with w >= 0 (Shepperd's method)."""
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = np.array([0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s])
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = np.array([(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s])
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * np.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = np.array([(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s])
    else:
        s = 2.0 * np.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = np.array([(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s])
    return canonical(q / np.linalg.norm(q))


def canonical(q: np.ndarray) -> np.ndarray:
    """q and -q are the same rotation; pick w >= 0 so observations are continuous."""
    return -q if q[0] < 0 else q


def axis_angle_to_mat(v: np.ndarray) -> np.ndarray:
    """Rodrigues' formula for a rotation vector (axis * angle)."""
    x, y, z = float(v[0]), float(v[1]), float(v[2])
    angle = math.sqrt(x * x + y * y + z * z)
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = x / angle, y / angle, z / angle
    s, c = math.sin(angle), math.cos(angle)
    t = 1.0 - c
    return np.array([[t * x * x + c, t * x * y - s * z, t * x * z + s * y],
                     [t * x * y + s * z, t * y * y + c, t * y * z - s * x],
                     [t * x * z - s * y, t * y * z + s * x, t * z * z + c]])


def mat_to_axis_angle(m: np.ndarray) -> np.ndarray:
    """Inverse of axis_angle_to_mat, robust near 0 and pi."""
    cos = min(1.0, max(-1.0, (float(m[0, 0]) + float(m[1, 1]) + float(m[2, 2]) - 1.0) / 2.0))
    angle = math.acos(cos)
    v = np.array([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]], dtype=np.float64)
    if angle < 1e-9:
        return v / 2.0
    if math.pi - angle < 1e-4:
        # sin(angle) ~ 0: recover the axis from the symmetric part.
        axis = np.sqrt(np.clip((np.diag(m) + 1.0) / 2.0, 0.0, None))
        i = int(np.argmax(axis))
        signs = np.sign(m[i] + m[:, i])
        signs[i] = 1.0
        return axis * signs * angle
    return v * (angle / (2.0 * math.sin(angle)))


def yaw_quat(yaw: float) -> np.ndarray:
    return np.array([np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)])


def xyzw(q_wxyz: np.ndarray) -> list[float]:
    return [float(q_wxyz[1]), float(q_wxyz[2]), float(q_wxyz[3]), float(q_wxyz[0])]


def wxyz(q_xyzw) -> np.ndarray:
    return np.array([q_xyzw[3], q_xyzw[0], q_xyzw[1], q_xyzw[2]], dtype=np.float64)
