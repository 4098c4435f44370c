"""Named predicates on the state vector: primitives' preconditions and postconditions.

Each takes the state and the primitive (for its goal and robot). Distances in metres.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import numpy as np

from robolearn.spec import STATE_SLICES

if TYPE_CHECKING:
    from robolearn.primitives.base import Primitive

S = STATE_SLICES
NEAR = 0.03  # hand within this of its goal
MIN_GRIP = 0.004  # finger opening above this when closed on an object (below: closed on nothing)
OPEN_FRACTION = 0.8  # of the full opening
FINGERS_STOPPED = 5e-4  # m of finger travel per step below which the fingers have stopped
TURNED = 0.95  # fraction of a rotation goal that counts as reached


def opening(state: np.ndarray) -> float:
    return float(state[S["gripper"]][0])


def is_open(state: np.ndarray, p: "Primitive") -> bool:
    return opening(state) > OPEN_FRACTION * 2 * p.spec.finger_max


def holding(state: np.ndarray, p: "Primitive") -> bool:
    """Fingers stopped part-way: something is between them (a cup is held by its handle, so
    the object's centre says nothing)."""
    return MIN_GRIP < opening(state) < OPEN_FRACTION * 2 * p.spec.finger_max


def at_goal(state: np.ndarray, p: "Primitive") -> bool:
    return p.goal is not None and np.linalg.norm(state[S["tcp_pos"]] - p.goal) < NEAR


def holding_at_goal(state: np.ndarray, p: "Primitive") -> bool:
    return holding(state, p) and at_goal(state, p)


def rotated(state: np.ndarray, p: "Primitive") -> bool:
    """The hand has turned (nearly) all the way to the primitive's rotation goal."""
    return getattr(p, "rotation_progress", lambda s: 1.0)(state) >= TURNED


def poured(state: np.ndarray, p: "Primitive") -> bool:
    """At most half the content is still in the held container (aux[1], as the pour task reports it)."""
    return float(state[S["aux"]][1]) <= 0.5


CONDITIONS: dict[str, Callable[[np.ndarray, "Primitive"], bool]] = {
    "always": lambda state, p: True,
    "open": is_open,
    "holding": holding,
    "at_goal": at_goal,
    "holding_at_goal": holding_at_goal,
    "rotated": rotated,
    "poured": poured,
}
