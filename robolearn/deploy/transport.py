"""How the deploy loop and the twin reach ROS: native rospy or rosbridge v2 over websocket.

A transport publishes and subscribes rosbridge JSON dicts (robolearn.deploy.messages)
by topic name and ROS type; callbacks run on the transport's own threads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from robolearn.deploy.messages import Message

TRANSPORTS = ("rospy", "rosbridge")


class Transport(Protocol):
    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None]) -> None: ...
    def publish(self, topic: str, msg_type: str, message: Message) -> None: ...
    def close(self) -> None: ...


@dataclass
class TransportConfig:
    name: str = "rospy"  # rospy | rosbridge
    node: str = "robolearn"  # ROS node name (rospy)
    host: str = "localhost"  # rosbridge server
    port: int = 9090
    secret: str = ""  # rosbridge authentication (rosauth's shared secret); empty: no auth
    timeout: float = 10.0  # s to connect


def make_transport(cfg: TransportConfig) -> Transport:
    if cfg.name == "rospy":
        from robolearn.deploy.rospy_transport import RospyTransport

        return RospyTransport(cfg.node, cfg.timeout)
    if cfg.name == "rosbridge":
        from robolearn.deploy.rosbridge_transport import RosbridgeTransport

        return RosbridgeTransport(cfg.host, cfg.port, cfg.secret, cfg.timeout)
    raise ValueError(f"transport={cfg.name!r}; allowed: {', '.join(TRANSPORTS)}")
