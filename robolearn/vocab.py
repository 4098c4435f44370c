"""What a model knows by name: its tasks and robots in id order, and its observation size.

A model's task and robot embeddings, per-task temperatures and per-task heads have one row
per name here, so there is no cap on how many tasks or robots one model holds. The
checkpoint stores the vocabulary; `adapt_from` appends new names (old ids never move) and
the model grows by the new rows. Observations of every task are padded with zeros to
`obs_dim`, the largest state among the run's tasks.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Vocabulary:
    tasks: tuple[str, ...]
    robots: tuple[str, ...]
    obs_dim: int

    def task_id(self, task: str) -> int:
        if task not in self.tasks:
            raise ValueError(f"task {task!r} is not one this model knows: {', '.join(self.tasks)}")
        return self.tasks.index(task)

    def robot_id(self, robot: str) -> int:
        if robot not in self.robots:
            raise ValueError(f"robot {robot!r} is not one this model knows: {', '.join(self.robots)}")
        return self.robots.index(robot)

    def pad(self, state: np.ndarray) -> np.ndarray:
        """`state` (..., d) with zeros appended up to obs_dim."""
        if state.shape[-1] > self.obs_dim:
            raise ValueError(f"observation of {state.shape[-1]} values; this model takes at most {self.obs_dim}")
        pad = [(0, 0)] * (state.ndim - 1) + [(0, self.obs_dim - state.shape[-1])]
        return np.pad(np.asarray(state, np.float32), pad)

    def grown(self, tasks: list[str], robots: list[str], obs_dim: int) -> Vocabulary:
        """This vocabulary with `tasks` and `robots` it lacks appended (old ids unchanged)."""
        if obs_dim > self.obs_dim:
            raise ValueError(f"tasks: observations of {obs_dim} values do not fit this model's {self.obs_dim}; "
                             "train a new model for them")
        return Vocabulary(tuple(dict.fromkeys((*self.tasks, *tasks))), tuple(dict.fromkeys((*self.robots, *robots))),
                          self.obs_dim)

    def as_dict(self) -> dict:
        return {"tasks": list(self.tasks), "robots": list(self.robots), "obs_dim": self.obs_dim}

    @classmethod
    def from_dict(cls, data: dict) -> Vocabulary:
        return cls(tuple(data["tasks"]), tuple(data["robots"]), int(data["obs_dim"]))
