"""Closed-loop learned primitives: behaviour cloning on the segments of one label.

A small MLP maps what the primitive sees (the hand's offset to its goal, the hand's turn
since the primitive started, the finger opening) to the action, so it corrects as it
goes where a DMP replays a shape. The goal comes from the same anchor rule as the DMPs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from robolearn.primitives.base import S, Primitive
from robolearn.primitives.dmp import anchor_position, choose_anchor, hand_rotation

HIDDEN = 64
STEPS = 1500  # gradient steps
TIMEOUT_FACTOR = 1.5  # of the longest segment
STOPPED = 0.15  # commanded hand motion, in action units, below which the policy has stopped


def features(state: np.ndarray, goal: np.ndarray, start_rotation: Any) -> np.ndarray:
    turn = (hand_rotation(state) * start_rotation.inv()).as_rotvec()
    return np.concatenate([goal - state[S["tcp_pos"]], turn, state[S["gripper"]]]).astype(np.float32)


def make_net() -> nn.Module:
    return nn.Sequential(nn.Linear(7, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 7),
                         nn.Tanh())


class BCPrimitive(Primitive):
    kind = "bc"

    def __init__(self, name: str, net_state: dict[str, torch.Tensor], anchor: str, offset: np.ndarray,
                 pre: str = "always", post: str = "always", timeout: int = 60, segments: int = 0):
        super().__init__(name, pre, post, timeout)
        self.net = make_net()
        self.net.load_state_dict(net_state)
        self.anchor, self.offset, self.segments = anchor, np.asarray(offset, dtype=np.float64), segments

    @classmethod
    def learn(cls, name: str, segments: list[tuple[np.ndarray, np.ndarray]], pre: str = "always", post: str = "always",
              seed: int = 0) -> "BCPrimitive":
        anchor, offset = choose_anchor([s[0] for s, _ in segments], np.stack([s[-1, S["tcp_pos"]] for s, _ in segments]))
        inputs, targets = [], []
        for states, actions in segments:
            goal = anchor_position(states[0], anchor) + offset
            start = hand_rotation(states[0])
            inputs += [features(s, goal, start) for s in states[:-1]]
            targets.append(actions)
        x, y = torch.from_numpy(np.stack(inputs)), torch.from_numpy(np.concatenate(targets).astype(np.float32))
        torch.manual_seed(seed)
        net = make_net()
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
        generator = torch.Generator().manual_seed(seed)
        for _ in range(STEPS):
            idx = torch.randint(0, len(x), (min(256, len(x)),), generator=generator)
            loss = nn.functional.mse_loss(net(x[idx]), y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        timeout = int(TIMEOUT_FACTOR * max(len(a) for _, a in segments))
        return cls(name, net.state_dict(), anchor, offset, pre, post, timeout, len(segments))

    def reset(self, state: np.ndarray, robot: str = "panda", goal: np.ndarray | None = None, **params: Any) -> None:
        super().reset(state, robot, goal)
        if self.goal is None:
            self.goal = anchor_position(state, self.anchor) + self.offset
        self.start_rotation = hand_rotation(state)

    @torch.no_grad()
    def act(self, state: np.ndarray) -> np.ndarray:
        self.steps += 1
        self.last = self.net(torch.from_numpy(features(state, self.goal, self.start_rotation))).numpy().astype(np.float64)
        return self.last

    def done(self, state: np.ndarray) -> bool:
        """Once the postcondition holds and the policy itself has slowed to a stop, or on timeout."""
        stopped = self.steps > 0 and np.linalg.norm(self.last[:3]) < STOPPED
        return (stopped and self.postcondition(state)) or self.steps >= self.timeout

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"net": {k: v.tolist() for k, v in self.net.state_dict().items()},
                                    "anchor": self.anchor, "offset": self.offset.tolist(), "segments": self.segments}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BCPrimitive":
        net = {k: torch.tensor(v) for k, v in d["net"].items()}
        return cls(d["name"], net, d["anchor"], np.asarray(d["offset"]), d["pre"], d["post"], d["timeout"],
                   d.get("segments", 0))
