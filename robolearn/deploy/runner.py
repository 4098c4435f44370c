"""The deploy loop: a checkpoint's policy driving an arm through ROS, behind the safety layer.

Each control tick (`control_hz` of `configs/deploy/<robot>.yaml`) it takes the newest valid
arm state (joint states, object poses, task scalars, each validated on arrival by
robolearn.deploy.inputs), builds the simulator's observation, runs the policy, passes the
action through the safety layer (which holds the arm on an invalid or stale input and on
the latched e-stop) and sends it as a twist or a joint trajectory (through the
simulator's IK) plus the gripper; with `dry_run` the commands go under the preview
namespace instead. Scenes are reset by the operator, on request over topics, or not at all. Every command goes to
`<out>/commands.jsonl`, every safety decision to `<out>/safety.jsonl`, and every episode
into `<out>/episodes.hdf5` (source=real) as soon as it ends, so an interrupt loses nothing
finished and the interrupted episode is kept too.
"""
from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from robolearn.demos.episodes import Episode, EpisodeBuffer, EpisodeWriter, file_metadata
from robolearn.deploy import messages as msgs
from robolearn.deploy.commands import action_to_twist, gripper_opening
from robolearn.deploy.config import DeployConfig
from robolearn.deploy.observation import ObservationBuilder, task_slot_names
from robolearn.deploy.inputs import ArmState, InputMonitor
from robolearn.deploy.operator import ESTOP_KEYS, QUIT_KEYS, RELEASE_KEYS, OperatorConsole
from robolearn.deploy.safety import ArmReading, SafetyDecision, SafetyLayer
from robolearn.deploy.transport import Transport, TransportConfig
from robolearn.learners import Agent
from robolearn.spec import STATE_SLICES
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.controller import EndEffectorController
from robolearn.sims.robots import ROBOTS
from robolearn.sims.tasks import TASKS

RESET_RETRY = 0.25  # s between reset requests until the scene acknowledges


@dataclass
class DeployRunConfig:
    checkpoint: str = ""
    robot: str = "panda"
    task: str = ""  # default: the checkpoint's first task
    episodes: int = 1
    steps: int = 0  # per episode; 0: the task's horizon
    hold_steps: int = 5  # steps to go on after success before the episode ends (0: run to `steps`)
    dry_run: bool = False
    command: str = ""  # twist | joints; default: the deploy config's
    control_hz: float = 0.0  # default: the deploy config's
    reset: str = ""  # operator | topic | none; default: the deploy config's
    config: str = ""  # deploy YAML; default: configs/deploy/<robot>.yaml
    out: str = ""  # default: runs/deploy-<time>
    wait: float = 10.0  # s to wait for the arm's first state (and for a reset's acknowledgement)
    seed: int = 0  # first episode's reset seed (scenes that reset on request, as the twin)
    transport: str = "rospy"  # rospy | rosbridge
    host: str = "localhost"  # rosbridge server
    port: int = 9090
    secret: str = ""  # rosbridge authentication
    tls: bool = False  # rosbridge over wss://
    ca_cert: str = ""  # PEM certificate to trust for tls (a self-signed server); empty: the system's


@dataclass
class EpisodeReport:
    steps: int
    success: bool
    interventions: dict[str, int]
    interrupted: bool = False
    episode: Episode | None = None  # as recorded
    fault: str = ""  # the input fault that stopped the episode (on_fault=stop)


# Percentiles over the most recent ticks only: a loop that runs for days keeps constant memory
# (100,000 ticks: 83 min at 20 Hz).
LATENCY_WINDOW = 100_000


def _window() -> deque[float]:
    return deque(maxlen=LATENCY_WINDOW)


