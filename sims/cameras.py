"""The suite's named cameras, identical on every backend.

    front   fixed in the world, in front of the table, looking back at the robot
    wrist   on the hand, behind and above the fingers, looking along the approach axis

A camera is a pinhole with a vertical field of view (`fovy`, degrees, as both MuJoCo's
`fovy` and PyBullet's `computeProjectionMatrixFOV` take it) and square pixels; the image
size is chosen per render. Its pose is given by an eye, a target and an up vector in the
frame it is mounted on: the world, or the TCP link (z out of the palm, fingers open along
y; spec.STATE_LAYOUT), which both backends build from the same URDF. So the same point
projects to the same pixel in MuJoCo and PyBullet (tests/test_cameras.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robolearn.sims.geometry import quat_to_mat

MOUNTS = ("world", "tcp")
# Clipping planes of both renderers, m: the wrist camera sees the fingers from ~0.1 m.
NEAR, FAR = 0.01, 5.0
# What a camera sees beyond the scene: PyBullet's TinyRenderer clears to white, and MuJoCo's
# skybox is made the same, so a policy that sees does not meet a new background on the other
# simulator (MuJoCo's default black was the largest difference between the two renders).
BACKGROUND_RGB = (1.0, 1.0, 1.0)
# How both renderers light the scene (ambient, diffuse, specular), scaled by the `light`
# parameter: TinyRenderer's defaults, and in MuJoCo an ambient headlight plus one
# directional light from above (its default spotlight left a bright disc on the table and
# the hand's underside black in the wrist view, neither of which PyBullet draws).
LIGHT_COEFFS = (0.6, 0.35, 0.05)


@dataclass(frozen=True)
class CameraSpec:
    name: str
    eye: tuple[float, float, float]
    target: tuple[float, float, float]
    up: tuple[float, float, float]
    fovy: float
    mount: str  # one of MOUNTS


CAMERAS: dict[str, CameraSpec] = {c.name: c for c in (
    CameraSpec("front", eye=(1.05, 0.0, 0.5), target=(0.5, 0.0, 0.12), up=(0.0, 0.0, 1.0), fovy=50.0, mount="world"),
    # Tool x points away from the robot when the hand is palm down: the camera sits 7 cm
    # toward the robot and 10 cm up the approach axis, the top of its image away from the robot.
    CameraSpec("wrist", eye=(-0.07, 0.0, -0.10), target=(0.05, 0.0, 0.15), up=(1.0, 0.0, 0.0), fovy=75.0, mount="tcp"),
)}
DEFAULT_CAMERA = "front"


def check_cameras(names: list[str] | tuple[str, ...], field: str = "cameras") -> tuple[str, ...]:
    """The names as a tuple, or a one-line error naming the unknown or repeated ones."""
    unknown = [n for n in names if n not in CAMERAS]
    if unknown:
        raise ValueError(f"{field}: unknown camera {unknown[0]!r}; allowed: {', '.join(CAMERAS)}")
    repeated = sorted({n for n in names if list(names).count(n) > 1})
    if repeated:
        raise ValueError(f"{field}: {', '.join(repeated)} listed more than once")
    return tuple(names)


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray = np.array([0.0, 0.0, 1.0])) -> np.ndarray:
    """Camera frame (columns x right, y up, z backward: MuJoCo's and OpenGL's) looking from eye at target."""
    z = np.asarray(eye, float) - np.asarray(target, float)
    z = z / np.linalg.norm(z)
    x = np.cross(up, z)
    x = x / np.linalg.norm(x)
    return np.stack([x, np.cross(z, x), z], axis=1)


def world_pose(camera: CameraSpec, tcp_pos: np.ndarray, tcp_quat: np.ndarray,
               offset: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Eye, target and up in the world of `camera`, given the TCP pose (position, quaternion
    wxyz) for a camera on the hand; `offset` shifts a world camera (domain randomization)."""
    if camera.mount == "world":
        mount_pos, mount_rot = np.zeros(3) if offset is None else np.asarray(offset), np.eye(3)
    else:
        mount_pos, mount_rot = np.asarray(tcp_pos), quat_to_mat(tcp_quat)
    eye = mount_pos + mount_rot @ np.asarray(camera.eye)
    target = mount_pos + mount_rot @ np.asarray(camera.target)
    return eye, target, mount_rot @ np.asarray(camera.up)


def intrinsics(camera: CameraSpec, width: int, height: int) -> np.ndarray:
    """The 3x3 pinhole matrix of `camera` rendered at width x height (pixel centres at +0.5)."""
    f = 0.5 * height / np.tan(np.radians(camera.fovy) / 2)
    return np.array([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]])


def project(point: np.ndarray, eye: np.ndarray, frame: np.ndarray, camera: CameraSpec, width: int,
            height: int) -> np.ndarray:
    """Pixel (column, row; row 0 at the top) of a world point seen from `eye` with camera `frame` (look_at)."""
    local = frame.T @ (np.asarray(point) - eye)
    uvw = intrinsics(camera, width, height) @ np.array([local[0], -local[1], -local[2]])
    return uvw[:2] / uvw[2]
