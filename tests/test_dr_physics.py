"""Every randomization parameter demonstrably changes the simulation, on both backends.

Each test runs one scripted scenario at the nominal value and at a changed one (pinned
with a zero-width `uniform` range) and checks the direction of the effect.
"""
from __future__ import annotations

import ast
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims as sims
from robolearn.spec import STATE_SLICES as S
from robolearn.sims.backend import BACKENDS
from robolearn.sims.experts import expert_for
from robolearn.sims.randomization import DR_PARAMS, UniformRandomizer

backends = pytest.mark.parametrize("backend", BACKENDS)


def make(task: str, backend: str, values: dict[str, float], **kwargs) -> gym.Env:
    """An env whose every reset pins `values` (nominal gravity when empty, so the path is the same)."""
    values = values or {"gravity": DR_PARAMS["gravity"].nominal}
    dr = UniformRandomizer({k: (v, v) for k, v in values.items()}, params=list(values))
    return gym.make(sims.env_id(task), robot="panda", backend=backend, dr=dr, **kwargs)


def move(env: gym.Env, obs: dict, target: np.ndarray, grip: float, steps: int) -> dict:
    for _ in range(steps):
        action = np.zeros(7)
        action[:3] = np.clip((target - obs["state"][S["tcp_pos"]]) / 0.02, -1, 1)
        action[6] = grip
        obs, *_ = env.step(action)
    return obs


def strike(backend: str, values: dict[str, float], offset: float = 0.0, steps: int = 5, seed: int = 0) -> np.ndarray:
    """Strike the puck along +x at full speed with the closed fingers `offset` m to its +y
    side, pull back, and return the puck's displacement."""
    env = make("push", backend, values)
    obs, _ = env.reset(seed=seed)
    puck = obs["state"][S["obj0_pos"]].copy()
    obs = move(env, obs, puck + [-0.06, offset, 0.008], 1.0, 40)
    for direction, n in ((1.0, steps), (-1.0, 15)):
        for _ in range(n):
            obs, *_ = env.step(np.array([direction, 0, 0, 0, 0, 0, 1.0]))
    return obs["state"][S["obj0_pos"]] - puck


def push_travel(backend: str, values: dict[str, float]) -> float:
    return float(strike(backend, values)[0])


def carried_height(backend: str, values: dict[str, float], sim_params: dict[str, float] | None = None
                   ) -> tuple[float, float]:
    """(cube z, hand z) after the lift expert has grasped and lifted the cube and the hand
    has then held still for 10 steps (zero motion: the controller holds the measured pose,
    so a payload's weight shows as sag; while moving, its reference would make up for it).
    `sim_params`: the backend's own parameters (absolute values), set after the reset."""
    env = make("lift", backend, values)
    obs, _ = env.reset(seed=0)
    for name, value in (sim_params or {}).items():
        env.unwrapped.sim.set_param(name, value)
    policy = expert_for(env)
    for _ in range(60):
        obs, *_ = env.step(policy(obs))
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, 1.0]))
    return float(obs["state"][S["obj0_pos"]][2]), float(obs["state"][S["tcp_pos"]][2])


def hand_travel(backend: str, values: dict[str, float], steps: int = 2) -> float:
    """How far the hand goes along +x in `steps` control steps of full +x command from rest."""
    env = make("reach", backend, values)
    obs, _ = env.reset(seed=0)
    start = obs["state"][S["tcp_pos"]].copy()
    for _ in range(steps):
        obs, *_ = env.step(np.array([1.0, 0, 0, 0, 0, 0, -1.0]))
    return float(obs["state"][S["tcp_pos"]][0] - start[0])


def settled_puck_z(backend: str, values: dict[str, float]) -> float:
    env = make("push", backend, values)
    env.reset(seed=0)
    for _ in range(10):
        obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
    return float(obs["state"][S["obj0_pos"]][2])


@backends
def test_heavier_object_moves_less_or_loads_the_arm_more(backend: str) -> None:
    # A heavier carried cube pulls the position-servoed hand lower on both simulators.
    _, hand_nominal = carried_height(backend, {})
    _, hand_heavy = carried_height(backend, {"object_mass": 4.0})
    assert hand_heavy < hand_nominal - 3e-4, (hand_nominal, hand_heavy)


@backends
@pytest.mark.parametrize("name", ["object_friction", "table_friction"])
def test_more_friction_slides_less(backend: str, name: str) -> None:
    # Half against twice the nominal friction. (From the nominal value up, PyBullet's puck
    # mostly rides on the fingers and slides only 3-6 mm less; MuJoCo combines two geoms'
    # friction by their maximum, so lowering one surface alone changes nothing there.)
    smooth, rough = push_travel(backend, {name: 0.5}), push_travel(backend, {name: 2.0})
    assert rough < smooth - 0.005, (smooth, rough)


# MuJoCo combines two surfaces' friction by their maximum, so there the cube's own friction is
# set low for the pads' to govern; Bullet combines them by product.
CUBE_FRICTION = {"mujoco": 0.05, "pybullet": 1.0}


