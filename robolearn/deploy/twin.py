"""The digital twin: a simulated arm behind the same ROS interface as the real one.

`robolearn twin robot=panda backend=mujoco task=reach` steps the task's env in real time
at the control rate, publishes the arm's joint states (arm and finger joints), the task's
object/goal poses and scalars, a success flag and the frames of the cameras named in
`cameras` (rendered as the env renders them) on the topics of `configs/deploy/<robot>.yaml`,
and obeys the commands a deploy loop sends: twists or joint trajectories, and the gripper. A command older than `command_timeout` is dropped
and the arm holds, as a servo controller does. A reset request resets the scene with the
given seed and is acknowledged on `reset_done`.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from robolearn.deploy import messages as msgs
from robolearn.deploy.commands import gripper_action, twist_to_action
from robolearn.deploy.config import DeployConfig, load_deploy_config
from robolearn.deploy.images import IMAGE_TRANSPORTS, compressed_image, image
from robolearn.deploy.transport import Transport, TransportConfig, make_transport
from robolearn.evaluate import cameras_of
from robolearn.learners import Agent
from robolearn.spec import ACTION_DIM
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.env import RobolearnEnv


@dataclass
class TwinConfig:
    robot: str = "panda"
    backend: str = "mujoco"
    task: str = "reach"
    seed: int = 0
    dr: str = "none"  # none | uniform | adr: randomized physics, as a real arm differs from the sim
    cameras: list[str] = field(default_factory=list)  # cameras to publish (on the deploy YAML's `cameras` topics)
    image_size: int = 84  # their frames' side in pixels
    state_hz: float = 0.0  # joint state publishing rate; 0: once per control step
    command_timeout: float = 0.15  # s after which a command is stale and the arm holds
    seconds: float = 0.0  # run time; 0: until interrupted
    config: str = ""  # deploy YAML naming the topics; default: configs/deploy/<robot>.yaml
    transport: str = "rospy"  # rospy | rosbridge
    host: str = "localhost"  # rosbridge server
    port: int = 9090
    secret: str = ""
    tls: bool = False  # rosbridge over wss://
    ca_cert: str = ""  # PEM certificate to trust for tls


class Twin:
    def __init__(self, cfg: TwinConfig, deploy: DeployConfig, transport: Transport):
        self.cfg, self.deploy, self.transport = cfg, deploy, transport
        deploy.check_camera_topics(cfg.cameras, "cameras:")
        self.env = RobolearnEnv(cfg.task, cfg.robot, cfg.backend, dr=cfg.dr, cameras=cfg.cameras,
                                image_size=cfg.image_size)
        self.spec = self.env.robot
        self.joint_names = list(deploy.joint_names) + list(self.spec.finger_joints)
        self.lock = threading.Lock()
        self.command: tuple[str, np.ndarray, float] | None = None  # (twist | joints, value, receipt time)
        self.opening = 2 * self.spec.finger_max  # open
        self.pending_reset: int | None = None
        self.success, self.reward = False, 0.0
        self.env.reset(seed=cfg.seed)
        self.images: dict[str, np.ndarray] = {}  # the last step's camera frames
        topics = deploy.topics
        for topic, msg_type, callback in ((topics.twist, msgs.TWIST_STAMPED, self._on_twist),
                                          (topics.trajectory, msgs.JOINT_TRAJECTORY, self._on_trajectory),
                                          (topics.gripper, msgs.FLOAT64, self._on_gripper),
                                          (topics.reset, msgs.INT32, self._on_reset)):
            if topic:  # a config for one command mode names only its own command topic
                transport.subscribe(topic, msg_type, callback)

    # ---------------------------------------------------------------- commands in
    def _on_twist(self, msg: msgs.Message) -> None:
        linear, angular = msgs.read_twist(msg)
        with self.lock:
            self.command = ("twist", np.concatenate([linear, angular]), time.monotonic())

    def _on_trajectory(self, msg: msgs.Message) -> None:
        q = msgs.read_trajectory(msg, self.deploy.joint_names)
        with self.lock:
            self.command = ("joints", q, time.monotonic())

    def _on_gripper(self, msg: msgs.Message) -> None:
        with self.lock:
            self.opening = float(msg["data"])

    def _on_reset(self, msg: msgs.Message) -> None:
        with self.lock:
            self.pending_reset = int(msg["data"])

    # ---------------------------------------------------------------- simulation
    def tick(self) -> None:
        """One control step: reset if asked, apply the freshest command (or hold), publish."""
        with self.lock:
            reset, self.pending_reset = self.pending_reset, None
            command, opening = self.command, self.opening
        if reset is not None:
            self.env.reset(seed=reset)
            self.success, self.reward = False, 0.0
            with self.lock:
                self.command = None
            self.transport.publish(self.deploy.topics.reset_done, msgs.INT32, msgs.scalar(reset))
        if command is not None and time.monotonic() - command[2] > self.cfg.command_timeout:
            command = None
        if command is not None and command[0] == "joints":
            obs, reward, _, _, info = self.env.step_targets(command[1], opening / 2)
        else:
            action = np.zeros(ACTION_DIM)
            action[6] = gripper_action(opening, self.spec)
            if command is not None:
                action = twist_to_action(command[1][:3], command[1][3:], opening, self.spec)
            obs, reward, _, _, info = self.env.step(action)
        self.success |= bool(info["success"])
        self.reward = float(reward)
        self.images = obs.get("images", {})
        self.publish_state()
        self.publish_images()

    def publish_images(self) -> None:
        """Each camera's newest frame, once per control step (as a camera driver at the control rate)."""
        transport, msg_type = self.deploy.image_transport, IMAGE_TRANSPORTS[self.deploy.image_transport]
        for camera, frame in self.images.items():
            message = image(frame, camera) if transport == "raw" else compressed_image(frame, "png", camera)
            self.transport.publish(self.deploy.cameras[camera], msg_type, message)

    def publish_state(self) -> None:
        sim, topics = self.env.sim, self.deploy.topics
        q = np.concatenate([sim.arm_positions(), sim.finger_positions()])
        qd = np.concatenate([sim.arm_velocities(), np.zeros(2)])
        self.transport.publish(topics.joint_states, msgs.JOINT_STATE, msgs.joint_state(self.joint_names, q, qd))
        slots = self.env.task.observe(sim)
        self.transport.publish(topics.object_poses, msgs.POSE_ARRAY, msgs.pose_array(slots, self.deploy.frame_id))
        if topics.task_scalars:
            self.transport.publish(topics.task_scalars, msgs.FLOAT_ARRAY, msgs.task_scalars(slots))
        if topics.success:
            self.transport.publish(topics.success, msgs.BOOL, msgs.scalar(self.success))
        if topics.reward:
            self.transport.publish(topics.reward, msgs.FLOAT64, msgs.scalar(self.reward))

    def run(self) -> None:
        """Real time: a control step every CONTROL_DT, joint states in between at `state_hz`."""
        publish_dt = 1.0 / self.cfg.state_hz if self.cfg.state_hz > 0 else CONTROL_DT
        start = next_tick = next_publish = time.monotonic()
        while not self.cfg.seconds or time.monotonic() - start < self.cfg.seconds:
            now = time.monotonic()
            if now >= next_tick:
                self.tick()
                next_tick += CONTROL_DT
                next_publish = now + publish_dt
            elif now >= next_publish:
                self.publish_state()
                next_publish += publish_dt
            time.sleep(max(0.0, min(next_tick, next_publish) - time.monotonic()))

    def close(self) -> None:
        self.env.close()


