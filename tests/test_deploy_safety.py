"""The deploy safety layer: every guard changes the command exactly as specified, and logs it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from robolearn.deploy.safety import SafetyLayer, SafetyLimits

DT, STEP = 0.05, 0.025
LIMITS = SafetyLimits(max_hand_speed=0.5, max_action_change=2.0)  # speed cap = full step


def layer(limits: SafetyLimits = LIMITS, log: Path | None = None) -> SafetyLayer:
    return SafetyLayer(limits, STEP, DT, -np.ones(7) * 2.9, np.ones(7) * 2.9, log)


def test_a_safe_action_passes_unchanged() -> None:
    action = np.array([0.5, -0.2, 0.1, 0.0, 0.1, 0.0, 1.0])
    decision = layer().filter(action, np.array([0.5, 0.0, 0.2]), state_stamp=0.0, now=0.01)
    np.testing.assert_array_equal(decision.action, action)
    assert decision.interventions == []


def test_workspace_clips_the_hand_target() -> None:
    tcp = np.array([0.84, 0.0, 0.02])  # 1 cm inside +x, 1 cm above the floor of the box
    decision = layer().filter(np.array([1.0, 0, -1.0, 0, 0, 0, -1]), tcp, 0.0, 0.01)
    assert "workspace" in decision.interventions
    target = tcp + decision.action[:3] * STEP
    np.testing.assert_allclose(target, [0.85, 0.0, 0.01], atol=1e-12)


def test_hand_speed_and_rate_limits() -> None:
    slow = layer(SafetyLimits(max_hand_speed=0.1, max_action_change=2.0))
    decision = slow.filter(np.array([1.0, 1.0, 0, 0, 0, 0, -1]), np.array([0.5, 0, 0.2]), 0.0, 0.01)
    assert decision.interventions == ["hand_speed"]
    assert np.linalg.norm(decision.action[:3]) * STEP / DT == pytest.approx(0.1)
    smooth = layer(SafetyLimits(max_hand_speed=1.0, max_action_change=0.3))
    first = smooth.filter(np.array([1.0, 0, 0, 0, 0, 0, 1.0]), np.array([0.5, 0, 0.2]), 0.0, 0.01)
    assert first.interventions == ["rate"] and first.action[0] == pytest.approx(0.3)
    assert first.action[6] == pytest.approx(-0.7)  # the gripper moves from open by one rate step


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_actions_hold_position(bad: float) -> None:
    guard = layer()
    guard.filter(np.array([0, 0, 0, 0, 0, 0, 1.0]), np.array([0.5, 0, 0.2]), 0.0, 0.01)  # gripper closed
    decision = guard.filter(np.array([bad, 0, 0, 0, 0, 0, 0]), np.array([0.5, 0, 0.2]), 0.0, 0.02)
    assert decision.holding and decision.interventions == ["nonfinite"]
    np.testing.assert_array_equal(decision.action, [0, 0, 0, 0, 0, 0, 1.0])  # holds, keeps the grip


def test_watchdog_holds_on_stale_state_and_resumes() -> None:
    guard = layer()
    go = np.array([0.5, 0, 0, 0, 0, 0, -1])
    assert guard.filter(go, np.array([0.5, 0, 0.2]), state_stamp=10.0, now=10.2).interventions == []
    stale = guard.filter(go, np.array([0.5, 0, 0.2]), state_stamp=10.0, now=10.3)
    assert stale.interventions == ["stale_state"] and not stale.action[:6].any()
    assert guard.filter(go, np.array([0.5, 0, 0.2]), state_stamp=10.3, now=10.31).interventions == []


def test_estop_holds_until_released(tmp_path: Path) -> None:
    guard = layer(log=tmp_path / "log.jsonl")
    go = np.array([0.5, 0, 0, 0, 0, 0, -1])
    guard.estop()
    for t in range(3):
        decision = guard.filter(go, np.array([0.5, 0, 0.2]), 0.0, 0.01 * t)
        assert decision.interventions == ["estop"] and not decision.action[:6].any()
    guard.release()
    assert guard.filter(go, np.array([0.5, 0, 0.2]), 0.0, 0.05).interventions == []
    guard.close()
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["interventions"] for r in rows] == [["estop"]] * 3 + [[]]  # every command is logged


def test_joint_targets_respect_limits_and_velocity() -> None:
    guard = layer(SafetyLimits(max_joint_velocity=1.0, joint_margin=0.1))
    q_now = np.zeros(7)
    q, reasons = guard.filter_joints(np.full(7, 0.01), q_now)
    assert reasons == [] and np.allclose(q, 0.01)
    q, reasons = guard.filter_joints(np.full(7, 0.5), q_now)
    assert reasons == ["joint_velocity"] and np.allclose(q, 0.05)
    q, reasons = guard.filter_joints(np.full(7, 3.5), np.full(7, 2.79))
    assert reasons == ["joint_limits"] and np.allclose(q, 2.8)


def test_bad_action_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="action must have shape \\(7,\\)"):
        layer().filter(np.zeros(6), np.zeros(3), 0.0, 0.0)


@pytest.mark.parametrize("robot", ["panda", "kuka", "xarm6"])
def test_deploy_configs_load_and_build_the_safety_layer(robot: str) -> None:
    from robolearn.deploy.config import load_deploy_config
    from sims.robots import robot_spec

    cfg = load_deploy_config(robot)
    spec = robot_spec(robot)
    assert cfg.joint_names == list(spec.arm_joints) and cfg.topics.joint_states and cfg.command == "twist"
    guard = SafetyLayer(cfg.safety, spec.max_pos_step, 1.0 / cfg.control_hz, -np.ones(spec.dof), np.ones(spec.dof))
    hold_open = np.array([0, 0, 0, 0, 0, 0, -1.0])
    assert guard.filter(hold_open, np.array([0.5, 0, 0.2]), 0.0, 0.01).interventions == []


def test_deploy_config_errors_name_the_problem(tmp_path: Path) -> None:
    from robolearn.deploy.config import load_deploy_config

    bad = tmp_path / "panda.yaml"
    bad.write_text("robot: panda\ncommand: velocity\njoint_names: []\n")
    with pytest.raises(ValueError, match="command='velocity'; allowed: twist, joints"):
        load_deploy_config("panda", bad)
    bad.write_text("robot: panda\nsafety: {max_speed: 1}\n")
    with pytest.raises(ValueError, match="max_speed"):
        load_deploy_config("panda", bad)
    with pytest.raises(ValueError, match="robot='ur5'"):
        load_deploy_config("ur5")


def test_a_hand_outside_the_box_heads_back_no_faster_than_the_speed_limit() -> None:
    guard = layer(SafetyLimits(max_hand_speed=0.2, max_action_change=2.0))
    decision = guard.filter(np.array([0, 0, 1.0, 0, 0, 0, -1]), np.array([0.5, 0.0, 0.9]), 0.0, 0.01)  # 30 cm too high
    assert decision.interventions == ["workspace", "hand_speed"]
    assert decision.action[2] < 0 and np.linalg.norm(decision.action[:3]) * STEP / DT == pytest.approx(0.2)
