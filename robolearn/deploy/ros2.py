"""ROS 2's conventions over rosbridge: `pkg/msg/Type` names and `{sec, nanosec}` stamps.

The deploy loop and the twin build ROS 1 dicts (robolearn.deploy.messages); with
`ros_version: 2` their transport is wrapped in `Ros2Dialect`, which renames each type
(`sensor_msgs/JointState` -> `sensor_msgs/msg/JointState`), rewrites every stamp and
duration to `{sec, nanosec}` and drops ROS 1's `header.seq`, as ROS 2's rosbridge_server
expects. Incoming messages need no rewriting: the readers take both stamp forms.
"""
from __future__ import annotations

from typing import Any, Callable

from robolearn.deploy.messages import Message
from robolearn.deploy.transport import Transport


def ros2_type(msg_type: str) -> str:
    package, _, name = msg_type.partition("/")
    if not name or "/" in name:
        raise ValueError(f"message type {msg_type!r}: expected ROS 1's pkg/Type")
    return f"{package}/msg/{name}"


def ros2_message(value: Any) -> Any:
    """A ROS 1 message dict in ROS 2's form (recursively)."""
    if isinstance(value, list):
        return [ros2_message(v) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"secs", "nsecs"}:
        return {"sec": value["secs"], "nanosec": value["nsecs"]}
    return {k: ros2_message(v) for k, v in value.items() if not (k == "seq" and "stamp" in value)}


class Ros2Dialect:
    def __init__(self, inner: Transport):
        self.inner = inner

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None]) -> None:
        self.inner.subscribe(topic, ros2_type(msg_type), callback)

    def publish(self, topic: str, msg_type: str, message: Message) -> None:
        self.inner.publish(topic, ros2_type(msg_type), ros2_message(message))

    def close(self) -> None:
        self.inner.close()
