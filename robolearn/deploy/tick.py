"""One control tick of the deploy loop, with no I/O: arm state in, command and decisions out.

`ControlTick` builds the simulator's observation from the newest valid arm state (and the
newest frame of every camera the policy sees), runs the policy, passes its action through
the safety layer and turns the safe action into the command to send: a twist, or joint targets through the simulator's IK (bounded again by
the safety layer and checked finite). It touches no transport, file or clock: the deploy
loop (robolearn.deploy.loop) hands it the state, the input faults and the time, and
publishes and logs what it returns, so every decision can be tested without ROS.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.deploy.commands import action_to_twist, gripper_opening
from robolearn.deploy.inputs import ArmState
from robolearn.deploy.observation import ObservationBuilder
from robolearn.deploy.safety import ArmReading, SafetyDecision, SafetyLayer
from robolearn.evaluate import cameras_of
from robolearn.learners import Agent
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.controller import EndEffectorController
from robolearn.spec import STATE_SLICES

COMMAND_MODES = ("twist", "joints")


@dataclass(frozen=True)
class TickInputs:
    state: ArmState  # a snapshot of the newest valid value of every input
    faults: dict[str, str]  # input -> fault (invalid or stale), from the input monitor
    now: float  # monotonic s


@dataclass(frozen=True)
class Command:
    """What goes to the arm: a twist (linear m/s, angular rad/s) or joint targets, and the gripper opening (m)."""
    gripper: float
    linear: np.ndarray | None = None
    angular: np.ndarray | None = None
    joints: np.ndarray | None = None

    def as_row(self) -> dict[str, object]:
        row: dict[str, object] = {"gripper": self.gripper}
        if self.joints is not None:
            row["joints"] = self.joints.tolist()
        else:
            row["twist"] = [*np.asarray(self.linear).tolist(), *np.asarray(self.angular).tolist()]
        return row


@dataclass(frozen=True)
class TickOutput:
    obs: np.ndarray  # the observation the policy saw
    images: dict[str, np.ndarray]  # the camera frames it saw ({} for a state policy)
    policy_action: np.ndarray  # before the safety layer
    decision: SafetyDecision  # the safe action, its interventions and the faults held for
    command: Command


class ControlTick:
    def __init__(self, builder: ObservationBuilder, command_mode: str, agent: Agent, task_id: int, robot_id: int,
                 safety: SafetyLayer, slot_names: tuple[str, ...]):
        if command_mode not in COMMAND_MODES:
            raise ValueError(f"command={command_mode!r}; allowed: {', '.join(COMMAND_MODES)}")
        self.builder = builder
        self.spec = self.builder.model.spec
        self.command_mode, self.agent, self.safety, self.slot_names = command_mode, agent, safety, slot_names
        self.task_id, self.robot_id = np.array([task_id]), np.array([robot_id])
        self.ik = EndEffectorController(self.builder.model.sim, self.spec.max_pos_step, self.spec.max_rot_step,
                                        CONTROL_DT)
        self.explore = False  # sample from the policy instead of its mean (a fleet actor learning on the arm)
        seen = cameras_of(agent)
        self.cameras: tuple[str, ...] = tuple(seen.get("cameras", ()))
        self.image_size: int = seen.get("image_size", 0)

    def reset_episode(self) -> None:
        """The state a simulated episode starts from (DeployLimits.reset does the same)."""
        if hasattr(self.agent, "reset_episode"):
            self.agent.reset_episode()
        self.ik.reset()
        self.safety.reset()

    def observe(self, state: ArmState) -> np.ndarray:
        """The simulator's observation of `state`; leaves the arm model at its joints (for the Jacobian and IK)."""
        fingers = state.fingers
        if fingers is None:  # an arm that reports no finger joints: assume the last commanded opening
            fingers = np.full(2, gripper_opening(self.safety.previous[6], self.spec) / 2)
        return self.builder.build(state.q, state.qd, fingers, {k: state.slots[k] for k in self.slot_names})

    def __call__(self, inputs: TickInputs) -> TickOutput:
        state = inputs.state
        obs = self.observe(state)
        images = {camera: state.images[camera] for camera in self.cameras}
        frames = {"images": {camera: frame[None] for camera, frame in images.items()}} if self.cameras else {}
        action = self.agent.act(obs[None], self.task_id, self.robot_id, deterministic=not self.explore, **frames)[0]
        jacobian = self.builder.model.tcp_jacobian() if self.command_mode == "twist" else None
        reading = ArmReading(obs[STATE_SLICES["tcp_pos"]].astype(np.float64), state.q, jacobian)
        decision = self.safety.filter(action, reading, inputs.faults, inputs.now)
        return TickOutput(obs, images, np.asarray(action), decision, self.command(decision, state.q, inputs.now))

    def command(self, decision: SafetyDecision, q_now: np.ndarray | None, now: float) -> Command:
        """The safe action as a command; holding in joint mode commands the measured joints."""
        action = decision.action
        gripper = gripper_opening(action[6], self.spec)
        if self.command_mode == "twist" or q_now is None:
            linear, angular = action_to_twist(action, self.spec)
            return Command(gripper, linear=linear, angular=angular)
        if decision.holding:
            self.ik.reset()  # resume from where the arm is held, not from a stale reference
            return Command(gripper, joints=np.asarray(q_now, dtype=np.float64))
        q_target, _ = self.ik.joint_targets(action)  # the arm model is at q_now (observe)
        q_target, reasons = self.safety.filter_joints(q_target, q_now, now)
        decision.interventions.extend(reasons)
        if not np.all(np.isfinite(q_target)):  # the final check, after the IK
            decision.interventions.append("nonfinite_command")
            q_target = np.asarray(q_now, dtype=np.float64)
        return Command(gripper, joints=q_target)

    def hold(self, q_now: np.ndarray | None, now: float) -> Command:
        return self.command(SafetyDecision(self.safety.hold(), ["stop"]), q_now, now)
