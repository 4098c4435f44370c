"""Stack: put the small red cube on top of the larger green one and let go."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import FINGERS_GROUP, Backend
from robolearn.sims.experts import OPEN, down_yawed, grasp_yaw, servo
from robolearn.sims.geometry import yaw_quat
from robolearn.sims.objects import GREEN, ObjectSpec, box
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.grasping import carry, grasp, holding

TOP_HALF, BASE_HALF = 0.02, 0.025
STACKED_DZ = TOP_HALF + BASE_HALF


def stacked(top: np.ndarray, base: np.ndarray) -> bool:
    return bool(np.linalg.norm(top[:2] - base[:2]) < 0.02 and abs(top[2] - base[2] - STACKED_DZ) < 0.01)


class Stack(Task):
    name = "stack"
    horizon = 150
    description = "place a 4 cm cube on a 5 cm cube and release it"

    def objects(self) -> list[ObjectSpec]:
        return [box("cube", (TOP_HALF,) * 3, mass=0.1), box("base", (BASE_HALF,) * 3, mass=0.3, rgba=GREEN)]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        while True:
            a, b = rng.uniform([0.45, -0.15], [0.62, 0.15], size=(2, 2))
            if np.linalg.norm(a - b) > 0.1:
                break
        sim.set_object_pose("cube", np.array([a[0], a[1], TOP_HALF]), yaw_quat(rng.uniform(-np.pi / 4, np.pi / 4)))
        sim.set_object_pose("base", np.array([b[0], b[1], BASE_HALF]), yaw_quat(rng.uniform(-np.pi / 4, np.pi / 4)))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        top, top_q = sim.object_pose("cube")
        base, base_q = sim.object_pose("base")
        return {"obj0_pos": top, "obj0_quat": top_q, "obj1_pos": base, "obj1_quat": base_q}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        top, base = obs["obj0_pos"], obs["obj1_pos"]
        released = not sim.in_contact(FINGERS_GROUP, "cube")
        success = stacked(top, base) and released
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - top)), 0.1)
        align = tolerance(float(np.linalg.norm(top - base - np.array([0, 0, STACKED_DZ]))), 0.1)
        return (1.0 if success else 0.3 * reach + 0.7 * align), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        top, top_q = state[S["obj0_pos"]], state[S["obj0_quat"]]
        base = state[S["obj1_pos"]]
        if stacked(top, base) and (top[2] - base[2] - STACKED_DZ < 0.004 or not holding(state, top, 2 * TOP_HALF)):
            # On the base: open and back off upward.
            return servo(state, np.array([top[0], top[1], top[2] + 0.1]), OPEN, down_yawed(grasp_yaw(top_q)), max_speed=0.5)
        if not holding(state, top, 2 * TOP_HALF):
            return grasp(state, top, top_q, 2 * TOP_HALF)
        above = base + np.array([0.0, 0.0, STACKED_DZ + 0.002])
        clear = above + np.array([0.0, 0.0, 0.05])
        if np.linalg.norm(top[:2] - base[:2]) > 0.01:
            if top[2] < clear[2] - 0.02:
                # Lift straight up first: a diagonal path drags the cube into the base.
                return carry(state, top, top_q, np.array([top[0], top[1], clear[2]]))
            return carry(state, top, top_q, clear)
        return carry(state, top, top_q, above, max_speed=0.4)
