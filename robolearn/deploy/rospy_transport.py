"""Native ROS 1 through rospy, from Debian's packages under the system Python.

rospy and the message packages are pure Python in /usr/lib/python3/dist-packages; the
venv's Python (3.11, like Debian's) imports them from there, appended after the venv's
own packages so the venv's numpy and yaml still win. Messages cross as rosbridge dicts.
"""
from __future__ import annotations

import base64
import sys
import time
from typing import Any, Callable

from robolearn.deploy.messages import Message

ROS_PYTHON_PATH = "/usr/lib/python3/dist-packages"
PRIMITIVES = {"bool", "byte", "char", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64",
              "float32", "float64", "string"}


def import_rospy() -> Any:
    try:
        import rospy
    except ImportError:
        if ROS_PYTHON_PATH not in sys.path:
            sys.path.append(ROS_PYTHON_PATH)
        try:
            import rospy
        except ImportError:
            raise ConnectionError("transport=rospy needs ROS 1 (Debian: apt-get install ros-core python3-rospy "
                               "python3-sensor-msgs python3-geometry-msgs python3-trajectory-msgs; `make ros`)") from None
    return rospy


def message_class(msg_type: str) -> type:
    import_rospy()
    import roslib.message

    cls = roslib.message.get_message_class(msg_type)
    if cls is None:
        raise ValueError(f"unknown ROS message type {msg_type!r} (is its Debian package installed?)")
    return cls


def _split(slot_type: str) -> tuple[str, bool]:
    base, bracket, _ = slot_type.partition("[")
    return ("std_msgs/Header" if base == "Header" else base), bool(bracket)


def to_dict(msg: Any) -> Message:
    out = {}
    for name, slot_type in zip(msg.__slots__, msg._slot_types):
        value, (base, is_array) = getattr(msg, name), _split(slot_type)
        if base in ("time", "duration"):
            out[name] = {"secs": value.secs, "nsecs": value.nsecs}
        elif base in ("uint8", "char") and is_array:
            out[name] = base64.b64encode(bytes(value)).decode()  # rosbridge's encoding of byte arrays
        elif base in PRIMITIVES:
            out[name] = list(value) if is_array else value
        else:
            out[name] = [to_dict(v) for v in value] if is_array else to_dict(value)
    return out


def from_dict(cls: type, data: Message) -> Any:
    rospy = import_rospy()
    msg = cls()
    for name, slot_type in zip(msg.__slots__, msg._slot_types):
        if name not in data:
            continue
        value, (base, is_array) = data[name], _split(slot_type)
        if base in ("time", "duration"):
            kind = rospy.Time if base == "time" else rospy.Duration
            value = kind(int(value.get("secs", value.get("sec", 0))), int(value.get("nsecs", value.get("nanosec", 0))))
        elif base in ("uint8", "char") and is_array:
            value = base64.b64decode(value) if isinstance(value, str) else bytes(value)
        elif base not in PRIMITIVES:
            sub = message_class(base)
            value = [from_dict(sub, v) for v in value] if is_array else from_dict(sub, value)
        setattr(msg, name, value)
    return msg


class RospyTransport:
    def __init__(self, node: str, timeout: float = 10.0):
        self.rospy = import_rospy()
        import rosgraph

        deadline = time.monotonic() + timeout
        while not rosgraph.is_master_online():
            if time.monotonic() > deadline:
                raise ConnectionError(f"no ROS master at {rosgraph.get_master_uri()} after {timeout:.0f} s "
                                      "(start roscore, or set ROS_MASTER_URI)")
            time.sleep(0.2)
        # Signals stay with the caller (Ctrl-C must reach the deploy loop's hold-and-stop).
        self.rospy.init_node(node, anonymous=True, disable_signals=True)
        self.publishers: dict[str, Any] = {}
        self.subscribers: list[Any] = []

    def subscribe(self, topic: str, msg_type: str, callback: Callable[[Message], None]) -> None:
        self.subscribers.append(self.rospy.Subscriber(topic, message_class(msg_type), lambda m: callback(to_dict(m)),
                                                      queue_size=1, tcp_nodelay=True))

    def publish(self, topic: str, msg_type: str, message: Message) -> None:
        cls = message_class(msg_type)
        if topic not in self.publishers:
            self.publishers[topic] = self.rospy.Publisher(topic, cls, queue_size=1, tcp_nodelay=True)
        self.publishers[topic].publish(from_dict(cls, message))

    def close(self) -> None:
        for sub in self.subscribers:
            sub.unregister()
        for pub in self.publishers.values():
            pub.unregister()
        self.rospy.signal_shutdown("robolearn done")