@backends
def test_finger_friction_decides_whether_a_squeezed_load_slips(backend: str) -> None:
    # The DR parameter scales the finger pads' friction...
    pads = make("lift", backend, {"finger_friction": 2.0})
    pads.reset(seed=0)
    nominal = make("lift", backend, {})
    nominal.reset(seed=0)
    assert pads.unwrapped.sim.get_param("friction:fingers") == pytest.approx(
        2.0 * nominal.unwrapped.sim.get_param("friction:fingers"))
    # ...and the pads' friction is what holds a 1 kg cube, squeezed by the gripper's fixed
    # force, against its weight: a slow static balance, not a chaotic collision.
    def lifted_to(pad_friction: float) -> float:
        load = {"mass:cube": 1.0, "friction:cube": CUBE_FRICTION[backend], "friction:fingers": pad_friction}
        return carried_height(backend, {}, load)[0]

    slippery, grippy = lifted_to(0.1), lifted_to(2.0)
    assert slippery < 0.03 < 0.1 < grippy, (slippery, grippy)  # slipped out onto the table; carried up


@backends
def test_gravity_changes_the_fall(backend: str) -> None:
    def fall(g: float) -> float:
        env = make("push", backend, {"gravity": g})
        env.reset(seed=0)
        sim = env.unwrapped.sim
        pos, quat = sim.object_pose("puck")
        sim.set_object_pose("puck", pos + [0.0, 0.0, 0.3], quat)
        sim.step(40)  # 0.1 s or less: still in the air
        return float(pos[2] + 0.3 - sim.object_pose("puck")[0][2])

    weak, strong = fall(-8.0), fall(-12.0)
    assert strong > weak * 1.3, (weak, strong)


@backends
@pytest.mark.parametrize("name,value", [("joint_damping", 100.0), ("actuator_gain", 0.3)])
def test_damping_and_gain_slow_the_arm(backend: str, name: str, value: float) -> None:
    nominal, slowed = hand_travel(backend, {}), hand_travel(backend, {name: value})
    assert slowed < 0.9 * nominal, (nominal, slowed)


@backends
def test_latency_delays_the_response(backend: str) -> None:
    assert abs(hand_travel(backend, {"action_latency": 2.0}, steps=2)) < 1e-3
    assert hand_travel(backend, {"action_latency": 2.0}, steps=4) > 0.01
    assert hand_travel(backend, {}, steps=2) > 0.01


@backends
def test_size_and_table_height_move_the_resting_object(backend: str) -> None:
    nominal = settled_puck_z(backend, {})
    assert settled_puck_z(backend, {"object_size": 1.15}) > nominal + 0.002
    assert settled_puck_z(backend, {"table_height": 0.02}) == pytest.approx(nominal + 0.02, abs=1e-3)


@backends
def test_action_noise_moves_a_holding_arm(backend: str) -> None:
    def drift(values: dict[str, float]) -> float:
        env = make("reach", backend, values)
        obs, _ = env.reset(seed=0)
        start = obs["state"][S["tcp_pos"]].copy()
        for _ in range(10):
            obs, *_ = env.step(np.array([0, 0, 0, 0, 0, 0, -1.0]))
        return float(np.linalg.norm(obs["state"][S["tcp_pos"]] - start))

    assert drift({"action_noise": 0.3}) > 5 * drift({}) + 1e-3


@backends
def test_observation_noise_only_on_used_slots(backend: str) -> None:
    clean_env, noisy_env = make("push", backend, {}), make("push", backend, {"obs_noise": 0.02})
    clean, _ = clean_env.reset(seed=0)
    noisy, _ = noisy_env.reset(seed=0)
    diff = noisy["state"] - clean["state"]
    assert np.std(diff[S["obj0_pos"]]) > 0.002 and np.all(diff[S["obj1_pos"]] == 0)
    assert clean_env.unwrapped.sim.get_state().tolist() == noisy_env.unwrapped.sim.get_state().tolist()


@backends
@pytest.mark.parametrize("name,value", [("camera_dx", 0.1), ("camera_dy", 0.1), ("camera_dz", 0.1), ("light", 0.3),
                                        ("object_hue", 0.5), ("table_hue", 0.5)])
def test_image_parameters_change_the_picture(backend: str, name: str, value: float) -> None:
    def picture(values: dict[str, float]) -> np.ndarray:
        env = make("push", backend, values, render_mode="rgb_array", render_size=64)
        env.reset(seed=0)
        return env.render().astype(np.float64)

    nominal, changed = picture({}), picture({name: value})
    changed_pixels = np.count_nonzero(np.abs(changed - nominal).max(axis=-1) > 20)
    assert changed_pixels >= 10, name
    if name == "light":
        assert changed.mean() < nominal.mean()


def test_every_parameter_has_a_test_that_pins_it() -> None:
    """Found in this module's tests by name: each DR parameter is a string in some test's body
    or parametrization (the tests pin it through `make`)."""
    tree = ast.parse(Path(__file__).read_text())
    named = {node.value for fn in tree.body if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")
             and fn.name != "test_every_parameter_has_a_test_that_pins_it"
             for node in ast.walk(fn) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert not set(DR_PARAMS) - named, f"DR parameters no test pins: {sorted(set(DR_PARAMS) - named)}"
