"""The deploy loop: a checkpoint's policy driving an arm through ROS, behind the safety layer.

Each control tick (`control_hz` of `configs/deploy/<robot>.yaml`) it takes the newest arm
state (joint states, object poses, task scalars), builds the simulator's observation,
runs the policy, passes the action through the safety layer and sends it as a twist or a
joint trajectory (through the simulator's IK) plus the gripper; with `dry_run` the
commands go under the preview namespace instead. Every command goes to
`<out>/commands.jsonl`, every safety decision to `<out>/safety.jsonl`, and every episode
into `<out>/episodes.hdf5` (source=real) as soon as it ends, so an interrupt loses nothing
finished and the interrupted episode is kept too.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demos.episodes import Episode, EpisodeBuffer, EpisodeWriter, file_metadata
from robolearn.deploy import messages as msgs
from robolearn.deploy.commands import action_to_twist, gripper_opening
from robolearn.deploy.config import DeployConfig
from robolearn.deploy.observation import ObservationBuilder, task_slot_names
from robolearn.deploy.safety import SafetyDecision, SafetyLayer
from robolearn.deploy.transport import Transport, TransportConfig
from robolearn.learners import Agent
from robolearn.spec import STATE_SLICES
from sims.backend import CONTROL_DT
from sims.controller import EndEffectorController
from sims.robots import ROBOTS
from sims.tasks import TASKS

RESET_RETRY = 0.25  # s between reset requests until the scene acknowledges
ESTOP_KEYS, RELEASE_KEYS, QUIT_KEYS = " e", "r", "q"


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
    config: str = ""  # deploy YAML; default: configs/deploy/<robot>.yaml
    out: str = ""  # default: runs/deploy-<time>
    wait: float = 10.0  # s to wait for the arm's first state (and for a reset's acknowledgement)
    seed: int = 0  # first episode's reset seed (scenes that reset on request, as the twin)
    transport: str = "rospy"  # rospy | rosbridge
    host: str = "localhost"  # rosbridge server
    port: int = 9090
    secret: str = ""  # rosbridge authentication


@dataclass
class ArmState:
    """The newest of everything the arm side publishes; written by transport threads."""
    q: np.ndarray | None = None
    qd: np.ndarray | None = None
    fingers: np.ndarray | None = None
    stamp: float = -np.inf  # monotonic receipt time of the joint state
    slots: dict[str, np.ndarray] = field(default_factory=dict)
    success: bool = False
    reward: float | None = None  # from `topics.reward` when the cell publishes one
    reset_done: int | None = None


@dataclass
class EpisodeReport:
    steps: int
    success: bool
    interventions: dict[str, int]
    interrupted: bool = False
    episode: Episode | None = None  # as recorded


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
        self.safety = SafetyLayer(cfg.safety, self.spec.max_pos_step, CONTROL_DT, lo, hi, out / "safety.jsonl")
        self.command_log = open(out / "commands.jsonl", "a")
        self.writer = EpisodeWriter(out / "episodes.hdf5", file_metadata(
            task, cfg.robot, "ros", "real", control_hz=cfg.control_hz, command=cfg.command, dry_run=dry_run))
        self.task_id, self.robot_id = list(TASKS).index(task), ROBOTS.index(cfg.robot)
        self.dry_run = dry_run
        self.explore = False  # sample from the policy instead of its mean (a fleet actor learning on the arm)
        self.period = 1.0 / cfg.control_hz
        self.state = ArmState()
        self.lock = threading.Lock()
        self.stop_requested = False
        self.latency: list[float] = []  # s from the state's receipt to the command sent
        self.compute: list[float] = []  # s from the tick's start to the command sent
        self.overruns = 0
        topics = cfg.topics
        transport.subscribe(topics.joint_states, msgs.JOINT_STATE, self._on_joint_state)
        transport.subscribe(topics.object_poses, msgs.POSE_ARRAY, self._on_poses)
        transport.subscribe(topics.estop, msgs.BOOL, self._on_estop)
        for topic, msg_type, callback in ((topics.task_scalars, msgs.FLOAT_ARRAY, self._on_scalars),
                                          (topics.success, msgs.BOOL, self._on_success),
                                          (topics.reward, msgs.FLOAT64, self._on_reward),
                                          (topics.reset_done, msgs.INT32, self._on_reset_done)):
            if topic:
                transport.subscribe(topic, msg_type, callback)

    # ---------------------------------------------------------------- state in
    def _on_joint_state(self, msg: msgs.Message) -> None:
        arm = msgs.read_joints(msg, self.cfg.joint_names)
        fingers = msgs.read_joints(msg, list(self.spec.finger_joints))
        with self.lock:
            if arm is not None:
                self.state.q, self.state.qd = arm
                self.state.stamp = time.monotonic()
            if fingers is not None:
                self.state.fingers = fingers[0]

    def _on_poses(self, msg: msgs.Message) -> None:
        slots = msgs.read_pose_array(msg)
        with self.lock:
            self.state.slots.update(slots)

    def _on_scalars(self, msg: msgs.Message) -> None:
        slots = msgs.read_task_scalars(msg)
        with self.lock:
            self.state.slots.update(slots)

    def _on_success(self, msg: msgs.Message) -> None:
        with self.lock:
            self.state.success = bool(msg["data"])

    def _on_reward(self, msg: msgs.Message) -> None:
        with self.lock:
            self.state.reward = float(msg["data"])

    def _on_reset_done(self, msg: msgs.Message) -> None:
        with self.lock:
            self.state.reset_done = int(msg["data"])

    def _on_estop(self, msg: msgs.Message) -> None:
        if msg["data"]:
            self.safety.estop()
        else:
            self.safety.release()

    def handle_key(self, key: str) -> None:
        """The operator's keys: space or e engages the e-stop, r releases it, q ends the run."""
        if key in ESTOP_KEYS:
            self.safety.estop()
        elif key in RELEASE_KEYS:
            self.safety.release()
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
            message = msgs.joint_trajectory(self.cfg.joint_names, q_target, CONTROL_DT)
            self.transport.publish(self._topic("trajectory"), msgs.JOINT_TRAJECTORY, message)
            sent["joints"] = q_target.tolist()
        sent["gripper"] = gripper_opening(action[6], self.spec)
        self.transport.publish(self._topic("gripper"), msgs.FLOAT64, msgs.scalar(sent["gripper"]))
        return sent

    def hold(self) -> None:
        with self.lock:
            q = None if self.state.q is None else self.state.q.copy()
        self.send(SafetyDecision(self.safety.hold(), ["stop"]), q)

    # ---------------------------------------------------------------- the loop
    def wait_for_state(self, after: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                ready = self.state.q is not None and self.state.stamp > after and "goal_pos" in self.state.slots
            if ready:
                return
            time.sleep(0.01)
        raise TimeoutError(f"no arm state within {timeout:.0f} s: nothing on {self.cfg.topics.joint_states} "
                           f"({msgs.JOINT_STATE}, naming {self.cfg.joint_names}) and {self.cfg.topics.object_poses} "
                           f"({msgs.POSE_ARRAY})")

    def reset_scene(self, seed: int, timeout: float) -> None:
        """Ask the scene to reset (the twin does; a real cell resets by hand) and wait for the
        acknowledgement and a fresh state."""
        self.wait_for_state(-np.inf, timeout)
        if not self.cfg.topics.reset:
            return
        deadline = time.monotonic() + timeout
        while True:
            self.transport.publish(self.cfg.topics.reset, msgs.INT32, msgs.scalar(seed))
            time.sleep(RESET_RETRY)
            with self.lock:
                done = self.state.reset_done == seed
            if done:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the scene did not acknowledge reset {seed} on {self.cfg.topics.reset_done} "
                                   f"within {timeout:.0f} s")
        with self.lock:
            self.state.success = False
        self.wait_for_state(time.monotonic(), timeout)

    def observe(self) -> tuple[np.ndarray, ArmState]:
        with self.lock:
            s = self.state
            snap = ArmState(s.q.copy(), s.qd.copy(), None if s.fingers is None else s.fingers.copy(), s.stamp,
                            {k: v.copy() for k, v in s.slots.items()}, s.success, s.reward)
        if snap.fingers is None:  # an arm that reports no finger joints: assume the last commanded opening
            snap.fingers = np.full(2, gripper_opening(self.safety.previous[6], self.spec) / 2)
        obs = self.builder.build(snap.q, snap.qd, snap.fingers, {k: snap.slots[k] for k in self.slot_names})
        return obs, snap

    def run_episode(self, index: int, steps: int, hold_steps: int) -> EpisodeReport:
        buffer = EpisodeBuffer({"task": self.task, "robot": self.cfg.robot, "seed": index})
        if hasattr(self.agent, "reset_episode"):
            self.agent.reset_episode()
        self.ik.reset()
        counts: dict[str, int] = {}
        success_at, step, interrupted, episode = None, 0, False, None
        obs, snap = self.observe()
        next_tick = time.monotonic()
        try:
            while step < steps and not self.stop_requested:
                tick = time.monotonic()
                action = self.agent.act(obs[None], np.array([self.task_id]), np.array([self.robot_id]),
                                        deterministic=not self.explore)[0]
                decision = self.safety.filter(action, obs[STATE_SLICES["tcp_pos"]], snap.stamp, tick)
                sent = self.send(decision, snap.q)
                done_at = time.monotonic()
                self.latency.append(done_at - snap.stamp)
                self.compute.append(done_at - tick)
                for reason in decision.interventions:
                    counts[reason] = counts.get(reason, 0) + 1
                self.command_log.write(json.dumps({"t": done_at, "episode": index, "step": step, "dry_run": self.dry_run,
                                                   "policy": np.asarray(action).tolist(), **sent,
                                                   "interventions": decision.interventions}) + "\n")
                next_tick += self.period
                if time.monotonic() > next_tick:
                    self.overruns += 1
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
            self.hold()
            if buffer.actions:
                episode = buffer.finish(success=success_at is not None, interventions=counts, interrupted=interrupted,
                                        dry_run=self.dry_run)
                self.writer.append(episode)
        return EpisodeReport(step, success_at is not None, counts, interrupted, episode)

    def close(self) -> None:
        self.safety.close()
        self.command_log.close()


