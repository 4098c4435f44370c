"""Grasping a box from above: the scripted phases that lift, pick_place and stack share."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.experts import CLOSE, OPEN, down_yawed, gripper_opening, grasp_yaw, servo

HOVER = 0.08  # m above the grasp point before descending


def holding(state: np.ndarray, obj: np.ndarray, width: float) -> bool:
    """Fingers closed on an object of `width` that sits between them."""
    near = np.linalg.norm(state[S["tcp_pos"]] - obj) < 0.02
    opening = gripper_opening(state)
    return bool(near and width - 0.015 < opening < width + 0.008)


def grasp(state: np.ndarray, obj: np.ndarray, quat: np.ndarray, width: float) -> np.ndarray:
    """Approach from above, descend with the gripper open, close; yaw lined up with the box."""
    rot = down_yawed(grasp_yaw(quat))
    tcp = state[S["tcp_pos"]]
    d_xy = np.linalg.norm(tcp[:2] - obj[:2])
    hover = obj + np.array([0.0, 0.0, HOVER])
    if d_xy < 0.015 and tcp[2] - obj[2] < 0.012:
        return servo(state, obj, CLOSE, rot)
    descending = tcp[2] < hover[2] - 0.01
    open_wide = gripper_opening(state) > width + 0.02
    if open_wide and (d_xy < 0.01 or (descending and d_xy < 0.025)):
        return servo(state, obj, OPEN, rot, max_speed=0.5)
    if descending and d_xy > 0.025:
        # Low and off target: rise first so the fingers do not sweep the object away.
        return servo(state, np.array([tcp[0], tcp[1], hover[2]]), OPEN, rot)
    return servo(state, hover, OPEN, rot)


def carry(state: np.ndarray, obj: np.ndarray, quat: np.ndarray, target: np.ndarray, max_speed: float = 0.8) -> np.ndarray:
    """Move a held object so that it reaches `target`, keeping the grasp closed."""
    rot = down_yawed(grasp_yaw(quat))
    offset = state[S["tcp_pos"]] - obj
    return servo(state, target + offset, CLOSE, rot, max_speed=max_speed)
