"""What a task is: objects, a reset distribution, observations, reward, success.

A task talks only to the backend protocol (`sims.backend.Backend`), never to one
simulator. Adding a task is one file defining a `Task` subclass plus its line in
`sims/tasks/__init__.py`.
"""
from __future__ import annotations

from typing import ClassVar

import numpy as np

from robolearn.sims.backend import Backend
from robolearn.sims.objects import ObjectSpec


class Task:
    name: ClassVar[str]
    horizon: ClassVar[int]  # control steps per episode (20 Hz)
    description: ClassVar[str] = ""

    def objects(self) -> list[ObjectSpec]:
        """Objects to build into the scene, once, when the env is made."""
        raise NotImplementedError

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        """Place objects and pick a goal. The only time a task may write poses."""
        raise NotImplementedError

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        """Task slots of the state vector (see robolearn.spec.STATE_LAYOUT)."""
        raise NotImplementedError

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        """Dense shaped reward in [0, 1] (1 at success) and the success flag."""
        raise NotImplementedError

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        """A scripted policy that reads only the observation's state vector."""
        raise NotImplementedError



def tolerance(distance: float, scale: float) -> float:
    """1 at distance 0, falling smoothly toward 0; the shaping used by every task."""
    return float(1.0 - np.tanh(distance / scale))
