"""Randomizers: exact nominal restore, seeding, the ADR update rule, merging and errors."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims as sims
from robolearn.sims.backend import BACKENDS
from robolearn.sims.randomization import (
    ADR, DR_PARAMS, ADRConfig, DRConfig, UniformRandomizer, make_randomizer,
)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("task", ["push", "pour", "drawer_open"])
def test_restoring_nominal_values_is_exact(task: str, backend: str) -> None:
    """After randomized episodes, nominal values make the same physics as a never-randomized env."""
    # PyBullet resizes by rebuilding bodies, which reorders its broadphase: a chaotic scene
    # (balls in a cup) then drifts apart by rounding. Resizing is checked on its own below.
    params = [n for n in DR_PARAMS if backend == "mujoco" or n != "object_size"]
    plain = gym.make(sims.env_id(task), robot="kuka", backend=backend).unwrapped
    randomized = gym.make(sims.env_id(task), robot="kuka", backend=backend,
                          dr=UniformRandomizer(params=params)).unwrapped
    plain.reset(seed=3)
    for seed in range(3):
        randomized.reset(seed=seed)
    randomized.apply_dr({})
    nominal = randomized._nominal_params
    assert {n: randomized.sim.get_param(n) for n in nominal} == nominal
    randomized.sim.set_state(plain.sim.get_state())
    rng = np.random.default_rng(0)
    for action in rng.uniform(-1, 1, (15, 7)):
        plain.step(action)
        randomized.step(action)
    np.testing.assert_array_equal(randomized.sim.get_state(), plain.sim.get_state())


def test_pybullet_resize_and_restore_rebuilds_identical_bodies() -> None:
    import pybullet as p

    def bodies(env: gym.Env) -> list:
        sim = env.unwrapped.sim
        # The first two fields of compound collision shapes are not filled in by PyBullet.
        return [(p.getDynamicsInfo(b, -1, physicsClientId=sim._cid),
                 [shape[2:] for shape in p.getCollisionShapeData(b, -1, physicsClientId=sim._cid)],
                 p.getVisualShapeData(b, physicsClientId=sim._cid)) for b in sim._bodies.values()]

    env = gym.make("robolearn/Pour-v0", robot="panda", backend="pybullet", dr=UniformRandomizer({"object_size": (1.1, 1.1)}, params=["object_size"]))
    env.reset(seed=0)
    before = bodies(env)
    env.unwrapped.apply_dr({"object_size": 0.9, "object_mass": 2.0, "object_hue": 0.3})
    assert bodies(env) != before
    env.unwrapped.apply_dr({"object_size": 1.1})
    assert bodies(env) == before


@pytest.mark.parametrize("dr", ["uniform", "adr"])
def test_same_seed_same_samples(dr: str) -> None:
    def samples(seed: int) -> list[dict]:
        env = gym.make("robolearn/Reach-v0", robot="panda", backend="mujoco", dr=dr)
        return [env.reset(seed=seed + i)[1]["dr_params"] for i in range(3)]

    assert samples(0) == samples(0)
    if dr == "uniform":
        assert samples(0) != samples(10)


def test_uniform_samples_stay_in_range_and_integers_are_integers() -> None:
    rz = UniformRandomizer({"action_latency": (0, 3), "object_mass": (0.5, 0.6)})
    rng = np.random.default_rng(0)
    for _ in range(200):
        values, boundary = rz.sample(rng)
        assert boundary is None and set(values) == set(DR_PARAMS)
        assert 0.5 <= values["object_mass"] <= 0.6
        assert values["action_latency"] in (0.0, 1.0, 2.0, 3.0)


def adr_with(queue: int = 4, **kwargs) -> ADR:
    return ADR(ADRConfig(params=["object_mass", "table_height"], queue=queue, **kwargs))


def test_adr_widens_after_a_full_queue_of_successes() -> None:
    adr, step = adr_with(), DR_PARAMS["object_mass"].step
    for _ in range(3):
        adr.record("object_mass:high", True)
    assert adr.ranges["object_mass"] == [1.0, 1.0]  # queue not full yet
    adr.record("object_mass:high", True)
    assert adr.ranges["object_mass"] == [1.0, pytest.approx(1.0 + step)]
    assert adr.queues["object_mass:high"] == []
    for _ in range(4):
        adr.record("object_mass:low", True)
    assert adr.ranges["object_mass"] == [pytest.approx(1.0 - step), pytest.approx(1.0 + step)]


def test_adr_narrows_on_failures_but_not_past_nominal() -> None:
    adr = adr_with()
    adr.ranges["table_height"] = [-0.01, 0.003]
    for _ in range(4):
        adr.record("table_height:high", False)
    assert adr.ranges["table_height"] == [-0.01, pytest.approx(0.001)]
    for _ in range(4):
        adr.record("table_height:high", False)
    assert adr.ranges["table_height"] == [-0.01, 0.0]  # clipped at the nominal value
    for _ in range(4):  # mean 0.5: between t_low and t_high, no move
        adr.record("table_height:low", _ % 2 == 0)
    assert adr.ranges["table_height"] == [-0.01, 0.0]


def test_adr_clips_at_the_hard_bounds() -> None:
    adr, p = adr_with(queue=1), DR_PARAMS["table_height"]
    for _ in range(100):
        adr.record("table_height:high", True)
        adr.record("table_height:low", True)
    assert adr.ranges["table_height"] == [p.low, p.high]


def test_adr_pins_boundaries_with_probability_p_b() -> None:
    adr, rng = adr_with(p_boundary=0.5), np.random.default_rng(0)
    adr.ranges["object_mass"] = [0.5, 2.0]
    pinned = []
    for _ in range(2000):
        values, boundary = adr.sample(rng)
        if boundary == "object_mass:low":
            assert values["object_mass"] == 0.5
        elif boundary == "object_mass:high":
            assert values["object_mass"] == 2.0
        else:
            assert 0.5 <= values["object_mass"] <= 2.0
        pinned.append(boundary is not None)
    assert np.mean(pinned) == pytest.approx(0.5, abs=0.04)


def test_adr_entropy_grows_with_the_ranges() -> None:
    adr = adr_with()
    before = adr.entropy()
    adr.ranges["object_mass"] = [0.5, 2.0]
    assert adr.entropy() > before
    assert adr.entropy() == pytest.approx(np.mean([np.log(1.5), np.log(1e-3)]))


def test_worker_copies_merge_into_the_owner_as_one_state() -> None:
    owner, reference = adr_with(), adr_with()
    workers = [owner.worker_copy() for _ in range(3)]
    for i in range(12):
        workers[i % 3].record("object_mass:high", True)
        reference.record("object_mass:high", True)
    assert all(w.ranges == owner.ranges for w in workers)  # workers never update ranges themselves
    for worker in workers:
        owner.merge(worker)
    assert owner.ranges == reference.ranges and owner.ranges["object_mass"][1] > 1.0
    assert workers[-1].ranges == owner.ranges and not any(q for w in workers for q in w.queues.values())


def test_adr_state_round_trip() -> None:
    adr = adr_with()
    adr.ranges["object_mass"] = [0.7, 1.3]
    adr.record("table_height:low", True)
    again = ADR.from_state_dict(adr.state_dict())
    assert again.ranges == adr.ranges and again.queues == adr.queues and vars(again.config) == vars(adr.config)


def test_env_feeds_episode_success_to_the_pinned_boundary() -> None:
    adr = ADR(ADRConfig(params=["object_mass"], p_boundary=1.0, queue=1000))
    env = gym.make("robolearn/Reach-v0", robot="panda", backend="mujoco", dr=adr)
    _, info = env.reset(seed=0)
    boundary = info["dr_boundary"]
    assert boundary in ("object_mass:low", "object_mass:high")
    for _ in range(3):
        env.step(np.zeros(7))
    env.reset(seed=1)
    assert adr.queues[boundary] == [False]


def test_bad_randomizer_settings_name_the_field() -> None:
    with pytest.raises(ValueError, match="dr='gaussian'"):
        make_randomizer("gaussian")
    with pytest.raises(ValueError, match="unknown randomization parameters \\['mass'\\]"):
        UniformRandomizer({"mass": (1, 2)})
    with pytest.raises(ValueError, match="ranges.object_mass"):
        UniformRandomizer({"object_mass": (0.1, 2)})
    with pytest.raises(ValueError, match="t_low"):
        make_randomizer(DRConfig(kind="adr", t_low=0.9, t_high=0.5))
    with pytest.raises(ValueError, match="kind='adaptive'"):
        make_randomizer(DRConfig(kind="adaptive"))
