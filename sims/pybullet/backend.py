"""PyBullet implementation of the backend protocol.

Each instance owns a private DIRECT client. The robot is the generated URDF that MuJoCo
also compiles; the table and every object are multibodies built from primitive shapes:
one base (fixed when its mass is 0) and, for articulated objects, one link on a
prismatic or revolute joint that moves freely against its damping. Arm and finger joints
are driven by PyBullet's position motors, which also hold the arm against gravity (MuJoCo
gets the same from gravity compensation plus servos).
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pybullet as p

from robolearn.sims.backend import (
    CONTROL_DT, FINGERS_GROUP, ROBOT_GROUP, TABLE_CENTER, TABLE_GROUP, TABLE_HALF, Pose,
)
from robolearn.sims.cameras import CAMERAS, FAR, LIGHT_COEFFS, NEAR, world_pose
from robolearn.sims.geometry import wxyz, xyzw
from robolearn.sims.objects import Geom, ObjectSpec
from robolearn.sims.robots import TCP_LINK, RobotSpec, urdf_path
from robolearn.sims.scene_params import CAMERA_AXES, Getter, SceneParameters, Setter, check_value, derived_nominals, shift_hue

PHYSICS_DT = 1.0 / 240.0
GRAVITY = -9.81
ARM_DAMPING = 1.0
FINGER_FRICTION = 1.5
TABLE_FRICTION = 1.0
TABLE_RGBA = (0.82, 0.76, 0.65, 1.0)
_SHAPES = {"box": p.GEOM_BOX, "cylinder": p.GEOM_CYLINDER, "sphere": p.GEOM_SPHERE}
_IDENTITY = (0.0, 0.0, 0.0, 1.0)  # xyzw
POSITION_GAIN, VELOCITY_GAIN = 0.1, 1.0  # PyBullet's own defaults for POSITION_CONTROL


def _scaled(geoms: tuple[Geom, ...], scale: float) -> tuple[Geom, ...]:
    """The same compound, `scale` times larger about the body origin."""
    if scale == 1.0:
        return geoms
    return tuple(replace(g, size=tuple(v * scale for v in g.size), pos=tuple(v * scale for v in g.pos)) for g in geoms)


def _shape_args(geoms: tuple[Geom, ...]) -> dict[str, list]:
    """Arguments shared by createCollisionShapeArray and createVisualShapeArray."""
    return {
        "shapeTypes": [_SHAPES[g.kind] for g in geoms],
        "radii": [g.size[0] for g in geoms],  # ignored for boxes
        "halfExtents": [list(g.size) if g.kind == "box" else [0.0, 0.0, 0.0] for g in geoms],
        # PyBullet's cylinder length is the full height; Geom stores the half height.
        "lengths": [2.0 * g.size[1] if g.kind == "cylinder" else 0.0 for g in geoms],
    }


class PybulletBackend(SceneParameters):
    name = "pybullet"

    def __init__(self, robot: RobotSpec, objects: list[ObjectSpec]) -> None:
        self.robot = robot
        self.objects = {o.name: o for o in objects}
        self.physics_dt = PHYSICS_DT
        self.substeps = int(round(CONTROL_DT / PHYSICS_DT))
        self.pose_writes = 0
        self._cid = p.connect(p.DIRECT)
        p.setPhysicsEngineParameter(fixedTimeStep=PHYSICS_DT, physicsClientId=self._cid)
        p.setGravity(0.0, 0.0, GRAVITY, physicsClientId=self._cid)
        self._load_robot()
        self._table = self._add_table()
        self._groups: dict[str, tuple[int, set[int] | None]] = {
            ROBOT_GROUP: (self._robot, None),
            FINGERS_GROUP: (self._robot, set(self._finger_idx)),
            TABLE_GROUP: (self._table, None),
        }
        # Every part whose lateral friction a friction:<name> parameter sets.
        self._friction_parts: dict[str, list[tuple[int, int]]] = {
            FINGERS_GROUP: [(self._robot, j) for j in self._finger_idx],
            TABLE_GROUP: [(self._table, -1)],
        }
        self._bodies: dict[str, int] = {}
        for obj in self.objects.values():
            self._register(obj, self._add_object(obj))
        # Parameters PyBullet has no getter for, or that live on this side (gain, light, camera).
        self._derived = {"damping:robot": ARM_DAMPING} | derived_nominals(self.param_names())
        self.set_targets(np.zeros(robot.dof), 0.0)  # as MuJoCo's zero controls

    # ---------------------------------------------------------------- building
    def _load_robot(self) -> None:
        cid, r = self._cid, self.robot
        self._robot = p.loadURDF(urdf_path(r.name), useFixedBase=True, flags=p.URDF_USE_INERTIA_FROM_FILE,
                                 physicsClientId=cid)
        joints, links, movable = {}, {}, []
        for j in range(p.getNumJoints(self._robot, physicsClientId=cid)):
            info = p.getJointInfo(self._robot, j, physicsClientId=cid)
            joints[info[1].decode()] = j
            links[info[12].decode()] = j
            if info[2] != p.JOINT_FIXED:
                movable.append(j)
        self._arm_idx = [joints[name] for name in r.arm_joints]
        self._finger_idx = [joints[name] for name in r.finger_joints]
        self._movable = movable  # the Jacobian's columns, in joint-index order
        self._arm_cols = [movable.index(j) for j in self._arm_idx]
        self._tcp = links[TCP_LINK]
        info = [p.getJointInfo(self._robot, j, physicsClientId=cid) for j in self._arm_idx]
        self._limits = (np.array([i[8] for i in info]), np.array([i[9] for i in info]))
        for j in self._arm_idx:
            p.changeDynamics(self._robot, j, jointDamping=ARM_DAMPING, physicsClientId=cid)
        for j in self._finger_idx:
            p.changeDynamics(self._robot, j, lateralFriction=FINGER_FRICTION, physicsClientId=cid)
        # The fingers are coupled, as in the real grippers (and the MuJoCo backend): a held
        # object stays centred instead of sliding with both fingers along the closing axis.
        left, right = self._finger_idx
        gear = p.createConstraint(self._robot, left, self._robot, right, p.JOINT_GEAR, [1, 0, 0], [0, 0, 0], [0, 0, 0],
                                  physicsClientId=cid)
        p.changeConstraint(gear, gearRatio=-1, erp=0.1, maxForce=2 * r.finger_force, physicsClientId=cid)

    def _add_table(self) -> int:
        cid = self._cid
        col = p.createCollisionShape(p.GEOM_BOX, halfExtents=TABLE_HALF, physicsClientId=cid)
        vis = p.createVisualShape(p.GEOM_BOX, halfExtents=TABLE_HALF, rgbaColor=TABLE_RGBA, physicsClientId=cid)
        table = p.createMultiBody(0.0, col, vis, TABLE_CENTER, physicsClientId=cid)
        p.changeDynamics(table, -1, lateralFriction=TABLE_FRICTION, physicsClientId=cid)
        return table

    def _shapes(self, geoms: tuple[Geom, ...], collide: bool) -> tuple[int, int]:
        """(collision, visual) shape ids of one rigid part: a compound of its geoms."""
        cid, args = self._cid, _shape_args(geoms)
        pos = [list(g.pos) for g in geoms]
        orn = [xyzw(g.quat) for g in geoms]
        col = -1
        if collide:
            col = p.createCollisionShapeArray(**args, collisionFramePositions=pos, collisionFrameOrientations=orn,
                                              physicsClientId=cid)
        vis = p.createVisualShapeArray(**args, visualFramePositions=pos, visualFrameOrientations=orn,
                                       rgbaColors=[list(g.rgba) for g in geoms], physicsClientId=cid)
        return col, vis

    def _register(self, obj: ObjectSpec, body: int) -> None:
        self._bodies[obj.name] = body
        self._groups[obj.name] = (body, None)
        self._friction_parts[obj.name] = [(body, -1)] + ([(body, 0)] if obj.articulated else [])

    def _add_object(self, obj: ObjectSpec, scale: float = 1.0) -> int:
        cid = self._cid
        col, vis = self._shapes(_scaled(obj.geoms, scale), obj.collide)
        links: dict[str, Any] = {}
        if obj.joint is not None:
            j = obj.joint
            link_col, link_vis = self._shapes(obj.link_geoms, obj.collide)
            links = dict(
                linkMasses=[obj.link_mass], linkCollisionShapeIndices=[link_col], linkVisualShapeIndices=[link_vis],
                linkPositions=[list(j.anchor)], linkOrientations=[_IDENTITY],
                linkInertialFramePositions=[[0.0, 0.0, 0.0]], linkInertialFrameOrientations=[_IDENTITY],
                linkParentIndices=[0], linkJointTypes=[p.JOINT_PRISMATIC if j.kind == "slide" else p.JOINT_REVOLUTE],
                linkJointAxis=[list(j.axis)],
            )
        # Inertial frame at the base frame, so the base pose PyBullet reports is the object's pose.
        body = p.createMultiBody(obj.mass, col, vis, baseInertialFramePosition=[0.0, 0.0, 0.0],
                                 baseInertialFrameOrientation=_IDENTITY, **links, physicsClientId=cid)
        p.changeDynamics(body, -1, lateralFriction=obj.friction, physicsClientId=cid)
        if obj.joint is not None:
            j = obj.joint
            p.changeDynamics(body, 0, lateralFriction=obj.friction, jointLowerLimit=j.range[0],
                             jointUpperLimit=j.range[1], jointDamping=j.damping, physicsClientId=cid)
            # The default velocity motor would hold the joint still.
            p.setJointMotorControl2(body, 0, p.VELOCITY_CONTROL, force=0.0, physicsClientId=cid)
            if j.spring > 0:
                # PyBullet has no joint springs: a force-limited motor toward the rest
                # position gives the return force a spring has at full travel.
                p.setJointMotorControl2(body, 0, p.POSITION_CONTROL, targetPosition=j.range[0],
                                        force=j.spring * (j.range[1] - j.range[0]), physicsClientId=cid)
        return body

    # ---------------------------------------------------------------- robot
    def arm_limits(self) -> tuple[np.ndarray, np.ndarray]:
        return self._limits

    def reset_robot(self, q_arm: np.ndarray, finger: float) -> None:
        self.pose_writes += 1
        for j, q in zip(self._arm_idx, q_arm):
            p.resetJointState(self._robot, j, float(q), 0.0, physicsClientId=self._cid)
        for j in self._finger_idx:
            p.resetJointState(self._robot, j, float(finger), 0.0, physicsClientId=self._cid)
        self.set_targets(q_arm, finger)

    def _joint_states(self, joints: list[int], field: int) -> np.ndarray:
        return np.array([s[field] for s in p.getJointStates(self._robot, joints, physicsClientId=self._cid)])

    def _joint_positions(self, joints: list[int]) -> np.ndarray:
        return self._joint_states(joints, 0)

    def arm_positions(self) -> np.ndarray:
        return self._joint_positions(self._arm_idx)

    def arm_velocities(self) -> np.ndarray:
        return self._joint_states(self._arm_idx, 1)

    def finger_positions(self) -> np.ndarray:
        return self._joint_positions(self._finger_idx)

    def set_targets(self, q_arm: np.ndarray, finger: float) -> None:
        cid, r = self._cid, self.robot
        self._q_target = np.array(q_arm, dtype=np.float64)
        self._finger_target = float(finger)
        gain = self._derived["gain:robot"]
        p.setJointMotorControlArray(self._robot, self._arm_idx, p.POSITION_CONTROL,
                                    targetPositions=self._q_target.tolist(), forces=list(r.joint_force),
                                    positionGains=[POSITION_GAIN * gain] * r.dof, velocityGains=[VELOCITY_GAIN] * r.dof,
                                    physicsClientId=cid)
        p.setJointMotorControlArray(self._robot, self._finger_idx, p.POSITION_CONTROL,
                                    targetPositions=[self._finger_target] * 2, forces=[r.finger_force] * 2,
                                    physicsClientId=cid)

    def tcp_pose(self) -> Pose:
        state = p.getLinkState(self._robot, self._tcp, computeForwardKinematics=True, physicsClientId=self._cid)
        return np.array(state[4]), wxyz(state[5])

    def tcp_velocity(self) -> np.ndarray:
        state = p.getLinkState(self._robot, self._tcp, computeLinkVelocity=True, computeForwardKinematics=True,
                               physicsClientId=self._cid)
        return np.array(state[6])

    def tcp_jacobian(self) -> np.ndarray:
        q = self._joint_positions(self._movable).tolist()
        zeros = [0.0] * len(q)
        # The tcp link's inertial origin is its frame, so the local point [0, 0, 0] is the TCP.
        lin, ang = p.calculateJacobian(self._robot, self._tcp, [0.0, 0.0, 0.0], q, zeros, zeros,
                                       physicsClientId=self._cid)
        return np.vstack([np.array(lin), np.array(ang)])[:, self._arm_cols]

    # ---------------------------------------------------------------- objects
    def object_pose(self, name: str) -> Pose:
        pos, orn = p.getBasePositionAndOrientation(self._bodies[name], physicsClientId=self._cid)
        return np.array(pos), wxyz(orn)

    def set_object_pose(self, name: str, pos: np.ndarray, quat: np.ndarray) -> None:
        """Tasks place objects on the nominal table; a raised or lowered table carries them."""
        self.pose_writes += 1
        body = self._bodies[name]
        if self.objects[name].collide:
            pos = np.asarray(pos, dtype=np.float64) + [0.0, 0.0, self._derived["table_height"]]
        p.resetBasePositionAndOrientation(body, list(map(float, pos)), xyzw(quat), physicsClientId=self._cid)
        p.resetBaseVelocity(body, [0.0] * 3, [0.0] * 3, physicsClientId=self._cid)

    def link_pose(self, name: str) -> Pose:
        state = p.getLinkState(self._bodies[name], 0, computeForwardKinematics=True, physicsClientId=self._cid)
        return np.array(state[4]), wxyz(state[5])

    def articulation(self, name: str) -> float:
        return float(p.getJointState(self._bodies[name], 0, physicsClientId=self._cid)[0])

    def set_articulation(self, name: str, value: float) -> None:
        self.pose_writes += 1
        p.resetJointState(self._bodies[name], 0, float(value), 0.0, physicsClientId=self._cid)

    def in_contact(self, a: str, b: str) -> bool:
        (body_a, links_a), (body_b, links_b) = self._groups[a], self._groups[b]
        for c in p.getContactPoints(bodyA=body_a, bodyB=body_b, physicsClientId=self._cid):
            link_a, link_b = (c[3], c[4]) if c[1] == body_a else (c[4], c[3])
            if (links_a is None or link_a in links_a) and (links_b is None or link_b in links_b):
                return True
        return False

    # ---------------------------------------------------------------- simulation
    def step(self, n: int | None = None) -> None:
        for _ in range(self.substeps if n is None else n):
            p.stepSimulation(physicsClientId=self._cid)

    def render(self, camera: str, width: int, height: int) -> np.ndarray:
        spec = CAMERAS[camera]
        proj = p.computeProjectionMatrixFOV(spec.fovy, width / height, NEAR, FAR)
        ambient, diffuse, specular = (c * self._derived["light"] for c in LIGHT_COEFFS)
        _, _, rgba, _, _ = p.getCameraImage(width, height, self._view_matrix(camera), proj, renderer=p.ER_TINY_RENDERER,
                                            flags=p.ER_NO_SEGMENTATION_MASK, lightAmbientCoeff=ambient,
                                            lightDiffuseCoeff=diffuse, lightSpecularCoeff=specular,
                                            physicsClientId=self._cid)
        return np.asarray(rgba, dtype=np.uint8).reshape(height, width, 4)[:, :, :3].copy()

    def param_getters(self) -> dict[str, Getter]:
        cid = self._cid

        def friction(group: str) -> float:
            body, link = self._friction_parts[group][0]
            return float(p.getDynamicsInfo(body, link, physicsClientId=cid)[1])

        return {"gravity": lambda _: float(p.getPhysicsEngineParameters(physicsClientId=cid)["gravityAccelerationZ"]),
                "mass": lambda body: float(p.getDynamicsInfo(self._bodies[body], -1, physicsClientId=cid)[0]),
                "friction": friction}

    def param_setters(self) -> dict[str, Setter]:
        cid = self._cid
        return {"gravity": lambda _, value: p.setGravity(0.0, 0.0, value, physicsClientId=cid),
                "damping": self._set_damping,
                "gain": lambda _, value: self.set_targets(self._q_target, self._finger_target),
                # PyBullet rescales the inertia with the mass: same shape, different density.
                "mass": lambda body, value: p.changeDynamics(self._bodies[body], -1, mass=value, physicsClientId=cid),
                "size": lambda body, value: self._rebuild({body}),
                "table_height": self._set_table_height,
                "light": lambda _, value: None,  # read by render()
                "camera": lambda *_: None,  # the offset is read at every render (_view_matrix)
                "hue": lambda group, value: self._apply_hue(group),
                "friction": self._set_friction}

    def _set_damping(self, _: str, value: float) -> None:
        for j in self._arm_idx:
            p.changeDynamics(self._robot, j, jointDamping=value, physicsClientId=self._cid)

    def _set_table_height(self, _: str, value: float) -> None:
        center = np.add(TABLE_CENTER, [0.0, 0.0, value]).tolist()
        p.resetBasePositionAndOrientation(self._table, center, _IDENTITY, physicsClientId=self._cid)

    def _set_friction(self, group: str, value: float) -> None:
        for body, link in self._friction_parts[group]:
            p.changeDynamics(body, link, lateralFriction=value, physicsClientId=self._cid)

    def _view_matrix(self, camera: str) -> list[float]:
        offset = np.array([self._derived.get(f"camera:{a}", 0.0) for a in CAMERA_AXES])  # world cameras only
        eye, target, up = world_pose(CAMERAS[camera], *self.tcp_pose(), offset)
        return p.computeViewMatrix(eye.tolist(), target.tolist(), up.tolist())

    def _apply_hue(self, target: str) -> None:
        turns = self._derived[f"hue:{target}"]
        if target == TABLE_GROUP:
            parts = [(self._table, -1, (Geom("box", TABLE_HALF, rgba=TABLE_RGBA),))]
        else:
            obj, body = self.objects[target], self._bodies[target]
            parts = [(body, -1, obj.geoms)] + ([(body, 0, obj.link_geoms)] if obj.articulated else [])
        for body, link, geoms in parts:
            for i, g in enumerate(geoms):
                rgba = shift_hue(np.array(g.rgba), turns)
                p.changeVisualShape(body, link, shapeIndex=i, rgbaColor=rgba.tolist(), physicsClientId=self._cid)

    def set_params(self, values: dict[str, float]) -> None:
        """Set many parameters; objects that change size are rebuilt once, together."""
        resized = [n for n, v in values.items() if n.startswith("size:") and check_value(n, v) != self._derived[n]]
        super().set_params({n: v for n, v in values.items() if n not in resized})
        if resized:
            for name in resized:
                self._derived[name] = float(values[name])
            self._rebuild({n.partition(":")[2] for n in resized})

    def _rebuild(self, names: set[str]) -> None:
        """PyBullet cannot resize a collision shape: build objects again at their new size,
        keeping pose, velocity, mass, friction and colour. Every object from the first
        changed one on is rebuilt, so the bodies keep their order (and the solver its)."""
        cid, order = self._cid, list(self.objects)
        first = min(order.index(n) for n in names)
        kept = []
        for name in order[first:]:
            body = self._bodies[name]
            kept.append((p.getBasePositionAndOrientation(body, physicsClientId=cid),
                         p.getBaseVelocity(body, physicsClientId=cid),
                         p.getJointState(body, 0, physicsClientId=cid)[:2] if self.objects[name].articulated else None,
                         p.getDynamicsInfo(body, -1, physicsClientId=cid)[0],
                         self.get_param(f"friction:{name}") if self.objects[name].collide else None))
        # Last first: Bullet removes by swapping with the last body, which would reorder the rest.
        for name in reversed(order[first:]):
            p.removeBody(self._bodies[name], physicsClientId=cid)
        for name, (pose, velocity, joint, mass, friction) in zip(order[first:], kept):
            obj = self.objects[name]
            body = self._add_object(obj, self._derived.get(f"size:{name}", 1.0))
            self._register(obj, body)
            p.resetBasePositionAndOrientation(body, *pose, physicsClientId=cid)
            p.resetBaseVelocity(body, *velocity, physicsClientId=cid)
            if joint is not None:
                p.resetJointState(body, 0, *joint, physicsClientId=cid)
            if obj.free:
                self.set_param(f"mass:{name}", mass)
            if friction is not None:
                self.set_param(f"friction:{name}", friction)
                self._apply_hue(name)

    def get_state(self) -> np.ndarray:
        """Robot joints (q, qd), then per object its base pose (fixed ones too, as MuJoCo's
        mocap poses), base velocity if free and link joint (q, qd) if articulated, then the
        motor targets."""
        cid = self._cid
        joints = p.getJointStates(self._robot, self._movable, physicsClientId=cid)
        parts = [np.array([v for s in joints for v in s[:2]])]
        for name, obj in self.objects.items():
            body = self._bodies[name]
            pos, orn = p.getBasePositionAndOrientation(body, physicsClientId=cid)
            parts.append(np.array(pos + orn))
            if obj.free:
                lin, ang = p.getBaseVelocity(body, physicsClientId=cid)
                parts.append(np.array(lin + ang))
            if obj.articulated:
                parts.append(np.array(p.getJointState(body, 0, physicsClientId=cid)[:2]))
        parts.append(self._q_target)
        parts.append(np.array([self._finger_target]))
        return np.concatenate(parts).astype(np.float64)

    def set_state(self, state: np.ndarray) -> None:
        state = np.asarray(state, dtype=np.float64)
        expected = self.get_state().size
        if state.shape != (expected,):
            raise ValueError(f"state must have shape ({expected},), got {state.shape}")
        self.pose_writes += 1
        cid, i = self._cid, 0
        for j in self._movable:
            p.resetJointState(self._robot, j, state[i], state[i + 1], physicsClientId=cid)
            i += 2
        for name, obj in self.objects.items():
            body = self._bodies[name]
            p.resetBasePositionAndOrientation(body, state[i:i + 3].tolist(), state[i + 3:i + 7].tolist(),
                                              physicsClientId=cid)
            i += 7
            if obj.free:
                p.resetBaseVelocity(body, state[i:i + 3].tolist(), state[i + 3:i + 6].tolist(), physicsClientId=cid)
                i += 6
            if obj.articulated:
                p.resetJointState(body, 0, state[i], state[i + 1], physicsClientId=cid)
                i += 2
        dof = self.robot.dof
        self.set_targets(state[i:i + dof], state[i + dof])

    def close(self) -> None:
        if p.isConnected(physicsClientId=self._cid):
            p.disconnect(physicsClientId=self._cid)
