"""MuJoCo implementation of the backend protocol.

The robot comes from the generated URDF (MuJoCo compiles URDF); the table, objects,
camera and position actuators are added with the MjSpec API. Arm bodies get gravity
compensation, as a real arm's torque controller provides; the joints are driven by
position servos, so the hand moves only through its joints.
"""
from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

from robolearn.sims.backend import (
    CONTROL_DT, FINGERS_GROUP, ROBOT_GROUP, TABLE_CENTER, TABLE_GROUP, TABLE_HALF, Pose,
)
from robolearn.sims.cameras import BACKGROUND_RGB, CAMERAS, LIGHT_COEFFS, NEAR, look_at
from robolearn.sims.geometry import mat_to_quat
from robolearn.sims.objects import Geom, ObjectSpec
from robolearn.sims.robots import TCP_LINK, RobotSpec, urdf_path
from robolearn.sims.scene_params import CAMERA_AXES, Getter, SceneParameters, Setter, derived_nominals, shift_hue

PHYSICS_DT = 0.0025
_GEOM_TYPES = {"box": mujoco.mjtGeom.mjGEOM_BOX, "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER, "sphere": mujoco.mjtGeom.mjGEOM_SPHERE}
_ROBOT_CONTYPE, _ROBOT_CONAFFINITY = 2, 1  # the arm does not collide with itself (as in PyBullet's default)
_WORLD_CONTYPE, _WORLD_CONAFFINITY = 1, 3
FINGER_FRICTION = 1.5


def _volume(g: Geom) -> float:
    if g.kind == "box":
        return 8 * g.size[0] * g.size[1] * g.size[2]
    if g.kind == "cylinder":
        return np.pi * g.size[0] ** 2 * 2 * g.size[1]
    return 4 / 3 * np.pi * g.size[0] ** 3


def _add_geoms(body: Any, geoms: tuple[Geom, ...], mass: float, friction: float, collide: bool) -> None:
    total = sum(_volume(g) for g in geoms)
    for g in geoms:
        size = list(g.size) + [0.0] * (3 - len(g.size))
        geom = body.add_geom(type=_GEOM_TYPES[g.kind], size=size, pos=g.pos, quat=g.quat, rgba=g.rgba,
                             friction=[friction, 0.005, 0.0001])
        if mass > 0:
            geom.mass = mass * _volume(g) / total
        if collide:
            geom.contype, geom.conaffinity = _WORLD_CONTYPE, _WORLD_CONAFFINITY
        else:
            geom.contype = geom.conaffinity = 0
            geom.mass = 0.0


class MujocoBackend(SceneParameters):
    name = "mujoco"

    def __init__(self, robot: RobotSpec, objects: list[ObjectSpec]):
        self.robot = robot
        self.objects = {o.name: o for o in objects}
        self.physics_dt = PHYSICS_DT
        self.substeps = int(round(CONTROL_DT / PHYSICS_DT))
        self.pose_writes = 0
        self.model = self._build_spec().compile()
        self.model.vis.map.znear = NEAR / self.model.stat.extent  # MuJoCo scales the near plane by the extent
        self.data = mujoco.MjData(self.model)
        self._index()
        m = self.model
        # Nominal model arrays: every parameter is applied relative to them, so restoring
        # the nominal value restores the model bit for bit.
        self._nominal_arrays = {key: getattr(m, key).copy() for key in (
            "body_inertia", "body_ipos", "geom_size", "geom_pos", "geom_rbound", "geom_aabb", "geom_rgba",
            "cam_pos", "light_diffuse")}
        self._nominal_kp = m.actuator_gainprm[self._arm_act, 0].copy()
        self._nominal_headlight = (m.vis.headlight.ambient.copy(), m.vis.headlight.diffuse.copy())
        # Parameters the model stores only as products of several fields: kept here.
        self._derived = derived_nominals(self.param_names())
        self._nominal = {n: self.get_param(n) for n in self.param_names()}
        self._renderer: mujoco.Renderer | None = None
        mujoco.mj_forward(self.model, self.data)

    # ---------------------------------------------------------------- building
    def _build_spec(self) -> mujoco.MjSpec:
        r = self.robot
        spec = mujoco.MjSpec.from_file(urdf_path(r.name))
        # MuJoCo's URDF import discards geoms that never collide: goal markers are only drawn.
        spec.compiler.discardvisual = False
        spec.option.timestep = PHYSICS_DT
        spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
        spec.option.cone = mujoco.mjtCone.mjCONE_ELLIPTIC
        spec.option.impratio = 10.0  # firmer friction: grasped objects slip less
        # Several contacts between flat convex faces (a puck or cup on the table), not one:
        # a single contact lets a cylinder rock and sink into the table by millimetres.
        spec.option.enableflags |= mujoco.mjtEnableBit.mjENBL_MULTICCD
        spec.visual.global_.offwidth = 640
        spec.visual.global_.offheight = 480
        spec.visual.quality.offsamples = 0
        for body in spec.bodies:
            if body.name != "world":
                body.gravcomp = 1.0
        fingers = {r.finger_joints[0], r.finger_joints[1]}
        finger_bodies = set()
        for joint in spec.joints:
            if joint.name in r.arm_joints:
                joint.armature = 0.05
                joint.damping = 1.0
            elif joint.name in fingers:
                joint.armature = 0.01
                joint.damping = 5.0
                finger_bodies.add(joint.parent.name)
        for geom in spec.geoms:
            geom.contype, geom.conaffinity = _ROBOT_CONTYPE, _ROBOT_CONAFFINITY
            if geom.parent.name in finger_bodies:
                geom.friction = [FINGER_FRICTION, 0.02, 0.0001]
                geom.condim = 4
        for name, force in zip(r.arm_joints, r.joint_force):
            act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=20.0 * force, dampratio=1.0)
            act.forcelimited, act.forcerange = True, [-force, force]
        for name in r.finger_joints:
            act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=2000.0, dampratio=1.0)
            act.forcelimited, act.forcerange = True, [-r.finger_force, r.finger_force]
        # The fingers are coupled, as in the real grippers: a held object stays centred
        # between them instead of sliding with both fingers along the closing axis.
        spec.add_equality(type=mujoco.mjtEq.mjEQ_JOINT, name1=r.finger_joints[1], name2=r.finger_joints[0],
                          data=[0.0, 1.0, 0.0, 0.0, 0.0] + [0.0] * 6)

        world = spec.worldbody
        table = world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=TABLE_HALF, pos=TABLE_CENTER,
                               rgba=[0.82, 0.76, 0.65, 1.0], friction=[1.0, 0.005, 0.0001])
        table.contype, table.conaffinity = _WORLD_CONTYPE, _WORLD_CONAFFINITY
        ambient, diffuse, specular = LIGHT_COEFFS
        world.add_light(pos=[0.4, 0.0, 1.5], dir=[0.0, 0.0, -1.0], diffuse=[diffuse] * 3, specular=[specular] * 3,
                        type=mujoco.mjtLightType.mjLIGHT_DIRECTIONAL, castshadow=False)
        spec.visual.headlight.ambient = [ambient] * 3
        spec.visual.headlight.diffuse = [0.0] * 3
        spec.visual.headlight.specular = [0.0] * 3
        spec.add_texture(name="background", type=mujoco.mjtTexture.mjTEXTURE_SKYBOX,
                         builtin=mujoco.mjtBuiltin.mjBUILTIN_FLAT, rgb1=BACKGROUND_RGB, rgb2=BACKGROUND_RGB,
                         width=8, height=8)
        for obj in self.objects.values():
            body = world.add_body(name=obj.name, mocap=not obj.free)
            if obj.free:
                body.add_freejoint(name=f"{obj.name}_free")
            _add_geoms(body, obj.geoms, obj.mass, obj.friction, obj.collide)
            if obj.joint is not None:
                j = obj.joint
                link = body.add_body(name=f"{obj.name}_link", pos=j.anchor)
                kind = mujoco.mjtJoint.mjJNT_SLIDE if j.kind == "slide" else mujoco.mjtJoint.mjJNT_HINGE
                link.add_joint(name=f"{obj.name}_joint", type=kind, axis=j.axis, range=j.range, damping=j.damping,
                               limited=True, armature=0.01, stiffness=j.spring, springref=j.range[0])
                _add_geoms(link, obj.link_geoms, obj.link_mass, obj.friction, obj.collide)
                # A mocap parent does not get MuJoCo's parent-child contact filter.
                spec.add_exclude(bodyname1=obj.name, bodyname2=f"{obj.name}_link")
        mounts = {"world": world, "tcp": spec.body(TCP_LINK)}
        for cam in CAMERAS.values():
            frame = look_at(np.array(cam.eye), np.array(cam.target), np.array(cam.up))
            mounts[cam.mount].add_camera(name=cam.name, pos=cam.eye, quat=mat_to_quat(frame), fovy=cam.fovy)
        return spec

    def _index(self) -> None:
        m, r = self.model, self.robot
        self._arm_qadr = np.array([m.joint(j).qposadr[0] for j in r.arm_joints])
        self._arm_dadr = np.array([m.joint(j).dofadr[0] for j in r.arm_joints])
        self._finger_qadr = np.array([m.joint(j).qposadr[0] for j in r.finger_joints])
        self._finger_dadr = np.array([m.joint(j).dofadr[0] for j in r.finger_joints])
        self._arm_act = np.array([m.actuator(f"act_{j}").id for j in r.arm_joints])
        self._finger_act = np.array([m.actuator(f"act_{j}").id for j in r.finger_joints])
        self._tcp = m.body(TCP_LINK).id
        lo, hi = m.jnt_range[[m.joint(j).id for j in r.arm_joints]].T
        self._limits = (lo.copy(), hi.copy())
        body_root = m.body_rootid
        tcp_root = body_root[self._tcp]
        robot_bodies = {i for i in range(1, m.nbody) if body_root[i] == tcp_root}
        finger_bodies = {m.jnt_bodyid[m.joint(j).id] for j in r.finger_joints}
        self._groups: dict[str, np.ndarray] = {}
        geom_body = m.geom_bodyid
        self._groups[ROBOT_GROUP] = np.isin(geom_body, list(robot_bodies))
        self._groups[FINGERS_GROUP] = np.isin(geom_body, list(finger_bodies))
        self._groups[TABLE_GROUP] = np.arange(m.ngeom) == m.geom("table").id
        self._free_qadr: dict[str, int] = {}
        self._free_dadr: dict[str, int] = {}
        self._mocap: dict[str, int] = {}
        self._link: dict[str, int] = {}
        self._art_qadr: dict[str, int] = {}
        self._art_dadr: dict[str, int] = {}
        for name, obj in self.objects.items():
            bid = m.body(name).id
            bodies = [bid]
            if obj.free:
                jid = m.body_jntadr[bid]
                self._free_qadr[name] = m.jnt_qposadr[jid]
                self._free_dadr[name] = m.jnt_dofadr[jid]
            else:
                self._mocap[name] = m.body_mocapid[bid]
            if obj.joint is not None:
                lid = m.body(f"{name}_link").id
                jid = m.joint(f"{name}_joint").id
                self._link[name] = lid
                self._art_qadr[name] = m.jnt_qposadr[jid]
                self._art_dadr[name] = m.jnt_dofadr[jid]
                bodies.append(lid)
            self._groups[name] = np.isin(geom_body, bodies)

    # ---------------------------------------------------------------- robot
    def arm_limits(self) -> tuple[np.ndarray, np.ndarray]:
        return self._limits

    def reset_robot(self, q_arm: np.ndarray, finger: float) -> None:
        self.pose_writes += 1
        d = self.data
        # Each episode starts fresh: t = 0 and no solver warm start carried over from the last
        # one, so an episode depends only on its own seed (and replays exactly).
        d.time = 0.0
        d.qacc_warmstart[:] = 0.0
        d.qpos[self._arm_qadr] = q_arm
        d.qvel[self._arm_dadr] = 0.0
        d.qpos[self._finger_qadr] = finger
        d.qvel[self._finger_dadr] = 0.0
        d.ctrl[self._arm_act] = q_arm
        d.ctrl[self._finger_act] = finger
        mujoco.mj_forward(self.model, d)

    def arm_positions(self) -> np.ndarray:
        return self.data.qpos[self._arm_qadr].copy()

    def arm_velocities(self) -> np.ndarray:
        return self.data.qvel[self._arm_dadr].copy()

    def finger_positions(self) -> np.ndarray:
        return self.data.qpos[self._finger_qadr].copy()

    def set_targets(self, q_arm: np.ndarray, finger: float) -> None:
        self.data.ctrl[self._arm_act] = q_arm
        self.data.ctrl[self._finger_act] = finger

    def tcp_pose(self) -> Pose:
        return self.data.xpos[self._tcp].copy(), self.data.xquat[self._tcp].copy()

    def tcp_velocity(self) -> np.ndarray:
        vel = np.zeros(6)
        mujoco.mj_objectVelocity(self.model, self.data, mujoco.mjtObj.mjOBJ_BODY, self._tcp, vel, 0)
        return vel[3:]

    def tcp_jacobian(self) -> np.ndarray:
        jac = np.zeros((6, self.model.nv))
        mujoco.mj_jacBody(self.model, self.data, jac[:3], jac[3:], self._tcp)
        return jac[:, self._arm_dadr]

    # ---------------------------------------------------------------- objects
    def object_pose(self, name: str) -> Pose:
        if name in self._free_qadr:
            a = self._free_qadr[name]
            return self.data.qpos[a:a + 3].copy(), self.data.qpos[a + 3:a + 7].copy()
        i = self._mocap[name]
        return self.data.mocap_pos[i].copy(), self.data.mocap_quat[i].copy()

    def set_object_pose(self, name: str, pos: np.ndarray, quat: np.ndarray) -> None:
        """Tasks place objects on the nominal table; a raised or lowered table carries them."""
        self.pose_writes += 1
        if self.objects[name].collide:
            pos = np.asarray(pos, dtype=np.float64) + [0.0, 0.0, self._derived["table_height"]]
        if name in self._free_qadr:
            a, v = self._free_qadr[name], self._free_dadr[name]
            self.data.qpos[a:a + 3] = pos
            self.data.qpos[a + 3:a + 7] = quat
            self.data.qvel[v:v + 6] = 0.0
        else:
            i = self._mocap[name]
            self.data.mocap_pos[i] = pos
            self.data.mocap_quat[i] = quat
        mujoco.mj_forward(self.model, self.data)

    def link_pose(self, name: str) -> Pose:
        lid = self._link[name]
        return self.data.xpos[lid].copy(), self.data.xquat[lid].copy()

    def articulation(self, name: str) -> float:
        return float(self.data.qpos[self._art_qadr[name]])

    def set_articulation(self, name: str, value: float) -> None:
        self.pose_writes += 1
        self.data.qpos[self._art_qadr[name]] = value
        self.data.qvel[self._art_dadr[name]] = 0.0
        mujoco.mj_forward(self.model, self.data)

    def in_contact(self, a: str, b: str) -> bool:
        n = self.data.ncon
        if n == 0:
            return False
        geom = self.data.contact.geom[:n]
        ma, mb = self._groups[a], self._groups[b]
        g1, g2 = geom[:, 0], geom[:, 1]
        return bool(np.any((ma[g1] & mb[g2]) | (ma[g2] & mb[g1])))

    # ---------------------------------------------------------------- simulation
    def step(self, n: int | None = None) -> None:
        mujoco.mj_step(self.model, self.data, nstep=self.substeps if n is None else n)
        # mj_step leaves poses, velocities and contacts computed for the state before its
        # last integration; recompute them so observations match the joint positions.
        mujoco.mj_forward(self.model, self.data)

    def render(self, camera: str, width: int, height: int) -> np.ndarray:
        if self._renderer is None or (self._renderer.width, self._renderer.height) != (width, height):
            if self._renderer is not None:
                self._renderer.close()
            self._renderer = mujoco.Renderer(self.model, height=height, width=width)
        self._renderer.update_scene(self.data, camera=camera)
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        return self._renderer.render().copy()

    def param_getters(self) -> dict[str, Getter]:
        m = self.model
        return {"gravity": lambda _: float(m.opt.gravity[2]),
                "damping": lambda _: float(m.dof_damping[self._arm_dadr][0]),
                "mass": lambda body: float(m.body_mass[m.body(body).id]),
                "friction": lambda group: float(m.geom_friction[self._groups[group], 0][0])}

    def param_setters(self) -> dict[str, Setter]:
        return {"gravity": self._set_gravity, "damping": self._set_damping, "gain": self._set_gain,
                "mass": self._set_mass, "size": self._set_size, "table_height": self._set_table_height,
                "light": self._set_light, "camera": self._set_camera, "hue": self._set_hue,
                "friction": self._set_friction}

    def _set_gravity(self, _: str, value: float) -> None:
        self.model.opt.gravity[2] = value

    def _set_damping(self, _: str, value: float) -> None:
        self.model.dof_damping[self._arm_dadr] = value

    def _set_gain(self, _: str, value: float) -> None:
        kp = self._nominal_kp * value
        self.model.actuator_gainprm[self._arm_act, 0] = kp
        self.model.actuator_biasprm[self._arm_act, 1] = -kp

    def _set_mass(self, body: str, value: float) -> None:
        self.model.body_mass[self.model.body(body).id] = value
        self._update_inertia(body)

    def _set_size(self, body: str, value: float) -> None:
        m, nominal = self.model, self._nominal_arrays
        geoms, bid = self._groups[body], m.body(body).id
        for key in ("geom_size", "geom_pos", "geom_rbound", "geom_aabb"):
            getattr(m, key)[geoms] = nominal[key][geoms] * value
        m.body_ipos[bid] = nominal["body_ipos"][bid] * value
        self._update_inertia(body)

    def _set_table_height(self, _: str, value: float) -> None:
        table = self.model.geom("table").id
        self.model.geom_pos[table, 2] = self._nominal_arrays["geom_pos"][table, 2] + value

    def _set_light(self, _: str, value: float) -> None:
        m = self.model
        m.light_diffuse[:] = self._nominal_arrays["light_diffuse"] * value
        m.vis.headlight.ambient[:] = self._nominal_headlight[0] * value
        m.vis.headlight.diffuse[:] = self._nominal_headlight[1] * value

    def _set_camera(self, axis: str, value: float) -> None:
        """Shifts every camera fixed in the world (the wrist camera rides on the hand)."""
        index = CAMERA_AXES.index(axis)
        for cam in (self.model.camera(c.name).id for c in CAMERAS.values() if c.mount == "world"):
            self.model.cam_pos[cam, index] = self._nominal_arrays["cam_pos"][cam, index] + value

    def _set_hue(self, group: str, value: float) -> None:
        geoms = self._groups[group]
        self.model.geom_rgba[geoms] = shift_hue(self._nominal_arrays["geom_rgba"][geoms], value)

    def _set_friction(self, group: str, value: float) -> None:
        self.model.geom_friction[self._groups[group], 0] = value

    def _update_inertia(self, name: str) -> None:
        """Inertia follows mass (same shape, other density) and size squared (same density profile)."""
        m, bid = self.model, self.model.body(name).id
        mass_ratio = m.body_mass[bid] / self._nominal[f"mass:{name}"]
        m.body_inertia[bid] = self._nominal_arrays["body_inertia"][bid] * mass_ratio * self._derived[f"size:{name}"] ** 2

    def get_state(self) -> np.ndarray:
        spec = mujoco.mjtState.mjSTATE_INTEGRATION
        state = np.empty(mujoco.mj_stateSize(self.model, spec))
        mujoco.mj_getState(self.model, self.data, state, spec)
        return state

    def set_state(self, state: np.ndarray) -> None:
        self.pose_writes += 1
        mujoco.mj_setState(self.model, self.data, np.asarray(state, dtype=np.float64), mujoco.mjtState.mjSTATE_INTEGRATION)
        mujoco.mj_forward(self.model, self.data)

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
