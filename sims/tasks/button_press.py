"""ButtonPress: press a button down from above (success at 1.5 of its 2 cm travel)."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, servo
from robolearn.sims.objects import ObjectSpec, button
from robolearn.sims.tasks.base import Task, tolerance

PRESSED = 0.015
CAP_HALF = 0.015


class ButtonPress(Task):
    name = "button_press"
    horizon = 60
    description = "press a button down by 1.5 cm"

    def objects(self) -> list[ObjectSpec]:
        return [button("button")]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        base = np.array([rng.uniform(0.45, 0.62), rng.uniform(-0.15, 0.15), 0.0])
        sim.set_object_pose("button", base, np.array([1.0, 0, 0, 0]))
        sim.set_articulation("button", 0.0)

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        cap, quat = sim.link_pose("button")
        return {"obj0_pos": cap, "obj0_quat": quat, "articulation": np.array([sim.articulation("button")])}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        pressed = float(obs["articulation"][0])
        success = pressed >= PRESSED
        top = obs["obj0_pos"] + np.array([0.0, 0.0, CAP_HALF])
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - top)), 0.1)
        return (1.0 if success else 0.5 * reach + 0.5 * pressed / PRESSED), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        cap, tcp = state[S["obj0_pos"]], state[S["tcp_pos"]]
        if np.linalg.norm(tcp[:2] - cap[:2]) < 0.01:
            return servo(state, cap + np.array([0.0, 0.0, -0.02]), CLOSE, max_speed=0.5)
        return servo(state, cap + np.array([0.0, 0.0, 0.08]), CLOSE)
