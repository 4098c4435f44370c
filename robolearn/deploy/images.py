"""Camera frames as ROS messages (rosbridge dicts): sensor_msgs/Image and CompressedImage.

The twin publishes what its simulated cameras render; the deploy loop reads a camera's
newest message into the frame a policy sees, exactly as the simulator gives it: RGB uint8,
`size` x `size`. A frame of another size is centre-cropped to a square and resized with
area averaging (a real camera's native resolution), one of the policy's size passes
unchanged. Byte arrays travel base64-encoded, as rosbridge and the rospy transport carry
them. A malformed message raises ValueError naming the field and what is allowed.
"""
from __future__ import annotations

import base64
import binascii

import cv2
import numpy as np

from robolearn.deploy.messages import Message, header

IMAGE = "sensor_msgs/Image"
COMPRESSED_IMAGE = "sensor_msgs/CompressedImage"
IMAGE_TRANSPORTS = {"raw": IMAGE, "compressed": COMPRESSED_IMAGE}
ENCODINGS = ("rgb8", "bgr8")
COMPRESSED_FORMATS = ("png", "jpeg")


def image(frame: np.ndarray, frame_id: str = "", t: float | None = None) -> Message:
    """An RGB uint8 frame (H, W, 3) as a raw `rgb8` sensor_msgs/Image."""
    frame = np.ascontiguousarray(frame, dtype=np.uint8)
    height, width = frame.shape[:2]
    return {"header": header(frame_id, t), "height": height, "width": width, "encoding": "rgb8", "is_bigendian": 0,
            "step": 3 * width, "data": base64.b64encode(frame.tobytes()).decode()}


def compressed_image(frame: np.ndarray, fmt: str = "png", frame_id: str = "", t: float | None = None) -> Message:
    """An RGB uint8 frame as sensor_msgs/CompressedImage (png: lossless; jpeg as camera drivers send)."""
    if fmt not in COMPRESSED_FORMATS:
        raise ValueError(f"format={fmt!r}; allowed: {', '.join(COMPRESSED_FORMATS)}")
    ok, data = cv2.imencode(f".{fmt}", np.ascontiguousarray(frame[..., ::-1], dtype=np.uint8))
    if not ok:
        raise ValueError(f"could not encode a {frame.shape} frame as {fmt}")
    return {"header": header(frame_id, t), "format": fmt, "data": base64.b64encode(data.tobytes()).decode()}


def _bytes(msg: Message) -> bytes:
    data = msg.get("data") if isinstance(msg, dict) else None
    if isinstance(data, str):
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("data: not base64") from None
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, list) and all(isinstance(v, int) and 0 <= v < 256 for v in data):
        return bytes(data)
    raise ValueError(f"data: expected bytes (base64 text or a list of 0-255), got {type(data).__name__}")


def read_raw(msg: Message) -> np.ndarray:
    """A raw sensor_msgs/Image (rgb8 or bgr8) as RGB uint8 (H, W, 3)."""
    encoding = msg.get("encoding")
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding={encoding!r}; allowed: {', '.join(ENCODINGS)}")
    height, width, step = msg.get("height"), msg.get("width"), msg.get("step")
    for name, value in (("height", height), ("width", width)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}={value!r}: must be a positive integer")
    if step != 3 * width:
        raise ValueError(f"step={step!r}: must be 3 x width = {3 * width} (no row padding)")
    data = _bytes(msg)
    if len(data) != step * height:
        raise ValueError(f"data: {len(data)} bytes for {height} rows of {step}")
    frame = np.frombuffer(bytearray(data), np.uint8).reshape(height, width, 3)  # writable: torch takes it as is
    return frame[..., ::-1] if encoding == "bgr8" else frame


def read_compressed(msg: Message) -> np.ndarray:
    """A sensor_msgs/CompressedImage (png or jpeg) as RGB uint8 (H, W, 3)."""
    fmt = str(msg.get("format", "")).lower()
    if not any(name in fmt for name in COMPRESSED_FORMATS + ("jpg",)):
        raise ValueError(f"format={msg.get('format')!r}; allowed: {', '.join(COMPRESSED_FORMATS)}")
    decoded = cv2.imdecode(np.frombuffer(_bytes(msg), np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise ValueError(f"data: not a decodable {fmt} image")
    return decoded[..., ::-1]


def to_policy_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """The (size, size, 3) frame a policy sees: a centred square crop, area-resized when needed."""
    height, width = frame.shape[:2]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = frame[top:top + side, left:left + side]
    if side != size:
        square = cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(square, dtype=np.uint8)


def read_frame(msg: Message, transport: str, size: int) -> np.ndarray:
    """A camera message of `transport` (raw | compressed) as the policy's (size, size, 3) frame."""
    return to_policy_frame(read_raw(msg) if transport == "raw" else read_compressed(msg), size)
