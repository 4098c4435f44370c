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
    tls: bool = False  # rosbridge over wss://
    ca_cert: str = ""  # PEM certificate to trust for tls (a self-signed server); empty: the system's trust store


def make_transport(cfg: TransportConfig, ros_version: int = 1) -> Transport:
    """`ros_version=2` speaks ROS 2's type names and stamps, which only rosbridge reaches."""
    if ros_version == 2:
        if cfg.name != "rosbridge":
            raise ValueError(f"ros_version=2 needs transport=rosbridge (got transport={cfg.name}; rospy is ROS 1)")
        from robolearn.deploy.ros2 import Ros2Dialect

        return Ros2Dialect(make_transport(cfg))
    if cfg.name == "rospy":
        from robolearn.deploy.rospy_transport import RospyTransport

        return RospyTransport(cfg.node, cfg.timeout)
    if cfg.name == "rosbridge":
        from robolearn.deploy.rosbridge_transport import RosbridgeTransport

        return RosbridgeTransport(cfg.host, cfg.port, cfg.secret, cfg.timeout, cfg.tls, cfg.ca_cert)
    raise ValueError(f"transport={cfg.name!r}; allowed: {', '.join(TRANSPORTS)}")
