"""ROS messages as rosbridge JSON dicts: what the deploy loop and the twin send and read.

Both transports speak these dicts (roslibpy natively; the rospy transport converts to
and from message classes), so the loop and the twin never see a transport's types.
Stamps are ROS 1's `{secs, nsecs}`; ROS 2's `{sec, nanosec}` is read as well.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

JOINT_STATE = "sensor_msgs/JointState"
POSE_ARRAY = "geometry_msgs/PoseArray"
FLOAT_ARRAY = "std_msgs/Float64MultiArray"
TWIST_STAMPED = "geometry_msgs/TwistStamped"
JOINT_TRAJECTORY = "trajectory_msgs/JointTrajectory"
FLOAT64 = "std_msgs/Float64"
BOOL = "std_msgs/Bool"
INT32 = "std_msgs/Int32"
EMPTY = "std_msgs/Empty"

Message = dict[str, Any]


def stamp(t: float | None = None) -> dict[str, int]:
    t = time.time() if t is None else t
    secs = int(t)
    return {"secs": secs, "nsecs": int(round((t - secs) * 1e9))}


def stamp_seconds(value: dict[str, int]) -> float:
    return value.get("secs", value.get("sec", 0)) + value.get("nsecs", value.get("nanosec", 0)) * 1e-9


def header(frame_id: str = "", t: float | None = None) -> Message:
    return {"seq": 0, "stamp": stamp(t), "frame_id": frame_id}


def _xyz(v: np.ndarray) -> dict[str, float]:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


# ---------------------------------------------------------------- the arm's state
def joint_state(names: list[str], position: np.ndarray, velocity: np.ndarray) -> Message:
    return {"header": header(), "name": list(names), "position": [float(v) for v in position],
            "velocity": [float(v) for v in velocity], "effort": []}


def read_joints(msg: Message, names: list[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Positions and velocities of `names` in order, or None when the message names none of
    them (arms often publish the gripper on its own JointState topic). Missing velocities
    read as 0. A message naming only some of them, or with non-finite values, is refused."""
    index = {n: i for i, n in enumerate(msg.get("name", []))}
    missing = [n for n in names if n not in index]
    if len(missing) == len(names):
        return None
    if missing:
        raise ValueError(f"joint state lacks {missing}")
    pos, vel = msg.get("position", []), msg.get("velocity", [])
    if any(index[n] >= len(pos) for n in names):
        raise ValueError(f"joint state: {len(pos)} positions for {len(index)} names")
    q = finite_array([pos[index[n]] for n in names], "joint state position")
    qd = finite_array([vel[index[n]] if index[n] < len(vel) else 0.0 for n in names], "joint state velocity")
    return q, qd


def finite_array(values: Any, what: str) -> np.ndarray:
    """`values` as float64, refused (ValueError naming `what`) unless every value is a finite number."""
    try:
        out = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: not numbers ({str(values)[:60]})") from None
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what}: not finite ({out.tolist()})")
    return out


# ---------------------------------------------------------------- object and goal poses
POSE_SLOTS = (("obj0_pos", "obj0_quat"), ("obj1_pos", "obj1_quat"), ("goal_pos", None))
SCALAR_SLOTS = (("articulation", 1), ("aux", 2))
QUAT_NORM_TOLERANCE = 0.05  # a pose estimate's quaternion is refused further than this from unit length


def pose_array(slots: dict[str, np.ndarray], frame_id: str = "world") -> Message:
    """obj0, obj1 and goal as three poses (identity where a task has none); quaternions
    go from the state's (w, x, y, z) to ROS's (x, y, z, w)."""
    poses = []
    for pos_key, quat_key in POSE_SLOTS:
        pos = slots.get(pos_key, np.zeros(3))
        w, x, y, z = slots.get(quat_key, (1.0, 0.0, 0.0, 0.0)) if quat_key else (1.0, 0.0, 0.0, 0.0)
        poses.append({"position": _xyz(pos), "orientation": {"x": float(x), "y": float(y), "z": float(z), "w": float(w)}})
    return {"header": header(frame_id), "poses": poses}


