"""PickPlace: grasp a cube and bring it to a goal point (on the table or in the air)."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.geometry import yaw_quat
from robolearn.sims.objects import ObjectSpec, box, marker
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.grasping import carry, grasp, holding

HALF = 0.02
SUCCESS_DIST = 0.04
CARRY_HEIGHT = 0.1  # lift this high before travelling


class PickPlace(Task):
    name = "pick_place"
    horizon = 120
    description = "grasp a 4 cm cube and move it within 4 cm of a goal point"

    def objects(self) -> list[ObjectSpec]:
        return [box("cube", (HALF, HALF, HALF), mass=0.1), marker("goal")]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        xy = rng.uniform([0.45, -0.15], [0.62, 0.15])
        while True:
            self.goal = rng.uniform([0.45, -0.15, 0.05], [0.62, 0.15, 0.2])
            if np.linalg.norm(self.goal[:2] - xy) > 0.1:
                break
        sim.set_object_pose("cube", np.array([xy[0], xy[1], HALF]), yaw_quat(rng.uniform(-np.pi / 4, np.pi / 4)))
        sim.set_object_pose("goal", self.goal, np.array([1.0, 0, 0, 0]))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        pos, quat = sim.object_pose("cube")
        return {"obj0_pos": pos, "obj0_quat": quat, "goal_pos": self.goal}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        cube = obs["obj0_pos"]
        dist = float(np.linalg.norm(cube - self.goal))
        success = dist < SUCCESS_DIST
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - cube)), 0.1)
        lifted = float(cube[2] > 2 * HALF)
        return (1.0 if success else 0.3 * reach + 0.2 * lifted + 0.5 * tolerance(dist, 0.2)), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        cube, quat, goal = state[S["obj0_pos"]], state[S["obj0_quat"]], state[S["goal_pos"]]
        if not holding(state, cube, 2 * HALF):
            return grasp(state, cube, quat, 2 * HALF)
        if np.linalg.norm(cube[:2] - goal[:2]) > 0.03 and cube[2] < min(goal[2], CARRY_HEIGHT) - 0.01:
            return carry(state, cube, quat, np.array([cube[0], cube[1], max(goal[2], CARRY_HEIGHT)]))
        return carry(state, cube, quat, goal, max_speed=0.6)
