"""Reach: bring the hand to a goal point in the air."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import OPEN, servo
from robolearn.sims.objects import ObjectSpec, marker
from robolearn.sims.tasks.base import Task, tolerance

SUCCESS_DIST = 0.03


class Reach(Task):
    name = "reach"
    horizon = 50
    description = "move the hand to a goal point (success within 3 cm)"

    def objects(self) -> list[ObjectSpec]:
        return [marker("goal")]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        self.goal = rng.uniform([0.4, -0.2, 0.05], [0.65, 0.2, 0.3])
        sim.set_object_pose("goal", self.goal, np.array([1.0, 0, 0, 0]))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        return {"goal_pos": self.goal}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        dist = float(np.linalg.norm(sim.tcp_pose()[0] - self.goal))
        success = dist < SUCCESS_DIST
        return (1.0 if success else tolerance(dist, 0.1)), success

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        return servo(state, state[S["goal_pos"]], OPEN, gain=0.8)
