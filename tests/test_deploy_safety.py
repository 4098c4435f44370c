"""The deploy safety layer: every guard changes the command exactly as specified, and logs it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from robolearn.deploy.inputs import RECOVERY_S, InputMonitor
from robolearn.deploy.jsonl import JsonlLog
from robolearn.deploy.latency import LATENCY_WINDOW, Latency
from robolearn.deploy.safety import ArmReading, SafetyLayer, SafetyLimits

DT, STEP, ROT = 0.05, 0.025, 0.15
LIMITS = SafetyLimits(max_hand_speed=0.5, max_hand_angular_speed=3.0, max_action_change=2.0)  # caps = full step
HAND = ArmReading(np.array([0.5, 0.0, 0.2]))


def layer(limits: SafetyLimits = LIMITS, log: Path | None = None, heartbeat: bool = False) -> SafetyLayer:
    return SafetyLayer(limits, STEP, ROT, DT, -np.ones(7) * 2.9, np.ones(7) * 2.9, JsonlLog(log) if log else None,
                       heartbeat)


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_safe_action_passes_unchanged() -> None:
    action = np.array([0.5, -0.2, 0.1, 0.0, 0.1, 0.0, 1.0])
    decision = layer().filter(action, HAND, now=0.01)
    np.testing.assert_array_equal(decision.action, action)
    assert decision.interventions == []


def test_workspace_clips_the_hand_target() -> None:
    tcp = np.array([0.84, 0.0, 0.02])  # 1 cm inside +x, 1 cm above the floor of the box
    decision = layer().filter(np.array([1.0, 0, -1.0, 0, 0, 0, -1]), ArmReading(tcp), now=0.01)
    assert "workspace" in decision.interventions
    target = tcp + decision.action[:3] * STEP
    np.testing.assert_allclose(target, [0.85, 0.0, 0.01], atol=1e-12)


def test_hand_speed_and_rate_limits() -> None:
    slow = layer(SafetyLimits(max_hand_speed=0.1, max_hand_angular_speed=3.0, max_action_change=2.0))
    decision = slow.filter(np.array([1.0, 1.0, 0, 0, 0, 0, -1]), HAND, now=0.01)
    assert decision.interventions == ["hand_speed"]
    assert np.linalg.norm(decision.action[:3]) * STEP / DT == pytest.approx(0.1)
    smooth = layer(SafetyLimits(max_hand_speed=1.0, max_action_change=0.3))
    first = smooth.filter(np.array([1.0, 0, 0, 0, 0, 0, 1.0]), HAND, now=0.01)
    assert first.interventions == ["rate"] and first.action[0] == pytest.approx(0.3)
    assert first.action[6] == pytest.approx(-0.7)  # the gripper moves from open by one rate step


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_actions_hold_position(bad: float) -> None:
    guard = layer()
    guard.filter(np.array([0, 0, 0, 0, 0, 0, 1.0]), HAND, now=0.01)  # gripper closed
    decision = guard.filter(np.array([bad, 0, 0, 0, 0, 0, 0]), HAND, now=0.02)
    assert decision.holding and decision.interventions == ["nonfinite"]
    np.testing.assert_array_equal(decision.action, [0, 0, 0, 0, 0, 0, 1.0])  # holds, keeps the grip


def test_input_faults_hold_name_the_input_and_recover(tmp_path: Path) -> None:
    guard = layer(log=tmp_path / "safety.jsonl")
    monitor = InputMonitor(guard.log)
    monitor.watch("joint_states", "/arm/joint_states", timeout=0.25)

    def apply(msg: dict, state: object) -> None:
        if not np.isfinite(msg["q"]):
            raise ValueError("position not finite (nan)")

    go = np.array([0.5, 0, 0, 0, 0, 0, -1])
    monitor.receive("joint_states", {"q": 0.0}, apply)
    now = monitor.inputs["joint_states"].last_valid
    assert guard.filter(go, HAND, monitor.faults(now + 0.1), now + 0.1).interventions == []
    stale = guard.filter(go, HAND, monitor.faults(now + 0.3), now + 0.3)
    assert stale.interventions == ["stale_state"] and not stale.action[:6].any()
    monitor.receive("joint_states", {"q": float("nan")}, apply)
    bad = guard.filter(go, HAND, monitor.faults(now + 0.31), now + 0.31)
    assert bad.interventions == ["invalid_input"] and "not finite" in bad.faults["joint_states"]
    monitor.receive("joint_states", {"q": 0.1}, apply)  # one good message right after a bad one: still held
    assert "joint_states" in monitor.faults(monitor.inputs["joint_states"].last_valid)
    monitor.inputs["joint_states"].fault_at -= RECOVERY_S  # as if the bad message were RECOVERY_S old
    monitor.receive("joint_states", {"q": 0.1}, apply)
    fresh = monitor.inputs["joint_states"].last_valid
    assert guard.filter(go, HAND, monitor.faults(fresh), fresh).interventions == []  # recovered: moves again
    guard.sink.close()
    events = [r for r in rows(tmp_path / "safety.jsonl") if "input" in r]
    assert [("fault" in e and e["fault"].split(":")[0]) or "recovered" for e in events] == ["stale", "invalid", "recovered"]
    assert all(e["topic"] == "/arm/joint_states" for e in events)


def test_estop_latches_until_the_operator_releases_it(tmp_path: Path) -> None:
    guard = layer(log=tmp_path / "log.jsonl")
    go = np.array([0.5, 0, 0, 0, 0, 0, -1])
    guard.estop.on_topic(True, 0.0)
    for t in range(3):
        decision = guard.filter(go, HAND, now=0.01 * t)
        assert decision.interventions == ["estop"] and not decision.action[:6].any()
    assert not guard.estop.release("key", 0.03)  # refused: the topic still says engaged
    for t in range(50):  # a bridge that keeps publishing false does not release it
        guard.estop.on_topic(False, 0.04 + 0.001 * t)
    assert guard.filter(go, HAND, now=0.1).interventions == ["estop"]
    assert guard.estop.release("reset_topic", 0.11)
    released = guard.filter(go, HAND, now=0.12)
    assert released.interventions == [] and released.action[0] == pytest.approx(0.5)
    guard.estop.engage("key", 0.2)
    guard.estop.on_topic(False, 0.21)
    assert guard.filter(go, HAND, now=0.22).interventions == ["estop"]  # a key e-stop outlives the topic's false
    guard.sink.close()
    log = rows(tmp_path / "log.jsonl")
    events = [(r["estop"], r.get("source") or r.get("by")) for r in log if "estop" in r]
    assert events == [("engaged", "topic"), ("release refused", "key"), ("released", "reset_topic"),
                      ("engaged", "key")]
    assert sum(1 for r in log if "interventions" in r) == 6  # every command is logged too


def test_a_lost_heartbeat_engages_the_estop() -> None:
    guard = layer(heartbeat=True)
    go = np.array([0.3, 0, 0, 0, 0, 0, -1])
    assert guard.filter(go, HAND, now=0.0).interventions == ["estop"]  # no heartbeat yet: hold, not latched
    guard.estop.on_heartbeat(0.1)
    assert guard.filter(go, HAND, now=0.2).interventions == []
    assert guard.filter(go, HAND, now=0.7).interventions == ["estop"]  # 0.6 s of silence > 0.5 s
    guard.estop.on_heartbeat(0.8)
    assert guard.filter(go, HAND, now=0.85).interventions == ["estop"]  # latched
    assert guard.estop.release("key", 0.9)
    assert guard.filter(go, HAND, now=0.95).interventions == []


def test_rate_limit_ramps_from_standstill_after_a_hold() -> None:
    guard = layer(SafetyLimits(max_hand_speed=10.0, max_hand_angular_speed=10.0, max_action_change=0.3))
    go = np.array([0.9, 0, 0, 0, 0, 0, -1])
    for t in range(4):
        guard.filter(go, HAND, now=0.05 * t)
    assert guard.previous[0] == pytest.approx(0.9)
    guard.estop.engage("key", 0.2)
    guard.filter(go, HAND, now=0.25)
    guard.estop.release("key", 0.3)
    first = guard.filter(go, HAND, now=0.35)
    assert first.interventions == ["rate"] and first.action[0] == pytest.approx(0.3)  # not back at 0.9 in one tick


def test_angular_speed_is_capped() -> None:
    guard = layer(SafetyLimits(max_hand_speed=1.0, max_hand_angular_speed=0.5, max_action_change=2.0))
    decision = guard.filter(np.array([0, 0, 0, 1.0, -1.0, 0.5, -1]), HAND, now=0.0)
    assert decision.interventions == ["angular_speed"]
    assert np.linalg.norm(decision.action[3:6]) * ROT / DT == pytest.approx(0.5)


def test_twist_mode_predicts_joint_motion_through_the_jacobian() -> None:
    guard = layer(SafetyLimits(max_hand_speed=10.0, max_hand_angular_speed=10.0, max_action_change=2.0,
                               max_joint_velocity=0.2, joint_margin=0.0))
    jacobian = np.hstack([np.eye(6), np.zeros((6, 1))])  # joint i moves twist component i
    action = np.array([0.2, 0, 0, 0, 0, 0, -1])  # 5 mm: joint 0 at 0.1 rad/s
    calm = guard.filter(action, ArmReading(HAND.tcp_pos, np.zeros(7), jacobian), now=0.0)
    assert calm.interventions == [] and calm.action[0] == pytest.approx(0.2)
    fast = guard.filter(np.array([0.8, 0, 0, 0, 0, 0, -1]), ArmReading(HAND.tcp_pos, np.zeros(7), jacobian), now=0.05)
    assert fast.interventions == ["joint_velocity"]
    assert fast.action[0] * STEP / DT == pytest.approx(0.2)  # the joint moves at exactly its cap
    near = np.zeros(7)
    near[0] = 2.9 - 0.002  # 2 mm of room before the limit
    edge = guard.filter(np.array([0.4, 0, 0, 0, 0, 0, -1]), ArmReading(HAND.tcp_pos, near, jacobian), now=0.1)
    assert "joint_limits" in edge.interventions and edge.action[0] * STEP == pytest.approx(0.002)
    away = guard.filter(np.array([-0.4, 0, 0, 0, 0, 0, -1]), ArmReading(HAND.tcp_pos, near, jacobian), now=0.15)
    assert "joint_limits" not in away.interventions  # moving away from the limit is free


def test_a_nonfinite_command_never_leaves_the_layer() -> None:
    jacobian = np.full((6, 7), np.nan)  # a broken model
    decision = layer().filter(np.array([0.2, 0, 0, 0, 0, 0, -1]), ArmReading(HAND.tcp_pos, np.zeros(7), jacobian), now=0.0)
    assert decision.interventions == ["nonfinite_command"] and decision.holding
    assert np.all(np.isfinite(decision.action)) and not decision.action[:6].any()


@pytest.mark.parametrize("field, value, message", [
    ("max_hand_speed", -0.1, "safety.max_hand_speed=-0.1: must be a finite number > 0"),
    ("max_hand_angular_speed", 0.0, "safety.max_hand_angular_speed=0.0"),
    ("state_timeout", float("nan"), "safety.state_timeout=nan"),
    ("max_action_change", 3.0, "at most 2"),
    ("workspace_low", (0.9, 0.0, 0.0), "must be below safety.workspace_high"),
    ("joint_margin", -0.1, "safety.joint_margin=-0.1"),
])
def test_limits_are_validated(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        layer(SafetyLimits(**{field: value}))


def test_messages_are_validated_on_arrival() -> None:
    from robolearn.deploy import messages as msgs

    names = ["j1", "j2"]
    assert msgs.read_joints(msgs.joint_state(["f1"], np.zeros(1), np.zeros(1)), names) is None  # not this input's
    with pytest.raises(ValueError, match="not finite"):
        msgs.read_joints(msgs.joint_state(names, np.array([0.1, np.nan]), np.zeros(2)), names)
    with pytest.raises(ValueError, match=r"lacks \['j2'\]"):
        msgs.read_joints(msgs.joint_state(["j1"], np.zeros(1), np.zeros(1)), names)
    with pytest.raises(ValueError, match="1 positions for 2 names"):
        msgs.read_joints({"name": names, "position": [0.0]}, names)
    poses = msgs.pose_array({"obj0_pos": np.ones(3), "obj0_quat": np.array([2.0, 0, 0, 0]), "goal_pos": np.ones(3)})
    with pytest.raises(ValueError, match="obj0_quat: not a unit quaternion"):
        msgs.read_pose_array(poses)
    with pytest.raises(ValueError, match="task scalars: not finite"):
        msgs.read_task_scalars({"data": [0.0, float("inf"), 0.0]})
    with pytest.raises(ValueError, match="is not a bool"):
        msgs.read_scalar({"data": "yes"}, bool)
    assert msgs.read_scalar({"data": 3}, int) == 3


def test_joint_targets_respect_limits_and_velocity() -> None:
    guard = layer(SafetyLimits(max_joint_velocity=1.0, joint_margin=0.1))
    q_now = np.zeros(7)
    q, reasons = guard.filter_joints(np.full(7, 0.01), q_now, 0.0)
    assert reasons == [] and np.allclose(q, 0.01)
    q, reasons = guard.filter_joints(np.full(7, 0.5), q_now, 0.0)
    assert reasons == ["joint_velocity"] and np.allclose(q, 0.05)
    q, reasons = guard.filter_joints(np.full(7, 3.5), np.full(7, 2.79), 0.0)
    assert reasons == ["joint_limits"] and np.allclose(q, 2.8)


def test_bad_action_shape_is_an_error() -> None:
    with pytest.raises(ValueError, match="action must have shape \\(7,\\)"):
        layer().filter(np.zeros(6), HAND, now=0.0)


@pytest.mark.parametrize("robot", ["panda", "kuka", "xarm6"])
def test_deploy_configs_load_and_build_the_safety_layer(robot: str) -> None:
    from robolearn.deploy.config import load_deploy_config
    from robolearn.sims.robots import robot_spec

    cfg = load_deploy_config(robot)
    spec = robot_spec(robot)
    assert cfg.joint_names == list(spec.arm_joints) and cfg.topics.joint_states and cfg.command == "twist"
    guard = SafetyLayer(cfg.safety, spec.max_pos_step, spec.max_rot_step, 1.0 / cfg.control_hz, -np.ones(spec.dof),
                        np.ones(spec.dof))
    hold_open = np.array([0, 0, 0, 0, 0, 0, -1.0])
    assert guard.filter(hold_open, HAND, now=0.01).interventions == []
    assert cfg.reset == "operator" and cfg.ros_version == 1 and cfg.topics.estop_reset  # what a real cell has


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
    good = Path("configs/deploy/panda.yaml").read_text()
    bad.write_text(good.replace("max_hand_speed: 0.25", "max_hand_speed: -0.25"))
    with pytest.raises(ValueError, match=f"{re.escape(str(bad))}: safety.max_hand_speed=-0.25"):
        load_deploy_config("panda", bad)
    bad.write_text(good.replace("ros_version: 1", "ros_version: 3"))
    with pytest.raises(ValueError, match="ros_version=3; allowed: 1, 2"):
        load_deploy_config("panda", bad)
    with pytest.raises(ValueError, match="reset='later'; allowed: operator, topic, none"):
        load_deploy_config("panda", reset="later")
    bad.write_text(good.replace("  reset_done: /robolearn/reset_done", "  reset_done: ''"))
    load_deploy_config("panda", bad)  # an operator-reset cell needs no reset topics ...
    with pytest.raises(ValueError, match="topics.reset_done is required"):
        load_deploy_config("panda", bad, reset="topic")  # ... a topic-reset one does


def test_a_hand_outside_the_box_heads_back_no_faster_than_the_speed_limit() -> None:
    guard = layer(SafetyLimits(max_hand_speed=0.2, max_action_change=2.0))
    decision = guard.filter(np.array([0, 0, 1.0, 0, 0, 0, -1]), ArmReading(np.array([0.5, 0.0, 0.9])), now=0.01)  # 30 cm too high
    assert decision.interventions == ["workspace", "hand_speed"]
    assert decision.action[2] < 0 and np.linalg.norm(decision.action[:3]) * STEP / DT == pytest.approx(0.2)


def test_training_under_the_deploy_limits_moves_the_hand_no_faster_than_deployed() -> None:
    """`deploy_limits=shipped`: the env executes what the safety layer would send the arm."""
    from robolearn.deploy.config import load_deploy_config
    from robolearn.envs import make_env, run_vocabulary
    from robolearn.spec import STATE_SLICES

    cap = load_deploy_config("panda").safety.max_hand_speed
    speeds = {}
    for limits in ("", "shipped"):
        env = make_env("reach", "panda", "mujoco", run_vocabulary(["reach"], ["panda"]), deploy_limits=limits)
        obs, _ = env.reset(seed=0)
        tcp = [obs["state"][STATE_SLICES["tcp_pos"]]]
        for _ in range(15):
            obs, *_, info = env.step(np.array([1.0, 0.5, -0.5, 0, 0, 0, -1], np.float32))
            tcp.append(obs["state"][STATE_SLICES["tcp_pos"]])
        speeds[limits] = np.linalg.norm(np.diff(tcp, axis=0), axis=1).max() / DT
        env.close()
    assert speeds[""] > 1.3 * cap  # the limits bind for this action ...
    assert speeds["shipped"] <= cap * 1.1, speeds  # ... and the simulated hand keeps to them
    assert "hand_speed" in info["safety_interventions"]


def test_latency_records_stay_bounded_over_a_long_run() -> None:
    latency = Latency()
    for tick in range(LATENCY_WINDOW + 5):
        latency.add_tick(0.002 if tick < 5 else 0.001, 0.001)
    assert len(latency.loop) == len(latency.compute) == LATENCY_WINDOW and latency.ticks == LATENCY_WINDOW + 5
    assert min(latency.loop) == 0.001  # the oldest ticks went first
    assert f"latency over {LATENCY_WINDOW + 5} ticks (the last {LATENCY_WINDOW})" in latency.summary()