def read_pose_array(msg: Message) -> dict[str, np.ndarray]:
    poses = msg.get("poses", [])
    if len(poses) != len(POSE_SLOTS):
        raise ValueError(f"object poses: expected {len(POSE_SLOTS)} poses (obj0, obj1, goal), got {len(poses)}")
    out = {}
    for pose, (pos_key, quat_key) in zip(poses, POSE_SLOTS):
        p, o = pose["position"], pose["orientation"]
        out[pos_key] = finite_array([p["x"], p["y"], p["z"]], f"object poses {pos_key}")
        if quat_key:
            quat = finite_array([o["w"], o["x"], o["y"], o["z"]], f"object poses {quat_key}")
            if abs(np.linalg.norm(quat) - 1.0) > QUAT_NORM_TOLERANCE:
                raise ValueError(f"object poses {quat_key}: not a unit quaternion (norm {np.linalg.norm(quat):.3f})")
            out[quat_key] = quat
    return out


def task_scalars(slots: dict[str, np.ndarray]) -> Message:
    """Articulation (1) and aux (2) values, zero where a task has none."""
    data = np.concatenate([np.asarray(slots.get(key, np.zeros(size)), dtype=np.float64).reshape(size)
                           for key, size in SCALAR_SLOTS])
    return {"layout": {"dim": [], "data_offset": 0}, "data": data.tolist()}


def read_task_scalars(msg: Message) -> dict[str, np.ndarray]:
    data = finite_array(msg.get("data", []), "task scalars")
    expected = sum(size for _, size in SCALAR_SLOTS)
    if data.shape != (expected,):
        raise ValueError(f"task scalars: expected {expected} values (articulation, aux0, aux1), got {data.shape}")
    out, start = {}, 0
    for key, size in SCALAR_SLOTS:
        out[key] = data[start:start + size]
        start += size
    return out


# ---------------------------------------------------------------- commands
def twist_stamped(linear: np.ndarray, angular: np.ndarray, frame_id: str) -> Message:
    return {"header": header(frame_id), "twist": {"linear": _xyz(linear), "angular": _xyz(angular)}}


def read_twist(msg: Message) -> tuple[np.ndarray, np.ndarray]:
    twist = msg["twist"]
    return (np.array([twist["linear"][k] for k in "xyz"], dtype=np.float64),
            np.array([twist["angular"][k] for k in "xyz"], dtype=np.float64))


def joint_trajectory(names: list[str], positions: np.ndarray, seconds: float) -> Message:
    secs = int(seconds)
    point = {"positions": [float(v) for v in positions], "velocities": [], "accelerations": [], "effort": [],
             "time_from_start": {"secs": secs, "nsecs": int(round((seconds - secs) * 1e9))}}
    return {"header": header(), "joint_names": list(names), "points": [point]}


def read_trajectory(msg: Message, names: list[str]) -> np.ndarray:
    """The first point's positions in `names` order."""
    index = {n: i for i, n in enumerate(msg.get("joint_names", []))}
    missing = [n for n in names if n not in index]
    if missing or not msg.get("points"):
        raise ValueError(f"joint trajectory: needs one point naming {names}; missing {missing}")
    positions = msg["points"][0]["positions"]
    return np.array([positions[index[n]] for n in names], dtype=np.float64)


def scalar(value: float | bool | int) -> Message:
    return {"data": value}


def read_scalar(msg: Message, kind: type) -> float | bool | int:
    """`msg["data"]` as `kind` (bool, int or float), refused unless it is one (and finite)."""
    value = msg.get("data") if isinstance(msg, dict) else None
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value):
        return float(value)
    raise ValueError(f"data={value!r} is not a {'finite ' if kind is float else ''}{kind.__name__}")
