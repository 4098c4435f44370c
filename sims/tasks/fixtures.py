"""Articulated fixtures (drawer, door, button): handle positions and the grasp phases shared by their tasks."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, DOWN, OPEN, gripper_opening, servo
from robolearn.sims.geometry import quat_to_mat

HOVER = 0.08
BAR_WIDTH = 0.016  # handle bars are 1.6 cm square


def handle_position(sim: Backend, name: str, local: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """World position of a point fixed in an articulated link, and the link's orientation."""
    pos, quat = sim.link_pose(name)
    return pos + quat_to_mat(quat) @ local, quat


def grasp_bar(state: np.ndarray, bar: np.ndarray, rot: np.ndarray = DOWN) -> np.ndarray | None:
    """Come down over a vertical bar and close on it. None once the bar is held."""
    tcp = state[S["tcp_pos"]]
    d_xy = np.linalg.norm(tcp[:2] - bar[:2])
    at_bar = d_xy < 0.012 and abs(tcp[2] - bar[2]) < 0.012
    if at_bar and gripper_opening(state) < BAR_WIDTH + 0.008:
        return None
    if at_bar:
        return servo(state, bar, CLOSE, rot)
    hover = bar + np.array([0.0, 0.0, HOVER])
    if d_xy < 0.01 or (tcp[2] < hover[2] - 0.01 and d_xy < 0.025):
        return servo(state, bar, OPEN, rot, max_speed=0.5)
    if tcp[2] < hover[2] - 0.03:
        return servo(state, np.array([tcp[0], tcp[1], hover[2]]), OPEN, rot)
    return servo(state, hover, OPEN, rot)
