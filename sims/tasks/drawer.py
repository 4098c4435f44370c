"""DrawerOpen and DrawerClose: one cabinet, two tasks.

Open: grasp the handle bar and pull the drawer out at least 10 cm.
Close: the drawer starts 10-14 cm open; push it shut (within 2 cm).
"""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, servo
from robolearn.sims.objects import DRAWER_HANDLE, ObjectSpec, drawer
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.fixtures import grasp_bar, handle_position

OPEN_ENOUGH = 0.10
CLOSED_ENOUGH = 0.02
GRASP_DZ = 0.01  # TCP above the handle bar's centre when grasping


class _Drawer(Task):
    def objects(self) -> list[ObjectSpec]:
        return [drawer("drawer")]

    def _place(self, sim: Backend, rng: np.random.Generator) -> None:
        base = np.array([rng.uniform(0.76, 0.8), rng.uniform(-0.12, 0.12), 0.0])
        sim.set_object_pose("drawer", base, np.array([1.0, 0, 0, 0]))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        handle, quat = handle_position(sim, "drawer", DRAWER_HANDLE)
        return {"obj0_pos": handle, "obj0_quat": quat, "articulation": np.array([sim.articulation("drawer")])}


class DrawerOpen(_Drawer):
    name = "drawer_open"
    horizon = 100
    description = "pull a drawer open by at least 10 cm"

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        self._place(sim, rng)
        sim.set_articulation("drawer", 0.0)

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        opened = float(obs["articulation"][0])
        success = opened >= OPEN_ENOUGH
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - obs["obj0_pos"])), 0.1)
        return (1.0 if success else 0.3 * reach + 0.7 * opened / OPEN_ENOUGH), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        bar = state[S["obj0_pos"]] + np.array([0.0, 0.0, GRASP_DZ])
        action = grasp_bar(state, bar)
        if action is not None:
            return action
        pull = 0.0 if state[S["articulation"]][0] > OPEN_ENOUGH + 0.04 else -0.04
        return servo(state, bar + np.array([pull, 0.0, 0.0]), CLOSE, max_speed=0.6)


class DrawerClose(_Drawer):
    name = "drawer_close"
    horizon = 80
    description = "push an open drawer shut"

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        self._place(sim, rng)
        sim.set_articulation("drawer", rng.uniform(0.1, 0.14))

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        opened = float(obs["articulation"][0])
        success = opened <= CLOSED_ENOUGH
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - obs["obj0_pos"])), 0.1)
        return (1.0 if success else 0.3 * reach + 0.7 * (1.0 - opened / 0.14)), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        bar, tcp = state[S["obj0_pos"]], state[S["tcp_pos"]]
        behind = bar + np.array([-0.035, 0.0, 0.0])
        aligned = abs(tcp[1] - bar[1]) < 0.012 and abs(tcp[2] - bar[2]) < 0.015
        if aligned and tcp[0] < bar[0]:
            return servo(state, bar + np.array([0.05, 0.0, 0.0]), CLOSE, max_speed=0.6)
        if np.linalg.norm(tcp[:2] - behind[:2]) < 0.012:
            return servo(state, behind, CLOSE, max_speed=0.6)
        hover = behind + np.array([0.0, 0.0, 0.1])
        if tcp[2] < hover[2] - 0.03 and np.linalg.norm(tcp[:2] - behind[:2]) > 0.025:
            return servo(state, np.array([tcp[0], tcp[1], hover[2]]), CLOSE)
        return servo(state, hover, CLOSE)
