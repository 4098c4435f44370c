"""The arm side's topics, subscribed: each message validated into the input monitor, e-stop topics to the latch.

Joint states, object poses, task scalars and the cameras a policy sees are watched (a
required input silent past its timeout is stale); success, reward and the reset
acknowledgement are optional. An e-stop message that cannot be read counts as pressed.
"""
from __future__ import annotations

import time
from functools import partial
from typing import Callable

from robolearn.deploy import messages as msgs
from robolearn.deploy.config import DeployConfig
from robolearn.deploy.images import IMAGE_TRANSPORTS, read_frame
from robolearn.deploy.inputs import ArmState, InputMonitor
from robolearn.deploy.safety import SafetyLayer
from robolearn.deploy.transport import Transport


class ArmSubscriptions:
    def __init__(self, cfg: DeployConfig, transport: Transport, inputs: InputMonitor, safety: SafetyLayer,
                 slot_names: tuple[str, ...], finger_joints: list[str], on_transport_delay: Callable[[float], None],
                 cameras: tuple[str, ...] = (), image_size: int = 0,
                 on_frame_delay: Callable[[float], None] = lambda delay: None):
        """`on_transport_delay` gets each stamped joint state's delay (its header stamp -> its receipt), in s.
        `cameras`: those the policy sees, read into `image_size` frames (each must have a topic in
        `cfg.cameras`); `on_frame_delay` gets each stamped frame's delay (its header stamp -> decoded)."""
        self.cfg, self.safety, self.finger_joints = cfg, safety, finger_joints
        self.on_transport_delay, self.on_frame_delay, self.image_size = on_transport_delay, on_frame_delay, image_size
        topics, limits = cfg.topics, cfg.safety
        uses_scalars = any(name in ("articulation", "aux") for name in slot_names)
        watched = [(name, getattr(topics, name), msg_type, timeout, apply) for name, msg_type, timeout, apply in (
            ("joint_states", msgs.JOINT_STATE, limits.state_timeout, self._apply_joint_state),
            ("object_poses", msgs.POSE_ARRAY, limits.input_timeout, apply_poses),
            ("task_scalars", msgs.FLOAT_ARRAY, limits.input_timeout if uses_scalars else None, apply_scalars),
            ("success", msgs.BOOL, None, apply_success),
            ("reward", msgs.FLOAT64, None, apply_reward),
            ("reset_done", msgs.INT32, None, apply_reset_done))]
        watched += [(camera_input(camera), cfg.cameras[camera], IMAGE_TRANSPORTS[cfg.image_transport],
                     limits.input_timeout, partial(self._apply_image, camera))
                    for camera in cameras]
        for name, topic, msg_type, timeout, apply in watched:
            if topic:
                inputs.watch(name, topic, timeout)
                transport.subscribe(topic, msg_type, lambda m, n=name, a=apply: inputs.receive(n, m, a))
        transport.subscribe(topics.estop, msgs.BOOL, self._on_estop)
        transport.subscribe(topics.estop_reset, msgs.EMPTY,
                            lambda m: safety.estop.release("reset_topic", time.monotonic()))
        if topics.estop_heartbeat:
            transport.subscribe(topics.estop_heartbeat, msgs.EMPTY, lambda m: safety.estop.on_heartbeat(time.monotonic()))

    def _apply_joint_state(self, msg: msgs.Message, state: ArmState) -> bool:
        arm = msgs.read_joints(msg, self.cfg.joint_names)
        fingers = msgs.read_joints(msg, self.finger_joints)
        state.joint_names_seen = list(msg.get("name", []))
        if fingers is not None:
            state.fingers = fingers[0]
        if arm is None:
            return False  # a gripper-only joint state
        state.q, state.qd = arm
        state.stamp = time.monotonic()
        if "header" in msg:
            self.on_transport_delay(time.time() - msgs.stamp_seconds(msg["header"]["stamp"]))
        return True

    def _apply_image(self, camera: str, msg: msgs.Message, state: ArmState) -> None:
        state.images[camera] = read_frame(msg, self.cfg.image_transport, self.image_size)
        state.image_stamps[camera] = time.monotonic()
        if "header" in msg:
            self.on_frame_delay(time.time() - msgs.stamp_seconds(msg["header"]["stamp"]))

    def _on_estop(self, msg: msgs.Message) -> None:
        now = time.monotonic()
        try:
            engaged = bool(msgs.read_scalar(msg, bool))
        except ValueError as err:  # an e-stop message that cannot be read counts as pressed
            self.safety.log({"t": now, "input": "estop", "topic": self.cfg.topics.estop, "fault": f"invalid: {err}"})
            engaged = True
        self.safety.estop.on_topic(engaged, now)


def camera_input(camera: str) -> str:
    """A camera's input name (in faults and safety.jsonl), as its frames are named in episode files."""
    return f"{camera}_image"


def apply_poses(msg: msgs.Message, state: ArmState) -> None:
    state.slots.update(msgs.read_pose_array(msg))


def apply_scalars(msg: msgs.Message, state: ArmState) -> None:
    state.slots.update(msgs.read_task_scalars(msg))


def apply_success(msg: msgs.Message, state: ArmState) -> None:
    state.success = bool(msgs.read_scalar(msg, bool))


def apply_reward(msg: msgs.Message, state: ArmState) -> None:
    state.reward = float(msgs.read_scalar(msg, float))


def apply_reset_done(msg: msgs.Message, state: ArmState) -> None:
    state.reset_done = int(msgs.read_scalar(msg, int))
