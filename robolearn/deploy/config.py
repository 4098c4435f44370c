"""Deploy settings per robot (`configs/deploy/<robot>.yaml`): topics, rates, command mode, ROS version,
reset and fault handling, safety limits; every field checked at load with an error naming it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robolearn.config import CONFIG_DIR
from robolearn.deploy.images import IMAGE_TRANSPORTS
from robolearn.deploy.safety import SafetyLimits
from robolearn.sims.cameras import check_cameras
from robolearn.sims.robots import ROBOTS, robot_spec

COMMANDS = ("twist", "joints")
RESETS = ("operator", "topic", "none")  # a person resets the scene | request/acknowledge topics (the twin) | no reset
ON_FAULT = ("hold", "stop")  # on an invalid or stale input: hold and resume when it recovers | end the episode
ROS_VERSIONS = (1, 2)


@dataclass
class Topics:
    joint_states: str = ""
    object_poses: str = ""
    task_scalars: str = ""
    success: str = ""
    reward: str = ""
    reset: str = ""
    reset_done: str = ""
    twist: str = ""
    trajectory: str = ""
    gripper: str = ""
    estop: str = ""
    estop_reset: str = ""
    estop_heartbeat: str = ""
    preview: str = ""


@dataclass
class DeployConfig:
    robot: str = ""
    control_hz: float = 20.0
    joint_names: list[str] = field(default_factory=list)
    topics: Topics = field(default_factory=Topics)
    command: str = "twist"  # twist (geometry_msgs/TwistStamped) | joints (trajectory_msgs/JointTrajectory)
    frame_id: str = "world"  # the arm's base frame, stamped on twists
    ros_version: int = 1  # 2: pkg/msg/Type names and {sec, nanosec} stamps (over rosbridge)
    reset: str = "operator"  # operator | topic | none
    on_fault: str = "hold"  # hold | stop
    # Camera -> image topic (in), read by policies that see; the twin publishes its renders there.
    cameras: dict[str, str] = field(default_factory=dict)
    image_transport: str = "raw"  # raw (sensor_msgs/Image, rgb8 | bgr8) | compressed (sensor_msgs/CompressedImage)
    safety: SafetyLimits = field(default_factory=SafetyLimits)

    def check_camera_topics(self, cameras: tuple[str, ...] | list[str], who: str) -> None:
        """A one-line error unless every camera `who` needs has a topic in `cameras:`."""
        unnamed = [camera for camera in cameras if camera not in self.cameras]
        if unnamed:
            raise ValueError(f"{who} {list(cameras)}; the deploy config names no topic for {unnamed[0]} "
                             f"(cameras: {{{unnamed[0]}: <image topic>}}; named: {', '.join(self.cameras) or 'none'})")


def load_deploy_config(robot: str, path: str | Path | None = None, **overrides: object) -> DeployConfig:
    """`overrides` (command=, control_hz=, ...) replace the file's values before validation."""
    if robot not in ROBOTS:
        raise ValueError(f"robot={robot!r}; allowed: {', '.join(ROBOTS)}")
    path = Path(path) if path else CONFIG_DIR / "deploy" / f"{robot}.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no deploy config for {robot}")
    try:
        cfg: DeployConfig = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DeployConfig),
                                                                OmegaConf.load(path), overrides))
    except OmegaConfBaseException as err:
        raise ValueError(f"{path}: {' '.join(str(err).split())}") from None
    if cfg.robot != robot:
        raise ValueError(f"{path}: robot {cfg.robot!r} does not match {robot!r}")
    for name, allowed in (("command", COMMANDS), ("reset", RESETS), ("on_fault", ON_FAULT),
                          ("ros_version", ROS_VERSIONS), ("image_transport", tuple(IMAGE_TRANSPORTS))):
        if getattr(cfg, name) not in allowed:
            raise ValueError(f"{path}: {name}={getattr(cfg, name)!r}; allowed: {', '.join(map(str, allowed))}")
    expected = list(robot_spec(robot).arm_joints)
    if cfg.joint_names != expected:
        raise ValueError(f"{path}: joint_names {cfg.joint_names} must list the arm's joints in order: {expected}")
    required = ("joint_states", "object_poses", "twist" if cfg.command == "twist" else "trajectory", "gripper",
                "estop", "estop_reset", "preview") + (("reset", "reset_done") if cfg.reset == "topic" else ())
    missing = [name for name in required if not getattr(cfg.topics, name)]
    if missing:
        raise ValueError(f"{path}: topics.{missing[0]} is required (command={cfg.command}, reset={cfg.reset}); "
                         f"missing: {', '.join(missing)}")
    if cfg.control_hz <= 0:
        raise ValueError(f"{path}: control_hz={cfg.control_hz} must be > 0")
    try:
        check_cameras(list(cfg.cameras), "cameras")
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    empty = [name for name, topic in cfg.cameras.items() if not topic]
    if empty:
        raise ValueError(f"{path}: cameras.{empty[0]} names no topic")
    try:
        cfg.safety.validate()
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None
    return cfg
