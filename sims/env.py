"""The gymnasium environment: one task x robot x backend.

    gymnasium.make("robolearn/PickPlace-v0", robot="kuka", backend="pybullet")

Observation: {"state": float32[STATE_DIM], "task_id": int, "robot_id": int} plus
"images": {camera: uint8 (image_size, image_size, 3)} for the cameras named in
`cameras` (sims.cameras: front, wrist); `render()` draws the front camera at
render_size x render_size. Action: the shared 7-d end-effector
delta (robolearn.spec). `info["success"]` is set on every step; episodes are
truncated at the task's horizon (gymnasium's TimeLimit, registered per task).

Domain randomization (`dr="none"|"uniform"|"adr"` or a randomizer object, see
sims.randomization) samples physics at every reset; `info["dr_params"]` holds the
values, and `reset(options={"dr_params": values})` applies given ones instead. The
episode's success goes back to the randomizer at the next reset.
"""
from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np

from robolearn.spec import ACTION_DIM, STATE_DIM, STATE_SLICES, canonical_tcp_quat
from robolearn.sims.backend import CONTROL_DT, BACKENDS, make_backend
from robolearn.sims.cameras import DEFAULT_CAMERA, check_cameras
from robolearn.sims.controller import EndEffectorController
from robolearn.sims.randomization import DRConfig, NoRandomizer, Randomizer, backend_values, make_randomizer
from robolearn.sims.robots import ROBOTS, robot_spec
from robolearn.sims.tasks import TASKS, make_task

HOME_JITTER = 0.02  # rad of noise on the home posture at reset
HOLD = np.array([0.0] * 6 + [-1.0])  # what a delayed controller applies before the first action: hold, open


