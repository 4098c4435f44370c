"""The three arms, built from URDFs that ship inside pybullet_data.

Each robot becomes one generated URDF that both backends load, so both simulate the
same kinematics: mesh paths are made absolute, a `tcp` link (the tool centre point,
z out of the palm, fingers opening along y) is added, and where the model has no
hand a simple two-finger parallel gripper is attached to the flange.
"""
from __future__ import annotations

import functools
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np
import pybullet_data

ROBOTS = ("panda", "kuka", "xarm6")
TCP_LINK = "tcp"
# Action scale (docs/design.md): metres and radians per control step at action 1.
MAX_POS_STEP = 0.025
MAX_ROT_STEP = 0.15


@dataclass(frozen=True)
class RobotSpec:
    name: str
    urdf: str  # relative to pybullet_data
    arm_joints: tuple[str, ...]
    finger_joints: tuple[str, str]
    home_q: tuple[float, ...]  # TCP at (0.45, 0, 0.25), pointing down, x forward
    tcp_parent: str
    tcp_offset: float  # along the parent's z axis
    tcp_yaw: float = 0.0  # about the parent's z axis, so every arm's TCP frame agrees at home
    finger_max: float = 0.04  # each finger's travel, metres (opening = 2x)
    finger_force: float = 40.0  # newtons per finger
    attach_gripper_at: float | None = None  # flange offset along z; None: the model has a hand
    max_pos_step: float = MAX_POS_STEP
    max_rot_step: float = MAX_ROT_STEP
    strip_links: tuple[str, ...] = ()
    # Joint torque limits, N m, from the makers' datasheets (not the URDFs' placeholders);
    # MuJoCo's position gains scale with them.
    joint_force: tuple[float, ...] = field(default=())

    @property
    def dof(self) -> int:
        return len(self.arm_joints)


PANDA = RobotSpec(
    name="panda",
    urdf="franka_panda/panda.urdf",
    arm_joints=tuple(f"panda_joint{i}" for i in range(1, 8)),
    finger_joints=("panda_finger_joint1", "panda_finger_joint2"),
    home_q=(0.0, -0.1876, 0.0, -2.495, 0.0, 2.3074, 0.7854),
    tcp_parent="panda_hand",
    tcp_offset=0.105,
    strip_links=("panda_grasptarget",),
    joint_force=(87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0),
)
KUKA = RobotSpec(
    name="kuka",
    urdf="kuka_iiwa/model.urdf",
    arm_joints=tuple(f"lbr_iiwa_joint_{i}" for i in range(1, 8)),
    finger_joints=("rl_finger_left_joint", "rl_finger_right_joint"),
    home_q=(0.0, 0.4493, 0.0, -1.9595, 0.0, 0.7328, 0.0),
    tcp_parent="rl_gripper_base",
    tcp_offset=0.065,
    tcp_yaw=np.pi,
    attach_gripper_at=0.045,
    # LBR iiwa 14 R820. The URDF's 300 N m on every joint made MuJoCo's wrist servos so
    # stiff that a pinched cup handle crept along the finger pads (pour: 0.80 -> 1.00).
    joint_force=(320.0, 320.0, 176.0, 176.0, 110.0, 40.0, 40.0),
)
XARM6 = RobotSpec(
    name="xarm6",
    urdf="xarm/xarm6_robot.urdf",
    arm_joints=tuple(f"joint{i}" for i in range(1, 7)),
    finger_joints=("rl_finger_left_joint", "rl_finger_right_joint"),
    home_q=(0.0, -0.0057, -0.9331, 0.0, 0.9388, 0.0),
    tcp_parent="rl_gripper_base",
    tcp_offset=0.065,
    attach_gripper_at=0.0,
    strip_links=("world",),
    joint_force=(50.0, 50.0, 32.0, 32.0, 32.0, 20.0),
)
ROBOT_SPECS: dict[str, RobotSpec] = {r.name: r for r in (PANDA, KUKA, XARM6)}


def robot_spec(name: str) -> RobotSpec:
    if name not in ROBOT_SPECS:
        raise ValueError(f"unknown robot {name!r}; allowed robots: {', '.join(ROBOTS)}")
    return ROBOT_SPECS[name]


def _inertial(parent: ET.Element, mass: float, inertia: float) -> None:
    inertial = ET.SubElement(parent, "inertial")
    ET.SubElement(inertial, "origin", xyz="0 0 0", rpy="0 0 0")
    ET.SubElement(inertial, "mass", value=str(mass))
    ET.SubElement(
        inertial, "inertia", ixx=str(inertia), iyy=str(inertia), izz=str(inertia), ixy="0", ixz="0", iyz="0"
    )


def _box_link(root: ET.Element, name: str, size: tuple[float, float, float], center: tuple[float, float, float], mass: float) -> None:
    link = ET.SubElement(root, "link", name=name)
    _inertial(link, mass, 1e-4)
    link.find("inertial/origin").set("xyz", " ".join(map(str, center)))
    for tag in ("visual", "collision"):
        el = ET.SubElement(link, tag)
        ET.SubElement(el, "origin", xyz=" ".join(map(str, center)), rpy="0 0 0")
        ET.SubElement(ET.SubElement(el, "geometry"), "box", size=" ".join(map(str, size)))