def percentile_ms(values: list[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


def watch_keys(loop: DeployLoop) -> None:
    """E-stop by key when run from a terminal: single keypresses, no Enter needed."""
    if not sys.stdin.isatty():
        return
    import termios
    import tty

    def read() -> None:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        try:
            tty.setcbreak(fd)
            while not loop.stop_requested:
                loop.handle_key(sys.stdin.read(1))
        finally:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    threading.Thread(target=read, daemon=True).start()


def deploy(run: DeployRunConfig) -> list[EpisodeReport]:
    """Load the checkpoint, connect, run `run.episodes` episodes, print a summary."""
    from robolearn.agents import agent_from_checkpoint
    from robolearn.checkpoint import load_checkpoint
    from robolearn.deploy.config import load_deploy_config
    from robolearn.deploy.transport import make_transport

    if not run.checkpoint:
        raise ValueError("checkpoint=<file> is required")
    overrides = {k: v for k, v in (("command", run.command), ("control_hz", run.control_hz)) if v}
    cfg = load_deploy_config(run.robot, run.config or None, **overrides)
    data = load_checkpoint(run.checkpoint)
    task = run.task or data["tasks"][0]
    if task not in data["tasks"] or run.robot not in data["robots"]:
        raise ValueError(f"{run.checkpoint} was trained on tasks {data['tasks']} and robots {data['robots']}; "
                         f"got task={task!r} robot={run.robot!r}")
    agent = agent_from_checkpoint(data)
    out = Path(run.out or f"runs/deploy-{time.strftime('%Y%m%d-%H%M%S')}")
    transport = make_transport(TransportConfig(run.transport, "robolearn_deploy", run.host, run.port, run.secret, run.wait))
    loop = DeployLoop(cfg, agent, task, transport, out, run.dry_run)
    watch_keys(loop)
    reports = []
    print(f"deploy: {task} on {run.robot} via {run.transport}, {cfg.command} commands at {cfg.control_hz:g} Hz"
          f"{' (dry run: ' + cfg.topics.preview + ')' if run.dry_run else ''}; keys: space/e e-stop, r release, q quit")
    try:
        steps = run.steps or TASKS[task].horizon
        for episode in range(run.episodes):
            if loop.stop_requested:
                break
            loop.reset_scene(run.seed + episode, run.wait)
            report = loop.run_episode(run.seed + episode, steps, run.hold_steps)
            reports.append(report)
            print(f"episode {episode}: success={report.success} steps={report.steps} interventions={report.interventions}"
                  f"{' (interrupted)' if report.interrupted else ''}")
            if report.interrupted:
                break
    finally:
        loop.close()
        transport.close()
    wins = sum(r.success for r in reports)
    print(f"success: {wins}/{len(reports)}  latency p50 {percentile_ms(loop.latency, 50):.2f} ms "
          f"p99 {percentile_ms(loop.latency, 99):.2f} ms  overruns {loop.overruns}")
    print(f"episodes: {out / 'episodes.hdf5'}  commands: {out / 'commands.jsonl'}  safety: {out / 'safety.jsonl'}")
    return reports
