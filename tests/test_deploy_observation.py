"""Deploy observations rebuilt from joint states match the simulator's own, on every robot and backend."""
from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims as sims
from robolearn.deploy.observation import ObservationBuilder
from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import BACKENDS
from robolearn.sims.robots import ROBOTS


@pytest.mark.parametrize("robot,backend", list(itertools.product(ROBOTS, BACKENDS)))
def test_observation_from_joint_states_matches_the_simulator(robot: str, backend: str) -> None:
    env = gym.make(sims.env_id("pick_place"), robot=robot, backend=backend)
    obs, _ = env.reset(seed=3)
    builder = ObservationBuilder(robot)
    sim, task = env.unwrapped.sim, env.unwrapped.task
    rng = np.random.default_rng(0)
    for _ in range(6):
        obs, *_ = env.step(rng.uniform(-1, 1, 7))
        rebuilt = builder.build(sim.arm_positions(), sim.arm_velocities(), sim.finger_positions(), task.observe(sim))
        state = obs["state"]
        np.testing.assert_allclose(rebuilt[S["tcp_pos"]], state[S["tcp_pos"]], atol=1e-5)
        np.testing.assert_allclose(rebuilt[S["tcp_quat"]], state[S["tcp_quat"]], atol=1e-5)
        np.testing.assert_allclose(rebuilt[S["tcp_vel"]], state[S["tcp_vel"]], atol=2e-3)
        rest = np.ones(len(state), bool)
        for key in ("tcp_pos", "tcp_quat", "tcp_vel"):
            rest[S[key]] = False
        np.testing.assert_array_equal(rebuilt[rest], state[rest])


def test_bad_joint_states_name_the_problem() -> None:
    builder = ObservationBuilder("xarm6")
    with pytest.raises(ValueError, match="must have 6 values"):
        builder.build(np.zeros(7), np.zeros(7), np.zeros(2), {})
    with pytest.raises(ValueError, match="unknown task slots \\['cup'\\]"):
        builder.build(np.zeros(6), np.zeros(6), np.zeros(2), {"cup": np.zeros(3)})
    with pytest.raises(ValueError, match="non-finite"):
        builder.build(np.full(6, np.nan), np.zeros(6), np.zeros(2), {})
