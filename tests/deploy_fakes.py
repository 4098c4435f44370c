"""Stand-ins for the deploy loop's tests without ROS: a transport that records and a still policy."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from robolearn.deploy import messages as msgs
from robolearn.deploy.config import DeployConfig
from robolearn.envs import suite_vocabulary


class RecordingTransport:
    """Stands in for ROS: keeps what the loop publishes; `deliver` plays the arm's side."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, dict]] = []
        self.callbacks: dict[str, Callable[[dict], None]] = {}

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[dict], None]) -> None:
        self.callbacks[topic] = callback

    def deliver(self, topic: str, message: dict) -> None:
        self.callbacks[topic](message)

    def publish(self, topic: str, msg_type: str, message: dict) -> None:
        self.published.append((topic, msg_type, message))

    def close(self) -> None:
        pass


class StillAgent:
    vocab = suite_vocabulary()

    def act(self, states: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        return np.zeros((len(states), 7))


def still_arm(cfg: DeployConfig) -> msgs.Message:
    """A joint state of an arm at rest at its zero joints."""
    return msgs.joint_state(cfg.joint_names, np.zeros(7), np.zeros(7))


def loop_with_arm(cfg: DeployConfig, agent: Any, out: Path) -> tuple[Any, RecordingTransport]:
    """A deploy loop on a recording transport that has had a still arm's state and a goal."""
    from robolearn.deploy.loop import DeployLoop

    transport = RecordingTransport()
    loop = DeployLoop(cfg, agent, "reach", transport, out)
    transport.deliver(cfg.topics.joint_states, still_arm(cfg))
    transport.deliver(cfg.topics.object_poses, msgs.pose_array({"goal_pos": np.array([0.5, 0.0, 0.3])}))
    return loop, transport
