"""What the arm side publishes, validated on arrival and watched for silence.

Every incoming message goes through `InputMonitor.receive`: its reader parses and
validates it (finite values, sizes, names; robolearn.deploy.messages), and only a valid
message updates the arm state. An invalid message marks its input faulty until valid
ones arrive with no invalid one for RECOVERY_S; a required input with no valid message for longer than its timeout is
stale. The deploy loop asks `faults(now)` every tick and holds the arm while any is
present; each fault's start and end goes to `safety.jsonl`, naming the input.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from robolearn.deploy.messages import Message

STALE = "stale"  # the fault text of a silent input starts with this
RECOVERY_S = 0.25  # s without an invalid message before a faulty input counts as recovered (a glitching
                   # driver that interleaves good and bad messages keeps the arm held)


@dataclass
class ArmState:
    """The newest valid value of everything the arm side publishes; written by transport threads."""
    q: np.ndarray | None = None
    qd: np.ndarray | None = None
    fingers: np.ndarray | None = None
    stamp: float = -np.inf  # monotonic receipt time of the joint state
    slots: dict[str, np.ndarray] = field(default_factory=dict)
    success: bool = False
    reward: float | None = None  # from `topics.reward` when the cell publishes one
    reset_done: int | None = None
    joint_names_seen: list[str] = field(default_factory=list)  # of the last joint state, for error messages
    images: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> the policy's (size, size, 3) frame
    image_stamps: dict[str, float] = field(default_factory=dict)  # camera -> monotonic receipt time of its frame

    def snapshot(self) -> "ArmState":
        return ArmState(None if self.q is None else self.q.copy(), None if self.qd is None else self.qd.copy(),
                        None if self.fingers is None else self.fingers.copy(), self.stamp,
                        {k: v.copy() for k, v in self.slots.items()}, self.success, self.reward, self.reset_done,
                        list(self.joint_names_seen), dict(self.images),  # frames are replaced, never written into
                        dict(self.image_stamps))


@dataclass
class InputStatus:
    topic: str
    timeout: float | None  # None: optional, never stale
    last_valid: float | None = None
    fault: str | None = None  # the last invalid message's problem, until the input recovers
    fault_at: float = -np.inf


class InputMonitor:
    def __init__(self, log: Callable[[dict], None]):
        self.log = log
        self.inputs: dict[str, InputStatus] = {}
        self.state = ArmState()
        self.lock = threading.Lock()
        self._reported: dict[str, str] = {}  # faults already logged, so a fault is logged when it starts and ends

    def watch(self, name: str, topic: str, timeout: float | None) -> None:
        self.inputs[name] = InputStatus(topic, timeout)

    def receive(self, name: str, msg: Message, apply: Callable[[Message, ArmState], bool | None]) -> None:
        """Validate and apply one message under the lock. `apply` raises on an invalid message
        (and must then leave the state untouched); it returns False for a message that is
        valid but not this input's (a gripper-only joint state), which does not feed the watchdog."""
        now = time.monotonic()
        status = self.inputs[name]
        with self.lock:
            try:
                fed = apply(msg, self.state)
            except (ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
                status.fault, status.fault_at = f"invalid: {' '.join(str(err).split())}"[:300], now
                return
            if fed is not False:
                status.last_valid = now
                if now - status.fault_at >= RECOVERY_S:
                    status.fault = None

    def faults(self, now: float) -> dict[str, str]:
        """Every input's current fault (invalid, or stale past its timeout); logs changes."""
        found = {}
        with self.lock:
            for name, status in self.inputs.items():
                if status.fault:
                    found[name] = status.fault
                elif status.timeout is not None and status.last_valid is not None \
                        and now - status.last_valid > status.timeout:
                    found[name] = f"{STALE}: no valid message for {now - status.last_valid:.2f} s (timeout {status.timeout:g} s)"
        for name, fault in found.items():
            if self._reported.get(name, "").split(":")[0] != fault.split(":")[0]:
                self.log({"t": now, "input": name, "topic": self.inputs[name].topic, "fault": fault})
        for name in set(self._reported) - set(found):
            self.log({"t": now, "input": name, "topic": self.inputs[name].topic, "recovered": True})
        self._reported = found
        return found

    def snapshot(self) -> ArmState:
        with self.lock:
            return self.state.snapshot()