def _joint(root: ET.Element, name: str, kind: str, parent: str, child: str, xyz: str, axis: str | None = None,
           limit: tuple[float, float, float] | None = None, yaw: float = 0.0) -> None:
    joint = ET.SubElement(root, "joint", name=name, type=kind)
    ET.SubElement(joint, "parent", link=parent)
    ET.SubElement(joint, "child", link=child)
    ET.SubElement(joint, "origin", xyz=xyz, rpy=f"0 0 {yaw}")
    if axis:
        ET.SubElement(joint, "axis", xyz=axis)
    if limit:
        ET.SubElement(joint, "limit", lower=str(limit[0]), upper=str(limit[1]), effort=str(limit[2]), velocity="0.5")


def _attach_gripper(root: ET.Element, spec: RobotSpec, flange: str) -> None:
    """A palm and two box fingers on prismatic joints; closed, the fingers touch at y=0."""
    _box_link(root, "rl_gripper_base", (0.04, 0.12, 0.02), (0, 0, 0.01), 0.3)
    _joint(root, "rl_gripper_mount", "fixed", flange, "rl_gripper_base", f"0 0 {spec.attach_gripper_at}")
    for side, sign in (("left", 1), ("right", -1)):
        link = f"rl_finger_{side}"
        _box_link(root, link, (0.02, 0.012, 0.05), (0, sign * 0.006, 0.025), 0.05)
        _joint(root, f"{link}_joint", "prismatic", "rl_gripper_base", link, "0 0 0.02", f"0 {sign} 0",
               (0.0, spec.finger_max, spec.finger_force))


def _balance_inertia(inertia: ET.Element) -> None:
    """Some shipped links (xArm6 link2, link3) have inertia tensors whose principal
    moments break the triangle inequality; PyBullet would zero them. Drop the products
    of inertia and replace the diagonal by its mean, as MuJoCo's balanceinertia does,
    so both simulators see the same valid inertia."""
    keys = ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")
    xx, xy, xz, yy, yz, zz = (float(inertia.get(k, "0")) for k in keys)
    principal = np.linalg.eigvalsh(np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]))
    if principal[0] + principal[1] >= principal[2]:
        return
    mean = str((xx + yy + zz) / 3)
    for key in keys:
        inertia.set(key, mean if key in ("ixx", "iyy", "izz") else "0")


def _flange_link(root: ET.Element, spec: RobotSpec) -> str:
    last_joint = spec.arm_joints[-1]
    for joint in root.findall("joint"):
        if joint.get("name") == last_joint:
            return joint.find("child").get("link")
    raise ValueError(f"{spec.urdf}: no joint named {last_joint}")


def _generate_urdf(spec: RobotSpec) -> str:
    src = os.path.join(pybullet_data.getDataPath(), spec.urdf)
    src_dir = os.path.dirname(src)
    root = ET.parse(src).getroot()
    for link in list(root.findall("link")):
        if link.get("name") in spec.strip_links:
            root.remove(link)
    for joint in list(root.findall("joint")):
        ends = {joint.find("parent").get("link"), joint.find("child").get("link")}
        if ends & set(spec.strip_links):
            root.remove(joint)
    for mesh in root.iter("mesh"):
        rel = mesh.get("filename").replace("package://", "")
        path = os.path.join(src_dir, rel)
        if not os.path.exists(path):
            raise FileNotFoundError(f"{spec.urdf}: mesh {rel} not found in pybullet_data")
        mesh.set("filename", path)
    for inertia in root.iter("inertia"):
        _balance_inertia(inertia)
    # ROS transmissions are noise for both simulators.
    for trans in root.findall("transmission"):
        root.remove(trans)
    if spec.attach_gripper_at is not None:
        _attach_gripper(root, spec, _flange_link(root, spec))
    tcp = ET.SubElement(root, "link", name=TCP_LINK)
    _inertial(tcp, 1e-3, 1e-6)
    _joint(root, "tcp_joint", "fixed", spec.tcp_parent, TCP_LINK, f"0 0 {spec.tcp_offset}", yaw=spec.tcp_yaw)
    # MuJoCo reads this element; PyBullet ignores it. Visual meshes are dropped (MuJoCo
    # cannot read .dae and they would double the geoms); every link is kept as a body.
    mj = ET.SubElement(root, "mujoco")
    ET.SubElement(mj, "compiler", strippath="false", discardvisual="true", balanceinertia="true", fusestatic="false")
    return ET.tostring(root, encoding="unicode")


@functools.cache
def urdf_path(name: str) -> str:
    """Path of the generated URDF for `name`, written once per process."""
    spec = robot_spec(name)
    out_dir = os.path.join(tempfile.gettempdir(), f"robolearn-urdf-{os.getuid()}")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}.urdf")
    text = _generate_urdf(spec)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)  # atomic: parallel processes never read a half-written file
    return path