class RobolearnEnv(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": int(round(1 / CONTROL_DT))}

    def __init__(self, task: str, robot: str = "panda", backend: str = "mujoco", render_mode: str | None = None,
                 cameras: tuple[str, ...] | list[str] = (), image_size: int = 84, render_size: int = 128,
                 dr: str | DRConfig | Randomizer | None = "none"):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"unsupported render_mode {render_mode!r}; allowed: None, 'rgb_array'")
        for key, size in (("image_size", image_size), ("render_size", render_size)):
            if not 8 <= size <= 1024:
                raise ValueError(f"{key}={size}: allowed 8 to 1024 pixels")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; allowed backends: {', '.join(BACKENDS)}")
        self.task = make_task(task)
        self.robot = robot_spec(robot)
        self.backend_name = backend
        self.render_mode = render_mode
        self.cameras = check_cameras(cameras)
        self.image_size, self.render_size = image_size, render_size
        self.sim = make_backend(backend, self.robot, self.task.objects())
        self.controller = EndEffectorController(self.sim, self.robot.max_pos_step, self.robot.max_rot_step, CONTROL_DT)
        self.task_id = list(TASKS).index(self.task.name)
        self.robot_id = ROBOTS.index(self.robot.name)
        spaces: dict[str, gym.Space] = {
            "state": gym.spaces.Box(-np.inf, np.inf, (STATE_DIM,), np.float32),
            "task_id": gym.spaces.Discrete(len(TASKS)),
            "robot_id": gym.spaces.Discrete(len(ROBOTS)),
        }
        if self.cameras:
            image = gym.spaces.Box(0, 255, (image_size, image_size, 3), np.uint8)
            spaces["images"] = gym.spaces.Dict({name: image for name in self.cameras})
        self.observation_space = gym.spaces.Dict(spaces)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (ACTION_DIM,), np.float32)
        self._state = np.zeros(STATE_DIM, dtype=np.float32)
        self.randomizer = make_randomizer(dr)
        self._nominal_params = {n: self.sim.get_param(n) for n in self.sim.param_names()}
        self.dr_params: dict[str, float] = {}
        self._boundary: str | None = None  # the ADR boundary pinned in this episode
        self._episode_steps, self._episode_success = 0, False
        self._pending: deque[np.ndarray] = deque()

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        rng = self.np_random
        if self._boundary is not None and self._episode_steps > 0:
            self.randomizer.record(self._boundary, self._episode_success)
        self._episode_steps, self._episode_success = 0, False
        values, self._boundary = {}, None
        forced = (options or {}).get("dr_params")
        if forced or not isinstance(self.randomizer, NoRandomizer):
            # DR draws from its own generator, seeded by one draw from the env's: the task's
            # stream is then the same whatever the randomizer, and a recorded episode's
            # values (options={"dr_params": ...}) reproduce its reset exactly.
            dr_rng = np.random.default_rng(int(rng.integers(2**63)))
            values, self._boundary = (dict(forced), None) if forced else self.randomizer.sample(dr_rng)
        if values or self.dr_params:
            self.apply_dr(values)
        q = np.asarray(self.robot.home_q) + rng.uniform(-HOME_JITTER, HOME_JITTER, self.robot.dof)
        self.sim.reset_robot(q, self.robot.finger_max)
        self.controller.reset()
        self.task.reset(self.sim, rng)
        obs, task_obs = self._observe()
        _, success = self.task.evaluate(self.sim, task_obs)
        return obs, {"success": success, "dr_params": dict(self.dr_params), "dr_boundary": self._boundary}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        action = self.check_action(action)
        noise = self.dr_params.get("action_noise", 0.0)
        if noise > 0:
            action = np.clip(action + self.np_random.normal(0.0, noise, ACTION_DIM), -1.0, 1.0)
        # Latency: the controller applies the action given `action_latency` steps ago.
        self._pending.append(action)
        self.controller.apply(self._pending.popleft())
        return self._advance()

    def step_targets(self, q_target: np.ndarray, finger: float) -> tuple[dict, float, bool, bool, dict]:
        """One control step toward given joint targets (an arm driven by joint trajectories, as
        the ROS twin is), bypassing the end-effector controller; same returns as `step`."""
        q_target = np.asarray(q_target, dtype=np.float64)
        if q_target.shape != (self.robot.dof,) or not np.all(np.isfinite(q_target)):
            raise ValueError(f"joint targets must be {self.robot.dof} finite values, got {q_target.tolist()}")
        lo, hi = self.sim.arm_limits()
        self.sim.set_targets(np.clip(q_target, lo, hi), float(np.clip(finger, 0.0, self.robot.finger_max)))
        self.controller.reset()  # the arm moves without it
        return self._advance()

    def _advance(self) -> tuple[dict, float, bool, bool, dict]:
        self.sim.step()
        obs, task_obs = self._observe()
        reward, success = self.task.evaluate(self.sim, task_obs)
        self._episode_steps += 1
        self._episode_success |= success
        return obs, reward, False, False, {"success": success}

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        return self.sim.render(DEFAULT_CAMERA, self.render_size, self.render_size)

    def close(self) -> None:
        self.sim.close()

    # ------------------------------------------------------------------ helpers
    def apply_dr(self, values: dict[str, float]) -> None:
        """Set randomization values (sims.randomization.DR_PARAMS names); every parameter
        not in `values` goes back to its nominal value."""
        self.sim.set_params(backend_values(values, self._nominal_params))
        self.dr_params = dict(values)
        self._pending = deque([HOLD] * int(values.get("action_latency", 0)))

    @staticmethod
    def check_action(action: Any) -> np.ndarray:
        """Reject non-finite actions (they would poison the physics); clip the rest to [-1, 1]."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (ACTION_DIM,):
            raise ValueError(f"action must have shape ({ACTION_DIM},), got {a.shape}")
        bad = ~np.isfinite(a)
        if bad.any():
            raise ValueError(f"action has non-finite values at indices {np.flatnonzero(bad).tolist()}: {a.tolist()}")
        return np.clip(a, -1.0, 1.0)

    def _observe(self) -> tuple[dict, dict[str, np.ndarray]]:
        sim, s = self.sim, self._state
        s[:] = 0.0
        pos, quat = sim.tcp_pose()
        s[STATE_SLICES["tcp_pos"]] = pos
        s[STATE_SLICES["tcp_quat"]] = canonical_tcp_quat(quat)
        s[STATE_SLICES["tcp_vel"]] = sim.tcp_velocity()
        s[STATE_SLICES["gripper"]] = sim.finger_positions().sum()
        s[STATE_SLICES["joint_pos"].start:STATE_SLICES["joint_pos"].start + self.robot.dof] = sim.arm_positions()
        task_obs = self.task.observe(sim)
        for key, value in task_obs.items():
            s[STATE_SLICES[key]] = value
        if not np.all(np.isfinite(s)):
            raise FloatingPointError(f"non-finite observation from {self.backend_name}: {s.tolist()}")
        state = s.copy()
        noise = self.dr_params.get("obs_noise", 0.0)
        if noise > 0:  # on the slots this task and robot fill; unused slots stay zero
            used = np.zeros(STATE_DIM, bool)
            for key in ("tcp_pos", "tcp_quat", "tcp_vel", "gripper", *task_obs):
                used[STATE_SLICES[key]] = True
            used[STATE_SLICES["joint_pos"].start:STATE_SLICES["joint_pos"].start + self.robot.dof] = True
            state[used] += self.np_random.normal(0.0, noise, int(used.sum())).astype(np.float32)
        obs = {"state": state, "task_id": self.task_id, "robot_id": self.robot_id}
        if self.cameras:
            obs["images"] = {name: sim.render(name, self.image_size, self.image_size) for name in self.cameras}
        return obs, task_obs