@dataclass
class Latency:
    """Per tick, in s: the loop's own time (state receipt -> command sent, and tick start ->
    command sent) apart from the transport's (the state's header stamp -> its receipt)."""
    loop: deque[float] = field(default_factory=_window)
    compute: deque[float] = field(default_factory=_window)
    transport: deque[float] = field(default_factory=_window)
    ticks: int = 0
    overruns: int = 0

    def add_tick(self, loop: float, compute: float) -> None:
        self.loop.append(loop)
        self.compute.append(compute)
        self.ticks += 1

    def summary(self) -> str:
        parts = [f"{name} p50 {percentile_ms(v, 50):.2f} p99 {percentile_ms(v, 99):.2f} max {percentile_ms(v, 100):.2f} ms"
                 for name, v in (("loop", self.loop), ("transport", self.transport)) if v]
        window = f" (the last {len(self.loop)})" if self.ticks > len(self.loop) else ""
        return f"latency over {self.ticks} ticks{window}: {'; '.join(parts)}; overruns {self.overruns}"


class DeployLoop:
    def __init__(self, cfg: DeployConfig, agent: Agent, task: str, transport: Transport, out: Path,
                 dry_run: bool = False):
        if task not in TASKS:
            raise ValueError(f"task={task!r}; allowed: {', '.join(TASKS)}")
        self.cfg, self.agent, self.task, self.transport, self.out = cfg, agent, task, transport, out
        self.builder = ObservationBuilder(cfg.robot)
        self.spec = self.builder.model.spec
        self.slot_names = task_slot_names(task, cfg.robot)
        self.ik = EndEffectorController(self.builder.model.sim, self.spec.max_pos_step, self.spec.max_rot_step, CONTROL_DT)
        lo, hi = self.builder.model.sim.arm_limits()
        out.mkdir(parents=True, exist_ok=True)
        self.safety = SafetyLayer(cfg.safety, self.spec.max_pos_step, self.spec.max_rot_step, CONTROL_DT, lo, hi,
                                  out / "safety.jsonl", heartbeat=bool(cfg.topics.estop_heartbeat))
        self.command_log = open(out / "commands.jsonl", "a")
        self.writer = EpisodeWriter(out / "episodes.hdf5", file_metadata(
            task, cfg.robot, "ros", "real", control_hz=cfg.control_hz, command=cfg.command, dry_run=dry_run))
        self.task_id, self.robot_id = list(TASKS).index(task), ROBOTS.index(cfg.robot)
        self.dry_run = dry_run
        self.explore = False  # sample from the policy instead of its mean (a fleet actor learning on the arm)
        self.period = 1.0 / cfg.control_hz
        self.inputs = InputMonitor(self.safety.log)
        self.stop_requested = False
        self.console = OperatorConsole(self.handle_key)
        self.latency = Latency()
        self._subscribe(cfg)

    # ---------------------------------------------------------------- state in
    def _subscribe(self, cfg: DeployConfig) -> None:
        topics, limits = cfg.topics, cfg.safety
        uses_scalars = any(name in ("articulation", "aux") for name in self.slot_names)
        watched = (("joint_states", msgs.JOINT_STATE, limits.state_timeout, self._apply_joint_state),
                   ("object_poses", msgs.POSE_ARRAY, limits.input_timeout, self._apply_poses),
                   ("task_scalars", msgs.FLOAT_ARRAY, limits.input_timeout if uses_scalars else None, self._apply_scalars),
                   ("success", msgs.BOOL, None, self._apply_success),
                   ("reward", msgs.FLOAT64, None, self._apply_reward),
                   ("reset_done", msgs.INT32, None, self._apply_reset_done))
        for name, msg_type, timeout, apply in watched:
            topic = getattr(topics, name)
            if topic:
                self.inputs.watch(name, topic, timeout)
                self.transport.subscribe(topic, msg_type, lambda m, n=name, a=apply: self.inputs.receive(n, m, a))
        self.transport.subscribe(topics.estop, msgs.BOOL, self._on_estop)
        self.transport.subscribe(topics.estop_reset, msgs.EMPTY,
                                 lambda m: self.safety.estop.release("reset_topic", time.monotonic()))
        if topics.estop_heartbeat:
            self.transport.subscribe(topics.estop_heartbeat, msgs.EMPTY,
                                     lambda m: self.safety.estop.on_heartbeat(time.monotonic()))

    def _apply_joint_state(self, msg: msgs.Message, state: ArmState) -> bool:
        arm = msgs.read_joints(msg, self.cfg.joint_names)
        fingers = msgs.read_joints(msg, list(self.spec.finger_joints))
        state.joint_names_seen = list(msg.get("name", []))
        if fingers is not None:
            state.fingers = fingers[0]
        if arm is None:
            return False  # a gripper-only joint state
        state.q, state.qd = arm
        state.stamp = time.monotonic()
        if "header" in msg:
            self.latency.transport.append(time.time() - msgs.stamp_seconds(msg["header"]["stamp"]))
        return True

    @staticmethod
    def _apply_poses(msg: msgs.Message, state: ArmState) -> None:
        state.slots.update(msgs.read_pose_array(msg))

    @staticmethod
    def _apply_scalars(msg: msgs.Message, state: ArmState) -> None:
        state.slots.update(msgs.read_task_scalars(msg))

    @staticmethod
    def _apply_success(msg: msgs.Message, state: ArmState) -> None:
        state.success = bool(msgs.read_scalar(msg, bool))

    @staticmethod
    def _apply_reward(msg: msgs.Message, state: ArmState) -> None:
        state.reward = float(msgs.read_scalar(msg, float))

    @staticmethod
    def _apply_reset_done(msg: msgs.Message, state: ArmState) -> None:
        state.reset_done = int(msgs.read_scalar(msg, int))

    def _on_estop(self, msg: msgs.Message) -> None:
        now = time.monotonic()
        try:
            engaged = bool(msgs.read_scalar(msg, bool))
        except ValueError as err:  # an e-stop message that cannot be read counts as pressed
            self.safety.log({"t": now, "input": "estop", "topic": self.cfg.topics.estop, "fault": f"invalid: {err}"})
            engaged = True
        self.safety.estop.on_topic(engaged, now)

    def handle_key(self, key: str) -> None:
        """The operator's keys: space or e engages the e-stop, r releases it, q ends the run."""
        if key in ESTOP_KEYS:
            self.safety.estop.engage("key", time.monotonic())
        elif key in RELEASE_KEYS:
            self.safety.estop.release("key", time.monotonic())
        elif key in QUIT_KEYS:
            self.stop_requested = True

    # ---------------------------------------------------------------- commands out
    def _topic(self, name: str) -> str:
        topic = getattr(self.cfg.topics, name)
        return f"{self.cfg.topics.preview.rstrip('/')}/{name}" if self.dry_run else topic

    def send(self, decision: SafetyDecision, q_now: np.ndarray | None) -> dict[str, Any]:
        """Publish the safe action; holding in joint mode commands the measured joints."""
        action = decision.action
        sent: dict[str, Any] = {}
        if self.cfg.command == "twist" or q_now is None:
            linear, angular = action_to_twist(action, self.spec)
            message = msgs.twist_stamped(linear, angular, self.cfg.frame_id)
            self.transport.publish(self._topic("twist"), msgs.TWIST_STAMPED, message)
            sent["twist"] = [*linear.tolist(), *angular.tolist()]
        else:
            if decision.holding:
                q_target = q_now
                self.ik.reset()  # resume from where the arm is held, not from a stale reference
            else:
                q_target, _ = self.ik.joint_targets(action)  # the builder has set the model to q_now
                q_target, reasons = self.safety.filter_joints(q_target, q_now)
                decision.interventions.extend(reasons)
                if not np.all(np.isfinite(q_target)):  # the final check, after the IK
                    decision.interventions.append("nonfinite_command")
                    q_target = q_now
            message = msgs.joint_trajectory(self.cfg.joint_names, q_target, CONTROL_DT)
            self.transport.publish(self._topic("trajectory"), msgs.JOINT_TRAJECTORY, message)
            sent["joints"] = q_target.tolist()
        sent["gripper"] = gripper_opening(action[6], self.spec)
        self.transport.publish(self._topic("gripper"), msgs.FLOAT64, msgs.scalar(sent["gripper"]))
        return sent

    def hold(self) -> None:
        q = self.inputs.snapshot().q
        self.send(SafetyDecision(self.safety.hold(), ["stop"]), q)

    def hold_safely(self) -> None:
        """Hold on the way out of an error: never raises, so the original error is reported."""
        try:
            self.hold()
        except Exception as err:  # the transport itself may be what failed
            self.safety.log({"t": time.monotonic(), "hold_failed": f"{type(err).__name__}: {err}"})

    # ---------------------------------------------------------------- the loop
    def wait_for_state(self, after: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.inputs.snapshot()
            if snap.q is not None and snap.stamp > after and "goal_pos" in snap.slots:
                return
            time.sleep(0.01)
        seen = snap.joint_names_seen
        raise TimeoutError(f"no arm state within {timeout:.0f} s: nothing on {self.cfg.topics.joint_states} "
                           f"({msgs.JOINT_STATE}, naming {self.cfg.joint_names}) and {self.cfg.topics.object_poses} "
                           f"({msgs.POSE_ARRAY})" + (f"; the joint states name {seen}" if seen else ""))

    def reset_scene(self, seed: int, timeout: float) -> bool:
        """Reset the scene as the config says (a person, the request/acknowledge topics, or not
        at all) and wait for a fresh state; False when the run was stopped while waiting."""
        self.wait_for_state(-np.inf, timeout)
        if self.cfg.reset == "operator":
            self.hold()
            if not self.console.confirm(f"episode {seed}: reset the scene, then press Enter", lambda: self.stop_requested):
                return False
        elif self.cfg.reset == "topic":
            self._request_reset(seed, timeout)
        self.wait_for_state(time.monotonic(), timeout)
        return True

    def _request_reset(self, seed: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.transport.publish(self.cfg.topics.reset, msgs.INT32, msgs.scalar(seed))
            time.sleep(RESET_RETRY)
            if self.inputs.snapshot().reset_done == seed:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scene did not acknowledge reset {seed} on {self.cfg.topics.reset_done} "
                                   f"within {timeout:.0f} s (a cell reset by hand: reset=operator)")
        with self.inputs.lock:
            self.inputs.state.success = False

    def observe(self) -> tuple[np.ndarray, ArmState]:
        snap = self.inputs.snapshot()
        if snap.fingers is None:  # an arm that reports no finger joints: assume the last commanded opening
            snap.fingers = np.full(2, gripper_opening(self.safety.previous[6], self.spec) / 2)
        obs = self.builder.build(snap.q, snap.qd, snap.fingers, {k: snap.slots[k] for k in self.slot_names})
        return obs, snap

    def reading(self, obs: np.ndarray, snap: ArmState) -> ArmReading:
        """The safety layer's view; in twist mode with the Jacobian at the state just built."""
        jacobian = self.builder.model.tcp_jacobian() if self.cfg.command == "twist" else None
        return ArmReading(obs[STATE_SLICES["tcp_pos"]].astype(np.float64), snap.q, jacobian)

    def run_episode(self, index: int, steps: int, hold_steps: int) -> EpisodeReport:
        buffer = EpisodeBuffer({"task": self.task, "robot": self.cfg.robot, "seed": index})
        if hasattr(self.agent, "reset_episode"):
            self.agent.reset_episode()
        self.ik.reset()
        counts: dict[str, int] = {}
        success_at, step, interrupted, episode, fault = None, 0, False, None, ""
        obs, snap = self.observe()
        next_tick = time.monotonic()
        try:
            while step < steps and not self.stop_requested:
                tick = time.monotonic()
                action = self.agent.act(obs[None], np.array([self.task_id]), np.array([self.robot_id]),
                                        deterministic=not self.explore)[0]
                decision = self.safety.filter(action, self.reading(obs, snap), self.inputs.faults(tick), tick)
                sent = self.send(decision, snap.q)
                done_at = time.monotonic()
                self.latency.add_tick(done_at - snap.stamp, done_at - tick)
                for reason in decision.interventions:
                    counts[reason] = counts.get(reason, 0) + 1
                self.command_log.write(json.dumps({"t": done_at, "episode": index, "step": step, "dry_run": self.dry_run,
                                                   "policy": np.asarray(action).tolist(), **sent,
                                                   "interventions": decision.interventions}) + "\n")
                if decision.faults and self.cfg.on_fault == "stop":
                    fault = "; ".join(f"{k}: {v}" for k, v in decision.faults.items())
                    break
                next_tick += self.period
                if time.monotonic() > next_tick:
                    self.latency.overruns += 1
                    next_tick = time.monotonic()
                time.sleep(max(0.0, next_tick - time.monotonic()))
                next_obs, snap = self.observe()
                # The cell's reward when it publishes one, else success as a sparse reward.
                reward = snap.reward if snap.reward is not None else float(snap.success)
                buffer.add({"state": obs}, decision.action, reward, {"state": next_obs}, np.zeros(0),
                           label=np.asarray(action, np.float32))
                obs, step = next_obs, step + 1
                if snap.success and success_at is None:
                    success_at = step
                if success_at is not None and hold_steps and step - success_at >= hold_steps:
                    break
        except KeyboardInterrupt:
            interrupted = True
        finally:
            self.hold_safely()
            if buffer.actions:
                episode = buffer.finish(success=success_at is not None, interventions=counts, interrupted=interrupted,
                                        dry_run=self.dry_run, fault=fault)
                self.writer.append(episode)
        return EpisodeReport(step, success_at is not None, counts, interrupted, episode, fault)

    def close(self) -> None:
        self.console.closed = True
        self.safety.close()
        self.command_log.close()
        self.writer.close()


def percentile_ms(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


def deploy(run: DeployRunConfig) -> list[EpisodeReport]:
    """Load the checkpoint, connect, run `run.episodes` episodes, print a summary. Any error
    after connecting commands a hold before it propagates (exit non-zero)."""
    from robolearn.agents import agent_from_checkpoint
    from robolearn.checkpoint import load_checkpoint
    from robolearn.deploy.config import load_deploy_config
    from robolearn.deploy.transport import make_transport

    if not run.checkpoint:
        raise ValueError("checkpoint=<file> is required")
    overrides = {k: v for k, v in (("command", run.command), ("control_hz", run.control_hz), ("reset", run.reset)) if v}
    cfg = load_deploy_config(run.robot, run.config or None, **overrides)
    data = load_checkpoint(run.checkpoint)
    task = run.task or data["tasks"][0]
    if task not in data["tasks"] or run.robot not in data["robots"]:
        raise ValueError(f"{run.checkpoint} was trained on tasks {data['tasks']} and robots {data['robots']}; "
                         f"got task={task!r} robot={run.robot!r}")
    agent = agent_from_checkpoint(data)
    out = Path(run.out or f"runs/deploy-{time.strftime('%Y%m%d-%H%M%S')}")
    transport = make_transport(TransportConfig(run.transport, "robolearn_deploy", run.host, run.port, run.secret, run.wait,
                                               tls=run.tls, ca_cert=run.ca_cert), cfg.ros_version)
    loop = DeployLoop(cfg, agent, task, transport, out, run.dry_run)
    loop.console.start()
    reports = []
    print(f"deploy: {task} on {run.robot} via {run.transport} (ROS {cfg.ros_version}), {cfg.command} commands at "
          f"{cfg.control_hz:g} Hz, reset={cfg.reset}{' (dry run: ' + cfg.topics.preview + ')' if run.dry_run else ''}; "
          "keys: space/e e-stop, r release, q quit", flush=True)
    try:
        steps = run.steps or TASKS[task].horizon
        for episode in range(run.episodes):
            if loop.stop_requested or not loop.reset_scene(run.seed + episode, run.wait):
                break
            report = loop.run_episode(run.seed + episode, steps, run.hold_steps)
            reports.append(report)
            print(f"episode {episode}: success={report.success} steps={report.steps} interventions={report.interventions}"
                  f"{' (interrupted)' if report.interrupted else ''}{' stopped: ' + report.fault if report.fault else ''}",
                  flush=True)
            if report.interrupted:
                break
    except BaseException:
        loop.hold_safely()
        raise
    finally:
        loop.close()
        transport.close()
    wins = sum(r.success for r in reports)
    print(f"success: {wins}/{len(reports)}  {loop.latency.summary()}")
    print(f"episodes: {out / 'episodes.hdf5'}  commands: {out / 'commands.jsonl'}  safety: {out / 'safety.jsonl'}")
    return reports
