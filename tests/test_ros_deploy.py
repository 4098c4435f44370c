"""Deploy through ROS, end to end: a policy checkpoint drives the digital twin through
roscore (rospy) and through a rosbridge server (roslibpy), and the safety layer's stop
paths (workspace, watchdog, e-stop, dry run) hold the arm.

Each test runs `robolearn twin` and `robolearn deploy` as processes, as a lab would, on the
tests' own roscore (conftest.ros_master). The policy is behaviour cloning on 30 scripted
reach demos (90% in simulation, docs/benchmarks.md), quick to train here.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.demos.recorder import record
from robolearn.bc_train import compose_bc, train_bc
from robolearn.deploy import messages as msgs
from robolearn.deploy.commands import action_to_twist, twist_to_action
from robolearn.deploy.config import load_deploy_config
from robolearn.spec import STATE_SLICES
from robolearn.sims.robots import robot_spec
from robolearn.envs import suite_vocabulary
from deploy_fakes import RecordingTransport, StillAgent, loop_with_arm, still_arm

CLI = str(Path(sys.executable).parent / "robolearn")
ROBOT = "panda"
TOPICS = load_deploy_config(ROBOT).topics
TCP = STATE_SLICES["tcp_pos"]


@pytest.fixture(scope="module")
def reach_policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("deploy_policy")
    record("reach", ROBOT, "mujoco", ScriptedDevice(noise=0.1, seed=0), path / "reach.hdf5", 30, source="sim")
    return train_bc(compose_bc([f"data=[{path / 'reach.hdf5'}]", "algo.steps=2000", "eval_episodes=0",
                                f"out={path / 'bc'}"]))


def deploy_args(policy: Path, out: Path, *args: str) -> list[str]:
    """The twin resets on request (reset=topic); the shipped configs say operator, as a real cell."""
    return [CLI, "deploy", f"checkpoint={policy}", f"robot={ROBOT}", f"out={out}", "reset=topic", *args]


def run_deploy(policy: Path, out: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    done = subprocess.run(deploy_args(policy, out, *args), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def command_rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "commands.jsonl").read_text().splitlines()]


def wait_for_commands(out: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        path = out / "commands.jsonl"
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} commands in {timeout} s")


def start_deploy(policy: Path, out: Path, *args: str, commands: int = 5) -> subprocess.Popen:
    """`robolearn deploy` in the background, returned once it has sent `commands` commands."""
    deploy = subprocess.Popen(deploy_args(policy, out, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    wait_for_commands(out, commands)
    return deploy


def safety_events(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "safety.jsonl").read_text().splitlines()]


def wait_for_estop(out: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any("estop" in r["interventions"] for r in command_rows(out)):
            return
        time.sleep(0.05)
    raise AssertionError(f"the e-stop did not engage within {timeout} s")


# ---------------------------------------------------------------- units
def test_twist_round_trips_the_action() -> None:
    spec = robot_spec(ROBOT)
    action = np.array([0.3, -0.5, 0.1, 0.2, -0.1, 0.05, 0.6])
    linear, angular = action_to_twist(action, spec)
    opening = spec.finger_max * (1 - action[6])
    np.testing.assert_allclose(twist_to_action(linear, angular, opening, spec), action, atol=1e-12)


def test_rospy_converts_every_deploy_message_both_ways(ros_master: str) -> None:
    from robolearn.deploy.rospy_transport import from_dict, message_class, to_dict

    samples = {
        msgs.JOINT_STATE: msgs.joint_state(["a", "b"], np.array([0.1, 0.2]), np.array([0.0, -1.5])),
        msgs.POSE_ARRAY: msgs.pose_array({"obj0_pos": np.array([0.5, 0.1, 0.02]), "goal_pos": np.ones(3)}),
        msgs.FLOAT_ARRAY: msgs.task_scalars({"articulation": np.array([0.07])}),
        msgs.TWIST_STAMPED: msgs.twist_stamped(np.array([0.1, 0, 0]), np.array([0, 0, 0.2]), "world"),
        msgs.JOINT_TRAJECTORY: msgs.joint_trajectory(["a", "b"], np.array([0.3, 0.4]), 0.05),
        msgs.FLOAT64: msgs.scalar(0.04), msgs.BOOL: msgs.scalar(True), msgs.INT32: msgs.scalar(7),
    }
    for msg_type, message in samples.items():
        assert to_dict(from_dict(message_class(msg_type), message)) == message, msg_type


def test_deploy_config_names_a_missing_topic(tmp_path: Path) -> None:
    text = (Path("configs/deploy") / f"{ROBOT}.yaml").read_text().replace("  twist: /franka", "  twist_x: /franka")
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ValueError, match="twist_x"):
        load_deploy_config(ROBOT, tmp_path / "bad.yaml")
    (tmp_path / "bad.yaml").write_text(text.replace("  twist_x: /franka/servo/delta_twist_cmds", ""))
    with pytest.raises(ValueError, match=r"topics.twist is required"):
        load_deploy_config(ROBOT, tmp_path / "bad.yaml")
    # command-line overrides go through the same checks as the file
    assert load_deploy_config(ROBOT, command="joints", control_hz=50).control_hz == 50
    with pytest.raises(ValueError, match="control_hz=-5"):
        load_deploy_config(ROBOT, control_hz=-5)
    with pytest.raises(ValueError, match="command='velocity'; allowed: twist, joints"):
        load_deploy_config(ROBOT, command="velocity")


def test_rosbridge_relay_answers_bad_requests_with_errors() -> None:
    from websockets.sync.client import connect

    from robolearn.deploy.rosbridge_server import RosbridgeServer

    server = RosbridgeServer(port=0, secret="s3cret")
    port = server.start()
    try:
        with connect(f"ws://localhost:{port}") as ws:  # nothing before authenticating
            ws.send(json.dumps({"op": "subscribe", "topic": "/x", "type": msgs.BOOL}))
            assert "authenticate first" in json.loads(ws.recv(timeout=5))["msg"]
        open_server = RosbridgeServer(port=0)
        open_port = open_server.start()
        with connect(f"ws://localhost:{open_port}") as ws:
            ws.send(json.dumps({"op": "publish", "msg": {}}))
            assert "'topic'" in json.loads(ws.recv(timeout=5))["msg"]
            ws.send(json.dumps({"op": "advertise", "topic": "/x", "type": msgs.BOOL}))
            ws.send(json.dumps({"op": "subscribe", "topic": "/x", "type": msgs.INT32}))
            assert "does not match" in json.loads(ws.recv(timeout=5))["msg"]
            ws.send(json.dumps({"op": "call_service", "service": "/rosapi/topics"}))
            assert "not supported" in json.loads(ws.recv(timeout=5))["msg"]
        open_server.stop()
    finally:
        server.stop()


# ---------------------------------------------------------------- through roscore
def test_policy_reaches_the_goal_through_rospy_on_the_twin(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                           start_twin: Callable) -> None:
    start_twin(ROBOT, "reach")
    done = run_deploy(reach_policy, tmp_path / "run", "transport=rospy", "episodes=4")
    episodes = read_episodes(tmp_path / "run" / "episodes.hdf5")
    wins = sum(ep.meta["success"] for ep in episodes)
    assert len(episodes) == 4 and wins >= 3, done.stdout
    assert read_metadata(tmp_path / "run" / "episodes.hdf5")["source"] == "real"
    assert len(command_rows(tmp_path / "run")) == sum(ep.length for ep in episodes)  # every command logged
    # the observation rebuilt from joint states moves like the arm: in every success (three or
    # more, asserted above) the recorded hand ends near the goal
    for episode in (ep for ep in episodes if ep.meta["success"]):
        final = episode.next_states_obs[-1]
        assert np.linalg.norm(final[TCP] - final[STATE_SLICES["goal_pos"]]) < 0.05


def test_a_policy_that_sees_is_deployed_on_the_twin_with_its_cameras(ros_master: str, tmp_path: Path,
                                                                    start_twin: Callable) -> None:
    """`robolearn deploy` of an image BC checkpoint: the twin publishes the cameras it sees and
    the episode file keeps the frames the policy acted on."""
    demos = tmp_path / "camera_reach.hdf5"
    record("reach", ROBOT, "mujoco", ScriptedDevice(noise=0.1, seed=0), demos, 3, source="sim",
           cameras=("front", "wrist"), image_size=32)
    policy = train_bc(compose_bc([f"data=[{demos}]", "inputs=image+proprio", "algo.steps=20", "algo.batch_size=16",
                                  "eval_episodes=0", f"out={tmp_path / 'bc'}"]))
    start_twin(ROBOT, "reach", "cameras=[front,wrist]", "image_size=32")
    run_deploy(policy, tmp_path / "run", "transport=rospy", "episodes=1", "steps=5")
    (episode,) = read_episodes(tmp_path / "run" / "episodes.hdf5", images=True)
    assert episode.length == 5 and set(episode.images) == {"front", "wrist"}
    assert all(np.asarray(frames).shape == (5, 32, 32, 3) and np.asarray(frames).std() > 10
               for frames in episode.images.values())


def test_joint_trajectory_commands_through_the_simulators_ik(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                             start_twin: Callable) -> None:
    start_twin(ROBOT, "reach")
    done = run_deploy(reach_policy, tmp_path / "run", "transport=rospy", "command=joints", "episodes=2")
    rows = command_rows(tmp_path / "run")
    assert all("joints" in r and "twist" not in r for r in rows)
    assert sum(ep.meta["success"] for ep in read_episodes(tmp_path / "run" / "episodes.hdf5")) >= 1, done.stdout


def test_workspace_box_is_enforced_on_the_twin(ros_master: str, reach_policy: Path, tmp_path: Path,
                                               start_twin: Callable) -> None:
    """A workspace ceiling below the start pose: every command may only push the hand down."""
    text = (Path("configs/deploy") / f"{ROBOT}.yaml").read_text()
    (tmp_path / "low.yaml").write_text(text.replace("workspace_high: [0.85, 0.45, 0.6]", "workspace_high: [0.85, 0.45, 0.1]"))
    start_twin(ROBOT, "reach")
    run_deploy(reach_policy, tmp_path / "run", f"config={tmp_path / 'low.yaml'}", "steps=30", "hold_steps=0")
    rows = command_rows(tmp_path / "run")
    assert sum("workspace" in r["interventions"] for r in rows) >= 10
    states = read_episodes(tmp_path / "run" / "episodes.hdf5")[0].states_obs
    z = states[:, TCP][:, 2]
    assert z[-1] < z[0] and np.all(np.diff(z) < 0.005)  # never commanded upward


def test_watchdog_holds_when_the_twin_goes_silent(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                  start_twin: Callable) -> None:
    out = tmp_path / "run"
    twin = start_twin(ROBOT, "reach")
    deploy = start_deploy(reach_policy, out, "steps=80", "hold_steps=0", commands=10)
    twin.send_signal(signal.SIGSTOP)  # frozen: no joint states, no commands obeyed
    time.sleep(1.0)
    twin.send_signal(signal.SIGCONT)
    output, _ = deploy.communicate(timeout=60)
    assert deploy.returncode == 0, output
    rows = command_rows(out)
    stale = [r for r in rows if "stale_state" in r["interventions"]]
    assert len(stale) >= 8, output  # ~1 s at 20 Hz, less the 0.25 s bound
    assert all(np.allclose(r["twist"], 0.0) for r in stale)
    assert any(np.linalg.norm(r["twist"][:3]) > 0 for r in rows[rows.index(stale[-1]) + 1:])  # moves again


def test_estop_topic_latches_until_the_reset_topic_releases_it(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                               start_twin: Callable) -> None:
    out = tmp_path / "run"
    start_twin(ROBOT, "reach")
    deploy = start_deploy(reach_policy, out, "steps=160", "hold_steps=0", commands=5)
    # `rostopic pub -1` lingers 3 s after sending; its message lands within about a second
    engage = subprocess.Popen(["rostopic", "pub", "-1", TOPICS.estop, msgs.BOOL, "data: true"])
    wait_for_estop(out, 10)
    # a bridge that keeps saying false for 2 s does not release the latch
    subprocess.run(["timeout", "2", "rostopic", "pub", "-r", "20", TOPICS.estop, msgs.BOOL, "data: false"])
    still_held = len(command_rows(out))
    release = subprocess.Popen(["rostopic", "pub", "-1", TOPICS.estop_reset, msgs.EMPTY, "{}"])
    output, _ = deploy.communicate(timeout=60)
    engage.wait(30), release.wait(30)
    assert deploy.returncode == 0, output
    rows = command_rows(out)
    held = [r["step"] for r in rows if "estop" in r["interventions"]]
    assert len(held) >= 30 and all("estop" in rows[s]["interventions"] for s in range(held[0], still_held)), output
    assert all(np.allclose(rows[s]["twist"], 0.0) for s in held)
    states = read_episodes(out / "episodes.hdf5")[0].states_obs
    drift = np.linalg.norm(states[held[-1] + 1, TCP] - states[held[2], TCP])  # settled once the e-stop took hold
    assert drift < 0.003, drift
    assert held[-1] < len(rows) - 1 and "estop" not in rows[-1]["interventions"]  # released, running again
    events = safety_events(out)
    assert [(e["estop"], e.get("source") or e.get("by")) for e in events if "estop" in e][-1] == ("released", "reset_topic")


def test_nan_joint_states_hold_the_arm_log_and_recover(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                      start_twin: Callable) -> None:
    """A driver glitch: 2 s of NaN joint states among the twin's valid ones."""
    out = tmp_path / "run"
    start_twin(ROBOT, "reach")
    deploy = start_deploy(reach_policy, out, "steps=140", "hold_steps=0", commands=10)
    names = load_deploy_config(ROBOT).joint_names
    nan = "[" + ", ".join([".nan"] * len(names)) + "]"
    subprocess.run(["timeout", "2", "rostopic", "pub", "-r", "100", TOPICS.joint_states, msgs.JOINT_STATE,
                    f"{{name: {names}, position: {nan}}}"])
    output, _ = deploy.communicate(timeout=60)
    assert deploy.returncode == 0, output
    rows = command_rows(out)
    held = [r for r in rows if "invalid_input" in r["interventions"]]
    assert len(held) >= 5, output
    assert all(np.allclose(r["twist"], 0.0) for r in held)
    assert any(np.linalg.norm(r["twist"][:3]) > 0 for r in rows[rows.index(held[-1]) + 1:])  # moves again
    faults = [e for e in safety_events(out) if e.get("input") == "joint_states"]
    assert faults and "not finite" in faults[0]["fault"] and faults[0]["topic"] == TOPICS.joint_states
    assert faults[-1].get("recovered")
    assert np.all(np.isfinite(read_episodes(out / "episodes.hdf5")[0].states_obs))  # nothing NaN was recorded


