"""Scripted primitives: close or open the gripper in place, and turn the hand back upright."""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from robolearn.primitives.base import S, Primitive
from robolearn.primitives.conditions import FINGERS_STOPPED, opening
from robolearn.primitives.dmp import hand_rotation

TURN_DONE = 0.05  # rad from the target orientation
SETTLE_GRACE = 4  # steps the fingers get to start moving before "stopped" means done


class GripperPrimitive(Primitive):
    """Hold the hand still and close (grasp) or open (release) the fingers until they stop."""
    kind = "gripper"

    def __init__(self, name: str, close: bool, pre: str = "always", post: str = "always", min_steps: int = 4,
                 timeout: int = 20):
        super().__init__(name, pre, post, timeout)
        self.close, self.min_steps = close, min_steps

    def reset(self, state: np.ndarray, robot: str = "panda", goal: np.ndarray | None = None, **params: Any) -> None:
        super().reset(state, robot, goal)
        self.hold_at, self.last_opening, self.moved = state[S["tcp_pos"]].copy(), opening(state), np.inf

    def act(self, state: np.ndarray) -> np.ndarray:
        self.moved, self.last_opening = abs(opening(state) - self.last_opening), opening(state)
        self.steps += 1
        return self.servo_action(state, self.hold_at, np.zeros(3), 1.0 if self.close else -1.0)

    def done(self, state: np.ndarray) -> bool:
        if self.steps < self.min_steps:
            return False
        # Closing ends when the fingers stop (on the object, or on nothing: the postcondition
        # tells); opening ends once the hand is open.
        settled = self.moved < FINGERS_STOPPED and self.steps >= self.min_steps + SETTLE_GRACE
        finished = settled if self.close else self.postcondition(state)
        return finished or self.steps >= self.timeout

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"close": self.close, "min_steps": self.min_steps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GripperPrimitive":
        return cls(d["name"], d["close"], d["pre"], d["post"], d["min_steps"], d["timeout"])


class ReturnPrimitive(Primitive):
    """Turn the hand back to the orientation the skill started with (`home` quaternion, w x y z),
    keeping its position and grip: after a tilt, for instance."""
    kind = "return"

    def __init__(self, name: str = "return", pre: str = "always", post: str = "rotated", timeout: int = 40):
        super().__init__(name, pre, post, timeout)

    def reset(self, state: np.ndarray, robot: str = "panda", goal: np.ndarray | None = None,
              home: np.ndarray | None = None, **params: Any) -> None:
        super().reset(state, robot, goal)
        w, x, y, z = home if home is not None else state[S["tcp_quat"]]
        self.home = Rotation.from_quat([x, y, z, w])
        self.hold_at = state[S["tcp_pos"]].copy()
        self.gripper = float(params.get("gripper", 1.0))  # as the skill left it

    def remaining(self, state: np.ndarray) -> np.ndarray:
        return (self.home * hand_rotation(state).inv()).as_rotvec()

    def act(self, state: np.ndarray) -> np.ndarray:
        self.steps += 1
        return self.servo_action(state, self.hold_at, self.remaining(state), self.gripper)

    def rotation_progress(self, state: np.ndarray) -> float:
        return 1.0 if np.linalg.norm(self.remaining(state)) < TURN_DONE else 0.0

    def done(self, state: np.ndarray) -> bool:
        return self.rotation_progress(state) >= 1.0 or self.steps >= self.timeout

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ReturnPrimitive":
        return cls(d["name"], d["pre"], d["post"], d["timeout"])
