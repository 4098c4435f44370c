"""Pour: pick up a cup of small balls by its handle and pour them into a bowl.

Success when at least half of the balls lie in the bowl. aux[0] is the fraction in
the bowl, aux[1] the fraction still in the cup.
"""
from __future__ import annotations

import numpy as np

from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import Backend
from robolearn.sims.experts import CLOSE, down_yawed, servo
from robolearn.sims.geometry import axis_angle_to_mat, quat_to_mat
from robolearn.sims.objects import ObjectSpec, bowl, cup, sphere
from robolearn.sims.tasks.base import Task, tolerance
from robolearn.sims.tasks.fixtures import grasp_bar

N_BALLS = 6
BALL_R = 0.008
CUP_R, CUP_H, HANDLE_OFFSET = 0.03, 0.07, 0.06
HANDLE = np.array([0.0, -HANDLE_OFFSET, CUP_H - 0.03])  # bar centre in the cup frame
BOWL_HALF, BOWL_H = 0.08, 0.04
SUCCESS_FRACTION = 0.5
GRASP_DZ = -0.01
HAND = down_yawed(np.pi / 2)  # fingers along x, either side of the handle bar
POUR_TILT = 2.1  # rad about world -x: the cup swings out over +y, mouth down
POUR_HEIGHT = 0.18  # TCP height over the bowl while pouring
TILT_SPEED = 0.3  # fraction of the largest rotation step


def balls() -> list[str]:
    return [f"ball{i}" for i in range(N_BALLS)]


class Pour(Task):
    name = "pour"
    horizon = 200
    description = "pour balls from a held cup into a bowl (success: half of them land in it)"

    def objects(self) -> list[ObjectSpec]:
        return [cup("cup", CUP_R, CUP_H, handle_offset=HANDLE_OFFSET), bowl("bowl", BOWL_HALF, BOWL_H)] + [
            sphere(name, BALL_R) for name in balls()
        ]

    def reset(self, sim: Backend, rng: np.random.Generator) -> None:
        cup_pos = np.array([rng.uniform(0.48, 0.56), rng.uniform(-0.14, -0.06), 0.0])
        bowl_pos = np.array([rng.uniform(0.48, 0.58), rng.uniform(0.1, 0.18), 0.0])
        sim.set_object_pose("cup", cup_pos, np.array([1.0, 0, 0, 0]))
        sim.set_object_pose("bowl", bowl_pos, np.array([1.0, 0, 0, 0]))
        for i, name in enumerate(balls()):
            layer, k = divmod(i, 3)
            a = 2 * np.pi * k / 3 + layer * np.pi / 3
            offset = np.array([0.011 * np.cos(a), 0.011 * np.sin(a), 0.005 + BALL_R + 0.001 + layer * 2.2 * BALL_R])
            sim.set_object_pose(name, cup_pos + offset, np.array([1.0, 0, 0, 0]))

    def _fractions(self, sim: Backend, cup_pos: np.ndarray, cup_quat: np.ndarray, bowl_pos: np.ndarray) -> np.ndarray:
        cup_rot = quat_to_mat(cup_quat)
        in_bowl = in_cup = 0
        for name in balls():
            p = sim.object_pose(name)[0]
            rel = p - bowl_pos
            in_bowl += bool(np.all(np.abs(rel[:2]) < BOWL_HALF) and rel[2] < BOWL_H)
            local = cup_rot.T @ (p - cup_pos)
            in_cup += bool(np.linalg.norm(local[:2]) < CUP_R and 0.0 < local[2] < CUP_H)
        return np.array([in_bowl, in_cup]) / N_BALLS

    def observe(self, sim: Backend) -> dict[str, np.ndarray]:
        cup_pos, cup_quat = sim.object_pose("cup")
        bowl_pos, bowl_quat = sim.object_pose("bowl")
        return {"obj0_pos": cup_pos, "obj0_quat": cup_quat, "obj1_pos": bowl_pos, "obj1_quat": bowl_quat,
                "aux": self._fractions(sim, cup_pos, cup_quat, bowl_pos)}

    def evaluate(self, sim: Backend, obs: dict[str, np.ndarray]) -> tuple[float, bool]:
        in_bowl = float(obs["aux"][0])
        success = in_bowl >= SUCCESS_FRACTION
        handle = obs["obj0_pos"] + quat_to_mat(obs["obj0_quat"]) @ HANDLE
        reach = tolerance(float(np.linalg.norm(sim.tcp_pose()[0] - handle)), 0.1)
        over_bowl = tolerance(float(np.linalg.norm(obs["obj0_pos"][:2] - obs["obj1_pos"][:2])), 0.2)
        return (1.0 if success else 0.2 * reach + 0.3 * over_bowl + 0.5 * in_bowl / SUCCESS_FRACTION), bool(success)

    @staticmethod
    def expert(state: np.ndarray) -> np.ndarray:
        cup_pos, cup_quat, bowl_pos = state[S["obj0_pos"]], state[S["obj0_quat"]], state[S["obj1_pos"]]
        handle = cup_pos + quat_to_mat(cup_quat) @ HANDLE + np.array([0.0, 0.0, GRASP_DZ])
        action = grasp_bar(state, handle, HAND)
        if action is not None:
            return action
        tcp = state[S["tcp_pos"]]
        pour_at = np.array([bowl_pos[0], bowl_pos[1], POUR_HEIGHT])
        if np.linalg.norm(tcp - pour_at) < 0.02:
            tilted = axis_angle_to_mat(np.array([-POUR_TILT, 0.0, 0.0])) @ HAND
            # Tilt gently: the cup hangs from a pinch that only friction keeps from turning.
            return servo(state, pour_at, CLOSE, tilted, max_turn=TILT_SPEED)
        if tcp[2] < POUR_HEIGHT - 0.03:
            return servo(state, np.array([tcp[0], tcp[1], POUR_HEIGHT]), CLOSE, HAND, max_speed=0.6)
        return servo(state, pour_at, CLOSE, HAND, max_speed=0.6)