def test_operator_reset_waits_for_enter(ros_master: str, reach_policy: Path, tmp_path: Path,
                                        start_twin: Callable) -> None:
    start_twin(ROBOT, "reach")
    args = deploy_args(reach_policy, tmp_path / "run", "reset=operator", "episodes=2", "steps=10", "hold_steps=0")
    done = subprocess.run(args, input="\n\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("reset the scene, then press Enter") == 2
    assert len(read_episodes(tmp_path / "run" / "episodes.hdf5")) == 2
    closed = subprocess.run(deploy_args(reach_policy, tmp_path / "closed", "reset=operator"), input="",
                            capture_output=True, text=True, timeout=120)
    assert closed.returncode == 1 and "nobody to confirm the reset" in closed.stderr
    assert "Traceback" not in closed.stderr


def test_dry_run_only_publishes_to_the_preview_topics(ros_master: str, reach_policy: Path, tmp_path: Path,
                                                      start_twin: Callable) -> None:
    start_twin(ROBOT, "reach")
    echo = subprocess.Popen(["rostopic", "echo", "-n", "1", f"{TOPICS.preview}/twist"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    run_deploy(reach_policy, tmp_path / "run", "dry_run=true", "steps=30", "hold_steps=0")
    preview, _ = echo.communicate(timeout=30)
    assert "linear" in preview  # the commands went to the preview topic ...
    states = read_episodes(tmp_path / "run" / "episodes.hdf5")[0].states_obs
    assert np.linalg.norm(states[-1, TCP] - states[0, TCP]) < 0.003  # ... and the arm did not move
    assert all(r["dry_run"] for r in command_rows(tmp_path / "run"))


def test_deploy_errors_name_the_problem(ros_master: str, reach_policy: Path, tmp_path: Path) -> None:
    done = subprocess.run(deploy_args(reach_policy, tmp_path, "task=push"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "trained on tasks ['reach']" in done.stderr
    done = subprocess.run(deploy_args(reach_policy, tmp_path, "wait=2"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "no arm state within 2 s" in done.stderr  # roscore up, no arm
    # an arm whose driver names its joints otherwise: the error shows what it does publish
    wrong = subprocess.Popen(["rostopic", "pub", "-r", "20", TOPICS.joint_states, msgs.JOINT_STATE,
                              "{name: [arm_j1, arm_j2], position: [0.0, 0.1]}"], stdout=subprocess.DEVNULL)
    try:
        done = subprocess.run(deploy_args(reach_policy, tmp_path, "wait=4"), capture_output=True, text=True, timeout=60)
    finally:
        wrong.terminate()
        wrong.wait(10)
    assert done.returncode == 1 and "the joint states name ['arm_j1', 'arm_j2']" in done.stderr, done.stderr
    assert not (tmp_path / "episodes.hdf5").exists() or not read_episodes(tmp_path / "episodes.hdf5")


# ---------------------------------------------------------------- through rosbridge
def test_rosbridge_transport_drives_the_twin_with_authentication(reach_policy: Path, tmp_path: Path,
                                                               start_twin: Callable) -> None:
    from robolearn.deploy.rosbridge_server import RosbridgeServer

    server = RosbridgeServer(port=0, secret="lab-secret")
    port = server.start()
    bridge = ["transport=rosbridge", f"port={port}"]
    try:
        start_twin(ROBOT, "reach", *bridge, "secret=lab-secret")
        done = run_deploy(reach_policy, tmp_path / "run", *bridge, "secret=lab-secret", "episodes=2")
        refused = subprocess.run(deploy_args(reach_policy, tmp_path / "refused", *bridge, "secret=wrong"),
                                 capture_output=True, text=True, timeout=60)
    finally:
        server.stop()
    assert sum(ep.meta["success"] for ep in read_episodes(tmp_path / "run" / "episodes.hdf5")) >= 1, done.stdout
    assert server.relayed > 100
    assert refused.returncode == 1 and "authentication failed" in refused.stderr


@pytest.mark.parametrize("example", ["panda_moveit_servo", "panda_ros2_control"])
def test_ros2_conventions_through_a_ros2_style_bridge(reach_policy: Path, tmp_path: Path, start_twin: Callable,
                                                     example: str) -> None:
    """The ROS 2 example configs (MoveIt Servo twists, a ros2_control trajectory controller) through a
    relay that, like ROS 2's rosbridge_server, takes only pkg/msg/Type names and {sec, nanosec} stamps."""
    from robolearn.deploy.rosbridge_server import RosbridgeServer

    server = RosbridgeServer(port=0, ros_version=2)
    port = server.start()
    bridge = ["transport=rosbridge", f"port={port}", f"config=configs/deploy/examples/{example}.yaml"]
    try:
        start_twin(ROBOT, "reach", *bridge)
        done = run_deploy(reach_policy, tmp_path / "run", *bridge, "episodes=2")
    finally:
        server.stop()
    assert sum(ep.meta["success"] for ep in read_episodes(tmp_path / "run" / "episodes.hdf5")) >= 1, done.stdout
    assert server.types and all("/msg/" in t for t in server.types.values()), server.types
    assert server.relayed > 100 and not server.refused, server.refused[:3]


def test_deploy_keys_engage_and_release_the_estop_and_quit(reach_policy: Path, tmp_path: Path) -> None:
    from robolearn.checkpoint import load_checkpoint
    from robolearn.deploy.loop import DeployLoop
    from robolearn.agents import agent_from_checkpoint

    transport = RecordingTransport()
    loop = DeployLoop(load_deploy_config(ROBOT), agent_from_checkpoint(load_checkpoint(reach_policy)), "reach",
                      transport, tmp_path)
    loop.handle_key(" ")
    assert loop.safety.estop.latched
    loop.handle_key("r")
    assert not loop.safety.estop.latched
    loop.handle_key("e")
    assert loop.safety.estop.latched
    loop.hold()  # holding with no arm state yet: a zero twist and the gripper left open
    (topic, _, twist), (gripper_topic, _, gripper) = transport.published
    assert topic == TOPICS.twist and twist["twist"]["linear"] == {"x": 0.0, "y": 0.0, "z": 0.0}
    assert gripper_topic == TOPICS.gripper and gripper["data"] == pytest.approx(2 * robot_spec(ROBOT).finger_max)
    loop.handle_key("q")
    assert loop.stop_requested
    loop.close()


def test_on_fault_stop_ends_the_episode_and_keeps_what_was_recorded(tmp_path: Path) -> None:
    cfg = load_deploy_config(ROBOT, on_fault="stop")
    loop, transport = loop_with_arm(cfg, StillAgent(), tmp_path)
    assert loop.run_episode(0, 2, 0).steps == 2  # recorded
    transport.deliver(TOPICS.joint_states, dict(still_arm(cfg), position=[float("nan")] * 7))
    report = loop.run_episode(1, 50, 0)
    loop.close()
    assert report.steps == 0 and "joint_states: invalid" in report.fault and "not finite" in report.fault
    assert [ep.length for ep in read_episodes(tmp_path / "episodes.hdf5")] == [2]  # the first episode is kept


class FailingAgent:
    vocab = suite_vocabulary()

    def act(self, *args: object, **kwargs: object) -> np.ndarray:
        raise RuntimeError("policy crashed")


def test_an_internal_error_holds_the_arm_before_it_propagates(tmp_path: Path) -> None:
    from robolearn.deploy.loop import DeployLoop

    transport = RecordingTransport()
    loop = DeployLoop(load_deploy_config(ROBOT), FailingAgent(), "reach", transport, tmp_path)
    q = np.zeros(7)
    loop.inputs.state.q, loop.inputs.state.qd, loop.inputs.state.stamp = q, q, time.monotonic()
    loop.inputs.state.slots.update({"goal_pos": np.array([0.5, 0.0, 0.3])})
    with pytest.raises(RuntimeError, match="policy crashed"):
        loop.run_episode(0, 10, 0)
    (topic, _, twist), (gripper_topic, _, _) = transport.published[-2:]
    assert topic == TOPICS.twist and twist["twist"]["linear"] == {"x": 0.0, "y": 0.0, "z": 0.0}
    loop.close()


class GrippingAgent(StillAgent):
    def act(self, states: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        action = np.zeros((len(states), 7))
        action[:, 6] = 1.0  # close
        return action


def test_each_episode_starts_as_in_simulation_with_the_gripper_open(tmp_path: Path) -> None:
    """A policy that closed the gripper must not start the next episode closed (the twin kept
    the last gripper command through its reset) nor rate-limited from the closed command."""
    import threading

    cfg = load_deploy_config(ROBOT, reset="none")
    loop, transport = loop_with_arm(cfg, GrippingAgent(), tmp_path)
    loop.run_episode(0, 6, 0)
    grippers = [m["data"] for topic, _, m in transport.published if topic == TOPICS.gripper]
    assert grippers[-2] == pytest.approx(0.0)  # the policy's last command: closed
    threading.Timer(0.1, transport.deliver, (TOPICS.joint_states, still_arm(cfg))).start()  # the arm's next state
    assert loop.reset_scene(1, timeout=5)
    open_width = 2 * robot_spec(ROBOT).finger_max
    assert transport.published[-1][0] == TOPICS.gripper and transport.published[-1][2]["data"] == pytest.approx(open_width)
    assert np.array_equal(loop.safety.previous, [0, 0, 0, 0, 0, 0, -1])  # the rate limit ramps from the start state
    loop.close()
