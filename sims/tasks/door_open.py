"""DoorOpen: grasp the door's handle and swing it open by at least 0.5 rad."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, down_yawed, servo
from robolearn.sims.objects import DOOR_HANDLE, ObjectSpec, door
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.fixtures import grasp_bar, handle_position

OPEN_ENOUGH = 0.5  # rad
GRASP_DZ = 0.01


class DoorOpen(Task):
    name = "door_open"
    horizon = 120
    description = "swing a hinged door open by 0.5 rad"

    def objects(self) -> list[ObjectSpec]:
        return [door("door")]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        base = np.array([rng.uniform(0.68, 0.74), rng.uniform(0.0, 0.12), 0.0])
        sim.set_object_pose("door", base, np.array([1.0, 0, 0, 0]))
        sim.set_articulation("door", 0.0)

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        handle, quat = handle_position(sim, "door", DOOR_HANDLE)
        return {"obj0_pos": handle, "obj0_quat": quat, "articulation": np.array([sim.articulation("door")])}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        angle = float(obs["articulation"][0])
        success = angle >= OPEN_ENOUGH
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - obs["obj0_pos"])), 0.1)
        return (1.0 if success else 0.3 * reach + 0.7 * max(angle, 0.0) / OPEN_ENOUGH), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        angle = float(state[S["articulation"]][0])
        rot = down_yawed(-angle)  # turn the hand with the handle
        bar = state[S["obj0_pos"]] + np.array([0.0, 0.0, GRASP_DZ])
        action = grasp_bar(state, bar, rot)
        if action is not None:
            return action
        if angle > OPEN_ENOUGH + 0.15:
            return servo(state, bar, CLOSE, rot)
        # The handle circles the hinge (axis -z): step along the circle's tangent.
        hx, hy = DOOR_HANDLE[0], DOOR_HANDLE[1]
        c, s = np.cos(angle), np.sin(angle)
        tangent = np.array([-hx * s + hy * c, -hx * c - hy * s, 0.0])
        tangent /= np.linalg.norm(tangent)
        return servo(state, bar + 0.04 * tangent, CLOSE, rot, max_speed=0.6)
