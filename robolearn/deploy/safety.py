"""The safety layer between a policy and a real arm: always on, every decision logged.

Per control step `SafetyLayer.filter` takes the policy's 7-d action, the arm's reading
and the current input faults and returns the action to send plus the reasons it changed
it. Hold reasons (the arm is commanded to stay where it is: zero motion, gripper unchanged):

- `nonfinite`: NaN or inf in the policy's action;
- `estop`: the latched e-stop is engaged (robolearn.deploy.estop);
- `stale_state`: a required input has had no valid message for longer than its timeout;
- `invalid_input`: a required input's last message was invalid (NaN, wrong size or names);
- `nonfinite_command`: the final check found a non-finite value in the outgoing command;
- `stop`: the deploy loop holds the arm between episodes and on its way out of an error.

Limits, in order:

- `rate`: each action component moves at most `max_action_change` per step, ramping from
  zero motion after a hold;
- `workspace`: the commanded hand target is clipped into the workspace box;
- `hand_speed` / `angular_speed`: hand translation and rotation scaled to their caps;
- `joint_velocity` / `joint_limits`: in twist mode the joint motion is predicted through
  the Jacobian and the twist scaled so that no joint exceeds `max_joint_velocity` or
  leaves its limits (less `joint_margin`); in joint mode `filter_joints` bounds the targets.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from typing import Callable

import numpy as np

from robolearn.deploy.estop import EStop
from robolearn.deploy.inputs import STALE
from robolearn.spec import ACTION_DIM

HOLD_REASONS = ("nonfinite", "estop", "stale_state", "invalid_input", "nonfinite_command", "stop")
PINV_RCOND = 1e-3  # singular values below this fraction of the largest are dropped in the joint prediction


@dataclass
class SafetyLimits:
    workspace_low: tuple[float, float, float] = (0.15, -0.45, 0.01)
    workspace_high: tuple[float, float, float] = (0.85, 0.45, 0.6)
    max_hand_speed: float = 0.25  # m/s
    max_hand_angular_speed: float = 1.0  # rad/s
    max_joint_velocity: float = 1.0  # rad/s
    max_action_change: float = 0.5  # per control step, in action units (-1..1)
    state_timeout: float = 0.25  # s without a valid joint state before the watchdog holds
    input_timeout: float = 0.5  # s without valid object poses / task scalars before the watchdog holds
    heartbeat_timeout: float = 0.5  # s of e-stop heartbeat silence that engages the e-stop (when one is configured)
    joint_margin: float = 0.02  # rad kept from the joint limits

    def validate(self) -> None:
        """Raises ValueError naming the first bad field and what is allowed."""
        for name in ("workspace_low", "workspace_high"):
            value = np.asarray(getattr(self, name), dtype=np.float64)
            if value.shape != (3,) or not np.all(np.isfinite(value)):
                raise ValueError(f"safety.{name}={list(getattr(self, name))}: three finite numbers (x, y, z in m)")
        if not np.all(np.asarray(self.workspace_low) < np.asarray(self.workspace_high)):
            raise ValueError(f"safety.workspace_low={list(self.workspace_low)} must be below "
                             f"safety.workspace_high={list(self.workspace_high)} on every axis")
        positive = [f.name for f in fields(self) if f.name not in ("workspace_low", "workspace_high", "joint_margin")]
        for name in positive:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise ValueError(f"safety.{name}={value!r}: must be a finite number > 0")
        if self.max_action_change > 2.0:
            raise ValueError(f"safety.max_action_change={self.max_action_change!r}: at most 2 (the action range)")
        if not (np.isfinite(self.joint_margin) and 0 <= self.joint_margin < 0.5):
            raise ValueError(f"safety.joint_margin={self.joint_margin!r}: must be in [0, 0.5) rad")


@dataclass(frozen=True)
class ArmReading:
    """What the layer needs of the arm at one tick."""
    tcp_pos: np.ndarray
    q: np.ndarray | None = None
    jacobian: np.ndarray | None = None  # 6 x dof at q; given in twist mode to predict the joint motion


@dataclass
class SafetyDecision:
    action: np.ndarray
    interventions: list[str] = field(default_factory=list)
    faults: dict[str, str] = field(default_factory=dict)  # input -> fault, when holding for one

    @property
    def holding(self) -> bool:
        return any(i in HOLD_REASONS for i in self.interventions)


class SafetyLayer:
    def __init__(self, limits: SafetyLimits, max_pos_step: float, max_rot_step: float, dt: float,
                 joint_low: np.ndarray, joint_high: np.ndarray, log: Callable[[dict], None] | None = None,
                 heartbeat: bool = False):
        """`log` receives every decision and event as a dict (the deploy loop writes them to
        safety.jsonl); the layer itself does no I/O."""
        limits.validate()
        self.limits, self.max_pos_step, self.max_rot_step, self.dt = limits, max_pos_step, max_rot_step, dt
        self.joint_low = np.asarray(joint_low, dtype=np.float64) + limits.joint_margin
        self.joint_high = np.asarray(joint_high, dtype=np.float64) - limits.joint_margin
        self.reset()
        self.sink = log
        self.estop = EStop(limits.heartbeat_timeout if heartbeat else None, self.log)

    def reset(self) -> None:
        """Standstill with the gripper open: the state before the first command."""
        self.previous = np.zeros(ACTION_DIM)
        self.previous[6] = -1.0

    # ---------------------------------------------------------------- filtering
    def hold(self) -> np.ndarray:
        action = np.zeros(ACTION_DIM)
        action[6] = self.previous[6]
        return action

    def filter(self, action: np.ndarray, arm: ArmReading, faults: dict[str, str] | None = None,
               now: float | None = None) -> SafetyDecision:
        now = time.monotonic() if now is None else now
        faults = faults or {}
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {action.shape}")
        reasons = []
        if not np.all(np.isfinite(action)):
            reasons.append("nonfinite")
        if self.estop.engaged(now):
            reasons.append("estop")
        if any(f.startswith(STALE) for f in faults.values()):
            reasons.append("stale_state")
        if any(not f.startswith(STALE) for f in faults.values()):
            reasons.append("invalid_input")
        if reasons:
            return self._done(SafetyDecision(self.hold(), reasons, faults), now)
        out = np.clip(action, -1.0, 1.0)
        step = self.limits.max_action_change
        limited = np.clip(out, self.previous - step, self.previous + step)
        if np.any(limited != out):  # clip returns the value itself where no limit binds
            reasons.append("rate")
            out = limited
        tcp_pos = np.asarray(arm.tcp_pos, dtype=np.float64)
        target = tcp_pos + out[:3] * self.max_pos_step
        inside = np.clip(target, self.limits.workspace_low, self.limits.workspace_high)
        if np.any(inside != target):
            reasons.append("workspace")
            out[:3] = np.clip((inside - tcp_pos) / self.max_pos_step, -1.0, 1.0)  # a hand outside heads back
        # The speed caps come after the box: a hand outside returns to it no faster than it
        # may move, and shortening a step toward a point of the (convex) box stays inside it.
        for part, cap, reason in ((slice(0, 3), self.limits.max_hand_speed * self.dt / self.max_pos_step, "hand_speed"),
                                  (slice(3, 6), self.limits.max_hand_angular_speed * self.dt / self.max_rot_step,
                                   "angular_speed")):
            norm = np.linalg.norm(out[part])
            if norm > cap:
                reasons.append(reason)
                out[part] *= cap / norm
        if arm.jacobian is not None and arm.q is not None:
            scale, joint_reasons = self._joint_motion_scale(out, np.asarray(arm.q, dtype=np.float64), arm.jacobian)
            out[:6] *= scale
            reasons.extend(joint_reasons)
        if not np.all(np.isfinite(out)):  # the final check: nothing non-finite leaves the layer
            return self._done(SafetyDecision(self.hold(), ["nonfinite_command"]), now)
        return self._done(SafetyDecision(out, reasons), now)

    def _joint_motion_scale(self, action: np.ndarray, q: np.ndarray, jacobian: np.ndarray) -> tuple[float, list[str]]:
        """The largest fraction of this twist whose predicted joint step (least squares through
        the Jacobian, as a servo controller moves) keeps every joint within its velocity and limits."""
        if not (np.all(np.isfinite(jacobian)) and np.all(np.isfinite(q))):
            return float("nan"), []  # nothing can be predicted: the final check holds the arm
        motion = np.concatenate([action[:3] * self.max_pos_step, action[3:6] * self.max_rot_step])
        dq = np.linalg.pinv(jacobian, rcond=PINV_RCOND) @ motion
        reasons, scale = [], 1.0
        biggest = np.max(np.abs(dq))
        step = self.limits.max_joint_velocity * self.dt
        if biggest > step:
            reasons.append("joint_velocity")
            scale = step / biggest
        room = np.where(dq > 0, self.joint_high - q, self.joint_low - q)  # signed room in the direction of motion
        moving = np.abs(dq) > 1e-12
        fractions = np.where(moving, np.clip(room / np.where(moving, dq, 1.0), 0.0, None), np.inf)
        if np.min(fractions) < scale:
            reasons.append("joint_limits")
            scale = float(np.min(fractions))
        return scale, reasons

    def filter_joints(self, q_target: np.ndarray, q_now: np.ndarray, now: float) -> tuple[np.ndarray, list[str]]:
        """Joint targets within the limits and the joint velocity bound."""
        reasons = []
        q = np.clip(q_target, self.joint_low, self.joint_high)
        if np.any(q != q_target):
            reasons.append("joint_limits")
        step = self.limits.max_joint_velocity * self.dt
        bounded = np.clip(q, q_now - step, q_now + step)
        if np.any(bounded != q):
            reasons.append("joint_velocity")
        if reasons:
            self.log({"t": now, "joints": bounded.tolist(), "interventions": reasons})
        return bounded, reasons

    def _done(self, decision: SafetyDecision, now: float) -> SafetyDecision:
        # After a hold the rate limit ramps from standstill, not from the motion before it.
        self.previous = decision.action.copy()
        if self.sink is not None:  # in training (sim_limits) nothing reads the rows
            row = {"t": now, "action": decision.action.tolist(), "interventions": decision.interventions}
            if decision.faults:
                row["faults"] = decision.faults
            self.sink(row)
        return decision

    def log(self, row: dict) -> None:
        if self.sink is not None:
            self.sink(row)
