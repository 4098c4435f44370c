"""Episodes of robots outside the suite (other state sizes, joint-space or other action
conventions, e.g. another lab's LeRobot dataset), held in the suite's episode shape so that
every reader, the pool and the learner take them.

The robot's own state (d <= 38 values) fills the first d values of the suite's state (zeros
after); its own action (a <= 7 values) is scaled into [-1, 1] per dimension by the dataset's
range (LeRobot's meta/stats.json min and max, else the data's own) and fills the first a
of the 7 (zeros after). The file's metadata keeps the mapping under `foreign`, so export
writes the robot's own values back, and the pooled learner normalizes the robot's states
by its own statistics (`algo.per_robot_norm=true`). These states are not the suite's layout:
replaying them in a simulator or cutting them into primitives is refused.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robolearn.spec import ACTION_DIM, STATE_DIM

META_KEY = "foreign"
MIN_RANGE = 1e-6  # a dimension that never moves is scaled as if its range were [v - 1, v + 1]


@dataclass(frozen=True)
class ForeignLayout:
    """How a robot's own state and action sit in the suite's 38-d state and 7-d action."""
    state_dim: int
    action_dim: int
    action_low: tuple[float, ...]
    action_high: tuple[float, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.state_dim <= STATE_DIM:
            raise ValueError(f"observation.state has {self.state_dim} values; other robots' states may have 1 to "
                             f"{STATE_DIM}")
        if not 1 <= self.action_dim <= ACTION_DIM:
            raise ValueError(f"action has {self.action_dim} values; other robots' actions may have 1 to {ACTION_DIM}")
        if len(self.action_low) != self.action_dim or len(self.action_high) != self.action_dim:
            raise ValueError(f"action range: {len(self.action_low)} lows and {len(self.action_high)} highs for "
                             f"{self.action_dim} action values")

    @classmethod
    def fitted(cls, state_dim: int, actions: np.ndarray, low: np.ndarray | None = None,
               high: np.ndarray | None = None) -> ForeignLayout:
        """The layout of d-value states and (T, a) actions, scaled by `low`/`high` or the actions' own range."""
        low = actions.min(0) if low is None else np.asarray(low, np.float64)
        high = actions.max(0) if high is None else np.asarray(high, np.float64)
        flat = high - low < MIN_RANGE
        low, high = np.where(flat, low - 1.0, low), np.where(flat, low + 1.0, high)
        return cls(state_dim, actions.shape[1], tuple(map(float, low)), tuple(map(float, high)))

    def _scale(self) -> tuple[np.ndarray, np.ndarray]:
        low, high = np.asarray(self.action_low), np.asarray(self.action_high)
        return (high + low) / 2, (high - low) / 2

    def state_to_suite(self, states: np.ndarray) -> np.ndarray:
        self._check(states, self.state_dim, "observation.state")
        return np.pad(np.asarray(states, np.float32), [(0, 0), (0, STATE_DIM - self.state_dim)])

    def action_to_suite(self, actions: np.ndarray) -> np.ndarray:
        self._check(actions, self.action_dim, "action")
        center, half = self._scale()
        scaled = np.clip((actions - center) / half, -1.0, 1.0).astype(np.float32)
        return np.pad(scaled, [(0, 0), (0, ACTION_DIM - self.action_dim)])

    def state_to_native(self, states: np.ndarray) -> np.ndarray:
        return np.asarray(states[:, :self.state_dim], np.float32)

    def action_to_native(self, actions: np.ndarray) -> np.ndarray:
        center, half = self._scale()
        return (actions[:, :self.action_dim] * half + center).astype(np.float32)

    @staticmethod
    def _check(values: np.ndarray, dim: int, name: str) -> None:
        if values.ndim != 2 or values.shape[1] != dim:
            raise ValueError(f"{name} has shape {values.shape}, expected (T, {dim}) as the rest of the dataset")

    def as_meta(self) -> dict[str, Any]:
        return {META_KEY: {"state_dim": self.state_dim, "action_dim": self.action_dim,
                           "action_low": list(self.action_low), "action_high": list(self.action_high)}}

    @classmethod
    def of(cls, meta: dict[str, Any]) -> ForeignLayout | None:
        """The layout a file's metadata records; None for the suite's own robots."""
        layout = meta.get(META_KEY)
        if layout is None:
            return None
        try:
            return cls(int(layout["state_dim"]), int(layout["action_dim"]), tuple(layout["action_low"]),
                       tuple(layout["action_high"]))
        except (KeyError, TypeError) as err:
            raise ValueError(f"metadata {META_KEY!r} is malformed ({err}); expected state_dim, action_dim, "
                             "action_low, action_high") from None


def refuse_foreign(path: str, meta: dict[str, Any], what: str) -> None:
    """Commands that read states as the suite's layout (replay, primitives) stop on another robot's file."""
    if META_KEY in meta:
        raise ValueError(f"{path}: robot {meta.get('robot')!r} was imported in its own conventions "
                         f"({meta[META_KEY]['state_dim']}-d state); {what} needs one of the suite's robots")
