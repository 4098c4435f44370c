"""Lift: grasp a cube and raise it 8 cm above the table."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.geometry import yaw_quat
from robolearn.sims.objects import ObjectSpec, box
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.grasping import carry, grasp, holding

HALF = 0.02
LIFT_HEIGHT = 0.10  # cube centre height for success (rests at 0.02)


class Lift(Task):
    name = "lift"
    horizon = 80
    description = "grasp a 4 cm cube and lift it 8 cm"

    def objects(self) -> list[ObjectSpec]:
        return [box("cube", (HALF, HALF, HALF), mass=0.1)]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        xy = rng.uniform([0.45, -0.15], [0.62, 0.15])
        sim.set_object_pose("cube", np.array([xy[0], xy[1], HALF]), yaw_quat(rng.uniform(-np.pi / 4, np.pi / 4)))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        pos, quat = sim.object_pose("cube")
        return {"obj0_pos": pos, "obj0_quat": quat}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        cube = obs["obj0_pos"]
        success = cube[2] > LIFT_HEIGHT
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - cube)), 0.1)
        lifted = np.clip((cube[2] - HALF) / (LIFT_HEIGHT - HALF), 0.0, 1.0)
        return (1.0 if success else 0.4 * reach + 0.6 * lifted), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        cube, quat = state[S["obj0_pos"]], state[S["obj0_quat"]]
        if holding(state, cube, 2 * HALF):
            return carry(state, cube, quat, np.array([cube[0], cube[1], LIFT_HEIGHT + 0.05]))
        return grasp(state, cube, quat, 2 * HALF)
