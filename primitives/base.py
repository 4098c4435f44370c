"""What a primitive is: a short closed-loop skill on the observation's state vector.

    primitive.reset(state, robot="panda", goal=None)   # start from the current state
    action = primitive.act(state)                      # the shared 7-d action
    primitive.done(state)                              # finished (or timed out)
    primitive.precondition(state), primitive.postcondition(state)

Conditions are named predicates (primitives.conditions) evaluated on the state; a
primitive's postcondition is what the skill runner checks before moving on.
"""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from robolearn.primitives.conditions import CONDITIONS
from robolearn.spec import STATE_SLICES
from robolearn.sims.robots import robot_spec

S = STATE_SLICES


class Primitive:
    kind: ClassVar[str]

    def __init__(self, name: str, pre: str = "always", post: str = "always", timeout: int = 60):
        for cond in (pre, post):
            if cond not in CONDITIONS:
                raise ValueError(f"primitive {name}: unknown condition {cond!r}; allowed: {', '.join(CONDITIONS)}")
        self.name, self.pre, self.post, self.timeout = name, pre, post, timeout
        self.steps, self.goal = 0, None
        self.spec = robot_spec("panda")

    def reset(self, state: np.ndarray, robot: str = "panda", goal: np.ndarray | None = None, **params: Any) -> None:
        """Start from `state`; `goal` overrides the learned target position."""
        self.spec, self.steps = robot_spec(robot), 0
        self.goal = None if goal is None else np.asarray(goal, dtype=np.float64)

    def act(self, state: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def done(self, state: np.ndarray) -> bool:
        return self.steps >= self.timeout

    def precondition(self, state: np.ndarray) -> bool:
        return CONDITIONS[self.pre](state, self)

    def postcondition(self, state: np.ndarray) -> bool:
        return CONDITIONS[self.post](state, self)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "pre": self.pre, "post": self.post, "timeout": self.timeout}

    def servo_action(self, state: np.ndarray, pos: np.ndarray, rot: np.ndarray, gripper: float) -> np.ndarray:
        """The action that moves the hand to `pos` and turns it by the world-frame rotation
        vector `rot` within one step, clipped to [-1, 1]."""
        action = np.zeros(7)
        action[:3] = (pos - state[S["tcp_pos"]]) / self.spec.max_pos_step
        action[3:6] = rot / self.spec.max_rot_step
        action[6] = gripper
        return np.clip(action, -1.0, 1.0)
