"""Push: slide a puck across the table to a goal, without grasping it."""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, servo
from robolearn.sims.objects import ObjectSpec, cylinder, marker
from robolearn.sims.tasks.base import Task, tolerance

RADIUS, HALF_H = 0.03, 0.02
SUCCESS_DIST = 0.04
PUSH_Z = 0.028  # hand height while pushing: below the puck top, clear of the table
HOVER_Z = 0.1


class Push(Task):
    name = "push"
    horizon = 120
    description = "push a puck within 4 cm of a goal on the table"

    def objects(self) -> list[ObjectSpec]:
        return [cylinder("puck", RADIUS, HALF_H, mass=0.2), marker("goal")]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        puck = rng.uniform([0.5, -0.1], [0.56, 0.1])
        while True:
            goal = rng.uniform([0.45, -0.15], [0.68, 0.15])
            if np.linalg.norm(goal - puck) > 0.1:
                break
        self.goal = np.array([goal[0], goal[1], HALF_H])
        sim.set_object_pose("puck", np.array([puck[0], puck[1], HALF_H]), np.array([1.0, 0, 0, 0]))
        sim.set_object_pose("goal", self.goal, np.array([1.0, 0, 0, 0]))

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        pos, quat = sim.object_pose("puck")
        return {"obj0_pos": pos, "obj0_quat": quat, "goal_pos": self.goal}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        puck = obs["obj0_pos"]
        dist = float(np.linalg.norm(puck[:2] - self.goal[:2]))
        success = dist < SUCCESS_DIST
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - puck)), 0.1)
        return (1.0 if success else 0.3 * reach + 0.7 * tolerance(dist, 0.15)), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        puck, goal, tcp = state[S["obj0_pos"]], state[S["goal_pos"]], state[S["tcp_pos"]]
        to_goal = goal[:2] - puck[:2]
        dist = np.linalg.norm(to_goal)
        u = to_goal / max(dist, 1e-6)
        side = np.array([-u[1], u[0]])
        rel = tcp[:2] - puck[:2]
        along, lateral = rel @ u, rel @ side
        behind = puck[:2] - u * (RADIUS + 0.03)
        if dist < 0.015:
            return servo(state, np.array([tcp[0], tcp[1], PUSH_Z]), CLOSE)
        if np.linalg.norm(tcp[:2] - behind) < 0.01 and tcp[2] > PUSH_Z + 0.005:
            # Behind the puck: descend to the push height before moving on.
            return servo(state, np.array([behind[0], behind[1], PUSH_Z]), CLOSE, max_speed=0.6)
        low = tcp[2] < PUSH_Z + 0.015
        if low and along < -RADIUS and abs(lateral) < 0.02:
            # In contact position: push through the puck toward the goal, correcting drift.
            target = puck[:2] + u * min(dist, 0.05) - side * lateral
            return servo(state, np.array([target[0], target[1], PUSH_Z]), CLOSE, max_speed=0.5)
        if low and along < -RADIUS - 0.005 and abs(lateral) < 0.05:
            # Still behind the puck: slide back onto the push line without lifting.
            return servo(state, np.array([behind[0], behind[1], PUSH_Z]), CLOSE, max_speed=0.6)
        if tcp[2] < HOVER_Z - 0.03 and np.linalg.norm(tcp[:2] - behind) > 0.02:
            return servo(state, np.array([tcp[0], tcp[1], HOVER_Z]), CLOSE)
        return servo(state, np.array([behind[0], behind[1], HOVER_Z]), CLOSE)
