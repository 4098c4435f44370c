"""Environment behaviour beyond the contract: errors, rendering, vector envs, parameters, CLI."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims as sims  # noqa: F401  (registers the robolearn/* envs)
from robolearn.cli import main
from robolearn.sims.backend import BACKENDS


@pytest.mark.parametrize("kwargs,needle", [
    ({"robot": "ur5"}, "allowed robots: panda, kuka, xarm6"),
    ({"backend": "isaac"}, "allowed backends: mujoco, pybullet"),
])
def test_unknown_names_list_allowed(kwargs: dict, needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        gym.make("robolearn/Reach-v0", **kwargs)


def test_unknown_task_lists_allowed() -> None:
    from robolearn.sims.tasks import make_task

    with pytest.raises(ValueError, match="allowed tasks: reach, push"):
        make_task("juggle")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_action_rejected_and_out_of_range_clipped(backend: str) -> None:
    env = gym.make("robolearn/Reach-v0", backend=backend)
    env.reset(seed=0)
    writes = env.unwrapped.sim.pose_writes
    with pytest.raises(ValueError, match="non-finite"):
        env.step(np.array([0, np.nan, 0, 0, 0, 0, 0], dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(6))
    assert env.unwrapped.sim.pose_writes == writes
    big = env.step(np.array([5.0, 0, 0, 0, 0, 0, -3.0]))[0]["state"]
    env.reset(seed=0)
    unit = env.step(np.array([1.0, 0, 0, 0, 0, 0, -1.0]))[0]["state"]
    np.testing.assert_array_equal(big, unit)


def test_sync_vector_env() -> None:
    envs = gym.vector.SyncVectorEnv([lambda: gym.make("robolearn/Push-v0", backend="mujoco"),
                                     lambda: gym.make("robolearn/Push-v0", robot="xarm6", backend="mujoco")])
    obs, _ = envs.reset(seed=0)
    assert obs["state"].shape[0] == 2 and list(obs["robot_id"]) == [0, 2]
    obs, reward, *_ = envs.step(np.zeros((2, 7), dtype=np.float32))
    assert reward.shape == (2,)
    envs.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_physical_parameters_change_and_restore_exactly(backend: str) -> None:
    env = gym.make("robolearn/Lift-v0", backend=backend)
    sim = env.unwrapped.sim
    nominal = {n: sim.get_param(n) for n in sim.param_names()}
    assert {"gravity", "mass:cube", "friction:cube", "friction:table", "friction:fingers", "damping:robot"} <= set(nominal)
    sim.set_param("mass:cube", 0.5)
    assert sim.get_param("mass:cube") == pytest.approx(0.5)
    for name, value in nominal.items():
        sim.set_param(name, value)
        assert sim.get_param(name) == value
    with pytest.raises(ValueError, match="allowed"):
        sim.set_param("mass:moon", 1.0)
    with pytest.raises(ValueError, match="finite"):
        sim.set_param("mass:cube", float("nan"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_parameter_kind_goes_through_one_registry_on_both_backends(backend: str) -> None:
    env = gym.make("robolearn/Stack-v0", backend=backend)
    sim = env.unwrapped.sim
    kinds = {name.partition(":")[0] for name in sim.param_names()}
    assert kinds <= set(sim.param_setters())
    kept_by_the_model = {n.partition(":")[0] for n in sim.param_names() if n not in sim._derived}
    assert kept_by_the_model <= set(sim.param_getters())
    for name in sim.param_names():  # a changed value reads back from the model, not only from a record
        value = sim.get_param(name)
        changed = value * 1.1 if value else 0.01
        sim.set_param(name, changed)
        assert sim.get_param(name) == pytest.approx(changed, rel=1e-6), name
    env.close()


def test_gravity_parameter_changes_physics() -> None:
    env = gym.make("robolearn/Lift-v0", backend="mujoco")
    sim = env.unwrapped.sim
    env.reset(seed=0)
    sim.set_param("gravity", 9.81)  # pointing up: the free cube floats away
    env.step(np.zeros(7))
    assert sim.object_pose("cube")[0][2] > 0.021


def test_cli_envs_lists_everything(capsys: pytest.CaptureFixture) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for name in ("robolearn/PickPlace-v0", "robolearn/Pour-v0", "panda, kuka, xarm6", "mujoco, pybullet"):
        assert name in out
    assert out.count("robolearn/") >= 10


def test_cli_bad_option_is_one_line_error(capsys: pytest.CaptureFixture) -> None:
    assert main(["experts", "episods=3"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown option 'episods'") and "episodes" in err and "\n" not in err
