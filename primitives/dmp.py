"""Dynamic movement primitives in end-effector space (movement_primitives' DMP).

Six dimensions: the hand position and its rotation, as a world-frame rotation vector from
the orientation it had when the primitive started. Learning time-normalizes every demo
segment of a label to their mean length, fits DMP weights to each and averages them.
The goal is where the segments ended relative to an anchor, the one (hand start, an
object, the task goal, the world) in whose frame the demos' endpoints agree best, so a
new start or a moved object or goal bends the same movement toward the new target.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from movement_primitives.dmp import DMP
from scipy.spatial.transform import Rotation

from robolearn.primitives.base import S, Primitive
from robolearn.sims.backend import CONTROL_DT

N_WEIGHTS = 10
ANCHORS = ("start", "obj0", "obj1", "goal", "world")
SETTLE_STEPS = 20  # steps past the movement's duration allowed to reach the goal
EARLY_STOP = ("poured",)  # postconditions that end the movement as soon as they hold


def hand_rotation(state: np.ndarray) -> Rotation:
    w, x, y, z = state[S["tcp_quat"]]
    return Rotation.from_quat([x, y, z, w])


def anchor_position(state: np.ndarray, anchor: str) -> np.ndarray:
    if anchor == "world":
        return np.zeros(3)
    key = {"start": "tcp_pos", "obj0": "obj0_pos", "obj1": "obj1_pos", "goal": "goal_pos"}[anchor]
    return np.asarray(state[S[key]], dtype=np.float64)


def trajectory(states: np.ndarray) -> np.ndarray:
    """(T, 6): hand position and rotation vector from the first state's orientation."""
    start = hand_rotation(states[0])
    rot = np.stack([(hand_rotation(s) * start.inv()).as_rotvec() for s in states])
    return np.hstack([states[:, S["tcp_pos"]], rot])


def resample(y: np.ndarray, n: int) -> np.ndarray:
    old = np.linspace(0.0, 1.0, len(y))
    new = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(new, old, y[:, d]) for d in range(y.shape[1])], axis=1)


def choose_anchor(starts: list[np.ndarray], ends: np.ndarray) -> tuple[str, np.ndarray]:
    """The anchor whose frame makes the segments' end positions agree best, and the mean offset."""
    best = None
    for anchor in ANCHORS:
        points = np.stack([anchor_position(s, anchor) for s in starts])
        if anchor not in ("start", "world") and not np.any(points):
            continue  # a slot this task does not use
        offsets = ends - points
        spread = float(offsets.var(0).sum()) if len(ends) > 1 else (0.0 if anchor == "start" else np.inf)
        if best is None or spread < best[0]:
            best = (spread, anchor, offsets.mean(0))
    return best[1], best[2]


class DMPPrimitive(Primitive):
    kind = "dmp"

    def __init__(self, name: str, weights: np.ndarray, duration: float, anchor: str, offset: np.ndarray,
                 rotation: np.ndarray, gripper: float, pre: str = "always", post: str = "always", segments: int = 0):
        steps = int(round(duration / CONTROL_DT))
        super().__init__(name, pre, post, timeout=steps + SETTLE_STEPS)
        if anchor not in ANCHORS:
            raise ValueError(f"primitive {name}: anchor {anchor!r}; allowed: {', '.join(ANCHORS)}")
        self.weights, self.duration = np.asarray(weights, dtype=np.float64), float(duration)
        self.anchor, self.offset = anchor, np.asarray(offset, dtype=np.float64)
        self.rotation, self.gripper, self.segments = np.asarray(rotation, dtype=np.float64), float(gripper), segments
        self.move_steps = steps

    @classmethod
    def learn(cls, name: str, segments: list[tuple[np.ndarray, np.ndarray]], pre: str = "always",
              post: str = "always") -> "DMPPrimitive":
        """`segments`: (states (T+1, STATE_DIM) including the state after the last action, actions (T, 7))."""
        usable = [(s, a) for s, a in segments if len(a) >= 3]
        if not usable:
            raise ValueError(f"primitive {name}: no segment of 3 steps or more to learn from")
        n = int(round(np.mean([len(a) for _, a in usable]))) + 1
        t = np.arange(n) * CONTROL_DT
        weights, rotations = [], []
        for states, _ in usable:
            y = resample(trajectory(states), n)
            dmp = DMP(n_dims=6, execution_time=t[-1], dt=CONTROL_DT, n_weights_per_dim=N_WEIGHTS)
            dmp.imitate(t, y)
            weights.append(dmp.get_weights())
            rotations.append(y[-1, 3:])
        # Turning goals take the furthest turn any demo made: a tilt stops on its postcondition
        # (the cup has poured), so it may need as far as the demos ever went.
        turns = np.stack(rotations)
        rotation = turns[np.argmax(np.linalg.norm(turns, axis=1))]
        anchor, offset = choose_anchor([s[0] for s, _ in usable], np.stack([s[-1, S["tcp_pos"]] for s, _ in usable]))
        gripper = 1.0 if np.mean(np.concatenate([a[:, 6] for _, a in usable])) > 0 else -1.0
        return cls(name, np.mean(weights, axis=0), t[-1], anchor, offset, rotation, gripper, pre, post, len(usable))

    # ---------------------------------------------------------------- running
    def reset(self, state: np.ndarray, robot: str = "panda", goal: np.ndarray | None = None, **params: Any) -> None:
        super().reset(state, robot, goal)
        if self.goal is None:
            self.goal = anchor_position(state, self.anchor) + self.offset
        self.start_rotation = hand_rotation(state)
        self.dmp = DMP(n_dims=6, execution_time=self.duration, dt=CONTROL_DT, n_weights_per_dim=N_WEIGHTS)
        self.dmp.set_weights(self.weights)
        start = np.concatenate([state[S["tcp_pos"]], np.zeros(3)])
        self.dmp.configure(start_y=start, goal_y=np.concatenate([self.goal, self.rotation]))
        self.y, self.yd = start, np.zeros(6)

    def act(self, state: np.ndarray) -> np.ndarray:
        if self.steps < self.move_steps:  # past its duration the DMP holds its goal
            self.y, self.yd = self.dmp.step(self.y, self.yd)
        self.steps += 1
        desired = Rotation.from_rotvec(self.y[3:]) * self.start_rotation
        turn = (desired * hand_rotation(state).inv()).as_rotvec()
        return self.servo_action(state, self.y[:3], turn, self.gripper)

    def done(self, state: np.ndarray) -> bool:
        if self.steps < self.move_steps and self.post not in EARLY_STOP:
            return False
        return self.postcondition(state) or self.steps >= self.timeout

    def rotation_progress(self, state: np.ndarray) -> float:
        """How far the hand has turned toward the rotation goal (1 = all the way)."""
        norm = float(np.linalg.norm(self.rotation))
        if norm < 1e-6:
            return 1.0
        turned = (hand_rotation(state) * self.start_rotation.inv()).as_rotvec()
        return float(turned @ self.rotation) / norm**2

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"weights": self.weights.tolist(), "duration": self.duration, "anchor": self.anchor,
                                    "offset": self.offset.tolist(), "rotation": self.rotation.tolist(),
                                    "gripper": self.gripper, "segments": self.segments}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DMPPrimitive":
        return cls(d["name"], np.asarray(d["weights"]), d["duration"], d["anchor"], np.asarray(d["offset"]),
                   np.asarray(d["rotation"]), d["gripper"], d["pre"], d["post"], d.get("segments", 0))
