"""The deploy loop: the I/O around the control tick (robolearn.deploy.tick).

Each control period (`control_hz` of `configs/deploy/<robot>.yaml`) it hands the tick the
newest valid arm state and the current input faults, publishes the command the tick
returns (under the preview namespace with `dry_run`), and records: every command to
`<out>/commands.jsonl`, every safety decision and event to `<out>/safety.jsonl`, every
episode to `<out>/episodes.hdf5` (source=real) as soon as it ends, so an interrupt loses
nothing finished and the interrupted episode is kept too. Scenes are reset by the
operator, on request over topics, or not at all. The operator's keys engage and release
the latched e-stop and end the run.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robolearn.demos.episodes import Episode, EpisodeBuffer, EpisodeWriter, file_metadata
from robolearn.deploy import messages as msgs
from robolearn.deploy.config import DeployConfig
from robolearn.deploy.images import IMAGE_TRANSPORTS
from robolearn.deploy.inputs import InputMonitor
from robolearn.deploy.jsonl import JsonlLog
from robolearn.deploy.latency import Latency
from robolearn.deploy.observation import ObservationBuilder, task_slot_names
from robolearn.deploy.operator import ESTOP_KEYS, QUIT_KEYS, RELEASE_KEYS, OperatorConsole
from robolearn.deploy.safety import SafetyLayer
from robolearn.deploy.subscriptions import ArmSubscriptions
from robolearn.deploy.tick import Command, ControlTick, TickInputs
from robolearn.deploy.transport import Transport
from robolearn.learners import Agent
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.tasks import TASKS
from robolearn.spec import STATE_DIM

RESET_RETRY = 0.25  # s between reset requests until the scene acknowledges


@dataclass
class EpisodeReport:
    steps: int
    success: bool
    interventions: dict[str, int]
    interrupted: bool = False
    episode: Episode | None = None  # as recorded
    fault: str = ""  # the input fault that stopped the episode (on_fault=stop)


class DeployLoop:
    def __init__(self, cfg: DeployConfig, agent: Agent, task: str, transport: Transport, out: Path,
                 dry_run: bool = False):
        if task not in TASKS:
            raise ValueError(f"task={task!r}; allowed: {', '.join(TASKS)}")
        if agent.vocab.obs_dim != STATE_DIM:  # it was trained next to an external env with a larger state
            raise ValueError(f"checkpoint: the policy takes {agent.vocab.obs_dim}-d states; a deployed policy takes the "
                             f"suite's {STATE_DIM}-d state")
        self.cfg, self.task, self.transport, self.out, self.dry_run = cfg, task, transport, out, dry_run
        out.mkdir(parents=True, exist_ok=True)
        self.safety_log = JsonlLog(out / "safety.jsonl")
        self.command_log = JsonlLog(out / "commands.jsonl")
        builder = ObservationBuilder(cfg.robot)
        spec, slot_names = builder.model.spec, task_slot_names(task, cfg.robot)
        lo, hi = builder.model.sim.arm_limits()
        self.safety = SafetyLayer(cfg.safety, spec.max_pos_step, spec.max_rot_step, CONTROL_DT, lo, hi,
                                  self.safety_log, heartbeat=bool(cfg.topics.estop_heartbeat))
        self.tick = ControlTick(builder, cfg.command, agent, agent.vocab.task_id(task), agent.vocab.robot_id(cfg.robot),
                                self.safety, slot_names)
        cfg.check_camera_topics(self.tick.cameras, "checkpoint: the policy sees cameras")
        self.writer = EpisodeWriter(out / "episodes.hdf5", file_metadata(
            task, cfg.robot, "ros", "real", control_hz=cfg.control_hz, command=cfg.command, dry_run=dry_run))
        self.period = 1.0 / cfg.control_hz
        self.inputs = InputMonitor(self.safety.log)
        self.stop_requested = False
        self.console = OperatorConsole(self.handle_key)
        self.latency = Latency()
        ArmSubscriptions(cfg, transport, self.inputs, self.safety, slot_names, list(spec.finger_joints),
                         lambda delay: self.latency.transport.append(delay), self.tick.cameras, self.tick.image_size,
                         lambda delay: self.latency.frames.append(delay))

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

    def publish(self, command: Command) -> None:
        if command.joints is not None:
            message = msgs.joint_trajectory(self.cfg.joint_names, command.joints, CONTROL_DT)
            self.transport.publish(self._topic("trajectory"), msgs.JOINT_TRAJECTORY, message)
        else:
            message = msgs.twist_stamped(command.linear, command.angular, self.cfg.frame_id)
            self.transport.publish(self._topic("twist"), msgs.TWIST_STAMPED, message)
        self.transport.publish(self._topic("gripper"), msgs.FLOAT64, msgs.scalar(command.gripper))

    def hold(self) -> None:
        self.publish(self.tick.hold(self.inputs.snapshot().q, time.monotonic()))

    def hold_safely(self) -> None:
        """Hold on the way out of an error: never raises, so the original error is reported."""
        try:
            self.hold()
        except Exception as err:  # the transport itself may be what failed
            self.safety.log({"t": time.monotonic(), "hold_failed": f"{type(err).__name__}: {err}"})

    # ---------------------------------------------------------------- scenes
    def wait_for_state(self, after: float, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            snap = self.inputs.snapshot()
            frames = all(snap.image_stamps.get(camera, -np.inf) > after for camera in self.tick.cameras)
            if snap.q is not None and snap.stamp > after and "goal_pos" in snap.slots and frames:
                return
            time.sleep(0.01)
        seen = snap.joint_names_seen
        missing = [self.cfg.cameras[c] for c in self.tick.cameras if snap.image_stamps.get(c, -np.inf) <= after]
        raise TimeoutError(f"no arm state within {timeout:.0f} s: nothing on {self.cfg.topics.joint_states} "
                           f"({msgs.JOINT_STATE}, naming {self.cfg.joint_names}) and {self.cfg.topics.object_poses} "
                           f"({msgs.POSE_ARRAY})" + (f"; the joint states name {seen}" if seen else "")
                           + (f"; no valid frame on {', '.join(missing)} ({IMAGE_TRANSPORTS[self.cfg.image_transport]})"
                              if missing else ""))

    def reset_scene(self, seed: int, timeout: float) -> bool:
        """Reset the scene as the config says (a person, the request/acknowledge topics, or not
        at all) and wait for a fresh state; False when the run was stopped while waiting."""
        self.wait_for_state(-np.inf, timeout)
        # An episode starts as the simulator's do: standstill, gripper open. Commanded before the
        # reset, so the scene is reset with the gripper open and the rate limit ramps from there.
        self.tick.reset_episode()
        self.hold()
        if self.cfg.reset == "operator":
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

    # ---------------------------------------------------------------- episodes
    def run_episode(self, index: int, steps: int, hold_steps: int) -> EpisodeReport:
        buffer = EpisodeBuffer({"task": self.task, "robot": self.cfg.robot, "seed": index})
        self.tick.reset_episode()
        counts: dict[str, int] = {}
        success_at, step, interrupted, episode, fault = None, 0, False, None, ""
        snap = self.inputs.snapshot()
        next_tick = time.monotonic()
        try:
            while step < steps and not self.stop_requested:
                started = time.monotonic()
                out = self.tick(TickInputs(snap, self.inputs.faults(started), started))
                self.publish(out.command)
                done_at = time.monotonic()
                self.latency.add_tick(done_at - snap.stamp, done_at - started)
                decision = out.decision
                for reason in decision.interventions:
                    counts[reason] = counts.get(reason, 0) + 1
                self.command_log({"t": done_at, "episode": index, "step": step, "dry_run": self.dry_run,
                                  "policy": out.policy_action.tolist(), **out.command.as_row(),
                                  "interventions": decision.interventions})
                if decision.faults and self.cfg.on_fault == "stop":
                    fault = "; ".join(f"{k}: {v}" for k, v in decision.faults.items())
                    break
                next_tick += self.period
                if time.monotonic() > next_tick:
                    self.latency.overruns += 1
                    next_tick = time.monotonic()
                time.sleep(max(0.0, next_tick - time.monotonic()))
                snap = self.inputs.snapshot()
                next_obs = self.tick.observe(snap)
                # The cell's reward when it publishes one, else success as a sparse reward.
                reward = snap.reward if snap.reward is not None else float(snap.success)
                buffer.add({"state": out.obs, "images": out.images}, decision.action, reward, {"state": next_obs},
                           np.zeros(0), label=out.policy_action.astype(np.float32))
                step += 1
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
        self.safety_log.close()
        self.command_log.close()
        self.writer.close()
