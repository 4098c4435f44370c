"""The safety layer between a policy and a real arm: always on, every intervention logged.

Per control step `SafetyLayer.filter` takes the policy's 7-d action and the arm's latest
state and returns the action to send plus the reasons it changed it:

- `nonfinite`: NaN or inf in the action -> hold;
- `estop`: the e-stop is engaged (topic or key) -> hold until `release()`;
- `stale_state`: the newest arm state is older than `state_timeout` -> hold (watchdog);
- `rate`: each action component moves at most `max_action_change` per step;
- `workspace`: the commanded hand target is clipped into the workspace box;
- `hand_speed`: the commanded hand translation is scaled to `max_hand_speed`.

Holding means commanding the arm to stay where it is: zero motion, gripper unchanged.
`filter_joints` bounds joint targets (limits with a margin, `max_joint_velocity`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robolearn.spec import ACTION_DIM


@dataclass
class SafetyLimits:
    workspace_low: tuple[float, float, float] = (0.15, -0.45, 0.01)
    workspace_high: tuple[float, float, float] = (0.85, 0.45, 0.6)
    max_hand_speed: float = 0.25  # m/s
    max_joint_velocity: float = 1.0  # rad/s
    max_action_change: float = 0.5  # per control step, in action units
    state_timeout: float = 0.25  # s without a fresh arm state before the watchdog holds
    joint_margin: float = 0.02  # rad kept from the joint limits


@dataclass
class SafetyDecision:
    action: np.ndarray
    interventions: list[str] = field(default_factory=list)

    @property
    def holding(self) -> bool:
        return any(i in ("nonfinite", "estop", "stale_state") for i in self.interventions)


class SafetyLayer:
    def __init__(self, limits: SafetyLimits, max_pos_step: float, dt: float, joint_low: np.ndarray,
                 joint_high: np.ndarray, log_path: str | Path | None = None):
        self.limits, self.max_pos_step, self.dt = limits, max_pos_step, dt
        self.joint_low = np.asarray(joint_low, dtype=np.float64) + limits.joint_margin
        self.joint_high = np.asarray(joint_high, dtype=np.float64) - limits.joint_margin
        self.previous = np.zeros(ACTION_DIM)
        self.previous[6] = -1.0  # the gripper starts open
        self.engaged = False
        self.log_file = open(log_path, "a") if log_path else None

    # ---------------------------------------------------------------- e-stop
    def estop(self) -> None:
        self.engaged = True

    def release(self) -> None:
        self.engaged = False

    # ---------------------------------------------------------------- filtering
    def hold(self) -> np.ndarray:
        action = np.zeros(ACTION_DIM)
        action[6] = self.previous[6]
        return action

    def filter(self, action: np.ndarray, tcp_pos: np.ndarray, state_stamp: float, now: float | None = None) -> SafetyDecision:
        now = time.monotonic() if now is None else now
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {action.shape}")
        reasons = []
        if not np.all(np.isfinite(action)):
            reasons.append("nonfinite")
        if self.engaged:
            reasons.append("estop")
        if now - state_stamp > self.limits.state_timeout:
            reasons.append("stale_state")
        if reasons:
            return self._done(SafetyDecision(self.hold(), reasons), now)
        out = np.clip(action, -1.0, 1.0)
        step = self.limits.max_action_change
        limited = np.clip(out, self.previous - step, self.previous + step)
        if not np.allclose(limited, out):
            reasons.append("rate")
            out = limited
        target = np.asarray(tcp_pos, dtype=np.float64) + out[:3] * self.max_pos_step
        inside = np.clip(target, self.limits.workspace_low, self.limits.workspace_high)
        if not np.allclose(inside, target):
            reasons.append("workspace")
            out[:3] = np.clip((inside - tcp_pos) / self.max_pos_step, -1.0, 1.0)  # a hand outside heads back
        # The speed cap comes last: a hand outside the box returns to it no faster than it
        # may move, and shortening a step toward a point of the (convex) box stays inside it.
        speed_cap = self.limits.max_hand_speed * self.dt / self.max_pos_step  # as a fraction of the full step
        norm = np.linalg.norm(out[:3])
        if norm > speed_cap:
            reasons.append("hand_speed")
            out[:3] *= speed_cap / norm
        return self._done(SafetyDecision(out, reasons), now)

    def filter_joints(self, q_target: np.ndarray, q_now: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Joint targets within the limits and the joint velocity bound."""
        reasons = []
        q = np.clip(q_target, self.joint_low, self.joint_high)
        if not np.allclose(q, q_target):
            reasons.append("joint_limits")
        step = self.limits.max_joint_velocity * self.dt
        bounded = np.clip(q, q_now - step, q_now + step)
        if not np.allclose(bounded, q):
            reasons.append("joint_velocity")
        if reasons:
            self._log({"t": time.monotonic(), "joints": bounded.tolist(), "interventions": reasons})
        return bounded, reasons

    def _done(self, decision: SafetyDecision, now: float) -> SafetyDecision:
        if not decision.holding:
            self.previous = decision.action.copy()
        self._log({"t": now, "action": decision.action.tolist(), "interventions": decision.interventions})
        return decision

    def _log(self, row: dict) -> None:
        if self.log_file is not None:
            self.log_file.write(json.dumps(row) + "\n")
            self.log_file.flush()

    def close(self) -> None:
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None