def camera_overrides(agent: Agent) -> list[str]:
    """The `robolearn twin` options that publish the frames `agent` sees ([] for a state policy)."""
    seen = cameras_of(agent)
    return [f"cameras=[{','.join(seen['cameras'])}]", f"image_size={seen['image_size']}"] if seen else []


def run_twin(cfg: TwinConfig) -> None:
    deploy = load_deploy_config(cfg.robot, cfg.config or None)
    transport = make_transport(TransportConfig(cfg.transport, "robolearn_twin", cfg.host, cfg.port, cfg.secret,
                                               tls=cfg.tls, ca_cert=cfg.ca_cert), deploy.ros_version)
    twin = Twin(cfg, deploy, transport)
    print(f"twin: {cfg.task} on {cfg.robot} ({cfg.backend}) via {cfg.transport}; joint states on "
          f"{deploy.topics.joint_states}, commands on {deploy.topics.twist} | {deploy.topics.trajectory} "
          f"(ROS {deploy.ros_version})" + "".join(f"; {c} frames ({cfg.image_size} px, {deploy.image_transport}) on "
                                                  f"{deploy.cameras[c]}" for c in cfg.cameras), flush=True)
    try:
        twin.run()
    except KeyboardInterrupt:
        pass
    finally:
        twin.close()
        transport.close()
