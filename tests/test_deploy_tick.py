"""The deploy loop's control tick without ROS: observation, policy, safety and command, no I/O."""
from __future__ import annotations

import os
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims as sims
from robolearn.deploy.commands import gripper_opening
from robolearn.deploy.config import load_deploy_config
from robolearn.deploy.inputs import ArmState
from robolearn.deploy.observation import ObservationBuilder, task_slot_names
from robolearn.deploy.safety import SafetyLayer
from robolearn.deploy.tick import ControlTick, TickInputs
from robolearn.sims.backend import CONTROL_DT
from robolearn.spec import STATE_SLICES

ROBOT = "panda"


class FixedAgent:
    """Always the same action; remembers what it was shown."""

    def __init__(self, action: np.ndarray):
        self.action, self.seen, self.deterministic = np.asarray(action, dtype=np.float64), [], []

    def act(self, states: np.ndarray, task: np.ndarray, robot: np.ndarray, deterministic: bool = True) -> np.ndarray:
        self.seen.append(states.copy())
        self.deterministic.append(deterministic)
        return np.tile(self.action, (len(states), 1))


def make_tick(action: np.ndarray, command: str = "twist") -> tuple[ControlTick, list[dict]]:
    cfg = load_deploy_config(ROBOT)
    builder = ObservationBuilder(ROBOT)
    spec = builder.model.spec
    lo, hi = builder.model.sim.arm_limits()
    rows: list[dict] = []
    safety = SafetyLayer(cfg.safety, spec.max_pos_step, spec.max_rot_step, CONTROL_DT, lo, hi, rows.append)
    return ControlTick(builder, command, FixedAgent(action), 0, 0, safety, task_slot_names("reach", ROBOT)), rows


@pytest.fixture(scope="module")
def arm_in_sim() -> tuple[ArmState, np.ndarray]:
    """A reach scene's arm state as a driver would report it, and the simulator's own observation of it."""
    env = gym.make(sims.env_id("reach"), robot=ROBOT, backend="mujoco")
    env.reset(seed=1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        obs, *_ = env.step(rng.uniform(-1, 1, 7))
    sim, task = env.unwrapped.sim, env.unwrapped.task
    state = ArmState(sim.arm_positions(), sim.arm_velocities(), sim.finger_positions(), 1.0, task.observe(sim))
    env.close()
    return state, obs["state"]


SMALL = np.array([0.2, -0.1, 0.1, 0.0, 0.0, 0.05, -1.0])  # inside every shipped cap


def test_a_tick_sees_the_simulators_observation_and_sends_the_safe_twist(arm_in_sim, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    state, sim_obs = arm_in_sim
    monkeypatch.chdir(tmp_path)
    tick, rows = make_tick(SMALL)
    out = tick(TickInputs(state, {}, 1.0))
    np.testing.assert_allclose(out.obs, sim_obs, atol=2e-3)  # tcp_vel through the Jacobian; the rest to 1e-5
    np.testing.assert_allclose(out.obs[STATE_SLICES["goal_pos"]], sim_obs[STATE_SLICES["goal_pos"]], atol=1e-6)
    np.testing.assert_array_equal(tick.agent.seen[0][0], out.obs)
    assert out.decision.interventions == [] and not out.decision.holding
    spec = tick.spec
    np.testing.assert_allclose(out.command.linear, SMALL[:3] * spec.max_pos_step / CONTROL_DT)
    np.testing.assert_allclose(out.command.angular, SMALL[3:6] * spec.max_rot_step / CONTROL_DT)
    assert out.command.joints is None and out.command.gripper == pytest.approx(gripper_opening(-1.0, spec))
    assert len(rows) == 1 and rows[0]["t"] == 1.0  # the decision goes to the sink it was given
    assert os.listdir(tmp_path) == []  # and nothing to disk


@pytest.mark.parametrize("faults,estop,action,reason", [
    ({"joint_states": "stale: no valid message for 0.40 s (timeout 0.25 s)"}, False, SMALL, "stale_state"),
    ({"object_poses": "invalid: position not finite"}, False, SMALL, "invalid_input"),
    ({}, True, SMALL, "estop"),
    ({}, False, np.full(7, np.nan), "nonfinite"),
])
def test_a_fault_or_the_estop_holds_the_arm(arm_in_sim, faults: dict, estop: bool, action: np.ndarray,
                                            reason: str) -> None:
    state, _ = arm_in_sim
    tick, _ = make_tick(action)
    closed = tick(TickInputs(state, {}, 0.0)) if np.all(np.isfinite(action)) else None
    if estop:
        tick.safety.estop.engage("key", 0.5)
    out = tick(TickInputs(state, faults, 1.0))
    assert out.decision.holding and reason in out.decision.interventions and out.decision.faults == faults
    np.testing.assert_array_equal(out.command.linear, np.zeros(3))
    np.testing.assert_array_equal(out.command.angular, np.zeros(3))
    if closed is not None:  # the gripper stays as it was commanded
        assert out.command.gripper == pytest.approx(closed.command.gripper)


def test_joint_mode_sends_bounded_ik_targets_and_holds_at_the_measured_joints(arm_in_sim) -> None:
    state, _ = arm_in_sim
    tick, _ = make_tick(np.array([1.0, 1.0, -1.0, 0.0, 0.0, 0.0, 1.0]), command="joints")
    out = tick(TickInputs(state, {}, 1.0))
    step = tick.safety.limits.max_joint_velocity * CONTROL_DT
    assert out.command.linear is None and np.all(np.isfinite(out.command.joints))
    assert np.max(np.abs(out.command.joints - state.q)) <= step + 1e-12
    assert np.max(np.abs(out.command.joints - state.q)) > 0  # it does move
    held = tick(TickInputs(state, {"joint_states": "invalid: 6 names"}, 1.05))
    np.testing.assert_array_equal(held.command.joints, state.q)
    np.testing.assert_array_equal(tick.hold(state.q, 1.1).joints, state.q)


def test_explore_samples_instead_of_the_mean(arm_in_sim) -> None:
    state, _ = arm_in_sim
    tick, _ = make_tick(SMALL)
    tick(TickInputs(state, {}, 1.0))
    tick.explore = True
    tick(TickInputs(state, {}, 1.05))
    assert tick.agent.deterministic == [True, False]
