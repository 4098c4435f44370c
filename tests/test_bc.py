"""Behaviour cloning: learns from recorded demos, stores its normalizers, evaluates with `robolearn eval`."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from demos.devices import ScriptedDevice
from demos.recorder import record
from robolearn.bc_train import build_dataset, compose_bc, load_demos, train_bc
from robolearn.checkpoint import load_checkpoint
from robolearn.cli import main
from robolearn.learners.bc import BC, BCConfig
from robolearn.policies import PolicyConfig
from robolearn.policies.inputs import RELATIVE, PolicyInputs
from robolearn.spec import STATE_DIM, STATE_SLICES
from robolearn.agents import agent_from_checkpoint

DEMOS = 50
SUCCESS = 0.8  # measured 1.00 from 50 demos (docs/benchmarks.md, few-demos table)


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bc") / "pick_place.hdf5"
    record("pick_place", "panda", "mujoco", ScriptedDevice(noise=0.1, seed=0), path, DEMOS, source="sim")
    return path


def test_bc_with_action_chunks_learns_pick_place(demos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = train_bc(compose_bc([f"data=[{demos}]", "algo.model=chunk", "algo.steps=3000", "eval_episodes=0",
                                f"out={tmp_path}"]))
    capsys.readouterr()
    assert main(["eval", f"checkpoint={path}", "episodes=20", f"out={tmp_path}/eval.json"]) == 0
    import json

    success = json.loads((tmp_path / "eval.json").read_text())["success"]["pick_place/panda"]
    assert success >= SUCCESS, success


def test_bc_checkpoint_keeps_normalizers_and_moe_runs(demos: Path, tmp_path: Path) -> None:
    path = train_bc(compose_bc([f"data=[{demos}]", "policy=moe", "policy.hidden=64", "policy.expert_hidden=32",
                                "max_demos=5", "algo.steps=50", "eval_episodes=1", f"out={tmp_path}"]))
    data = load_checkpoint(path)
    agent = agent_from_checkpoint(data)
    episodes = load_demos(compose_bc([f"data=[{demos}]", "max_demos=5"]))
    actions = np.concatenate([ep.actions for ep in episodes])
    np.testing.assert_allclose(agent.action_norm.mean.numpy(), actions.mean(0), atol=1e-5)
    assert torch.equal(agent.norm.mean, data["learner"]["norm"]["mean"])
    assert data["config"]["policy"]["kind"] == "moe" and len(data["bc"]["demos"]) == 5
    assert agent.routes(episodes[0].states_obs[:4], np.ones(4, int), np.zeros(4, int))  # sparse routing in use


def test_chunks_pad_past_the_end_and_ensemble_in_time() -> None:
    from demos.episodes import Episode

    n = 3
    actions = np.arange(n * 7, dtype=np.float32).reshape(n, 7)
    ep = Episode(np.zeros((n, 38), np.float32), np.zeros((n, 38), np.float32), actions, np.zeros(n), np.zeros(n),
                 np.zeros((n, 1)), {"task": "reach", "robot": "panda"})
    with pytest.raises(ValueError, match="labels=expert: reach/panda  has no action_labels"):
        build_dataset([ep], horizon=4, labels="expert")
    data = build_dataset([ep], horizon=4)
    assert data["actions"].shape == (3, 4, 7)
    np.testing.assert_array_equal(data["actions"][1, :, 0].numpy(), [7, 14, 14, 14])  # padded with the last action
    np.testing.assert_array_equal(data["mask"][1].numpy(), [1, 1, 0, 0])
    agent = BC(PolicyConfig(kind="mlp", hidden=16), BCConfig(model="chunk", chunk=3, ensemble_decay=0.5), 38, 7, 18, 4)
    chunks = iter([np.full((3, 7), v, np.float32) for v in (0.1, 0.4, 0.7)])
    agent.action_norm.inverse = lambda pred: torch.as_tensor(next(chunks))[None]  # fixed predictions
    state, ids = np.zeros((1, 38), np.float32), np.zeros(1, int)
    assert agent.act(state, ids, ids)[0, 0] == pytest.approx(0.1)
    w = np.exp(-0.5 * np.arange(2))
    assert agent.act(state, ids, ids)[0, 0] == pytest.approx(np.average([0.1, 0.4], weights=w))
    w = np.exp(-0.5 * np.arange(3))
    assert agent.act(state, ids, ids)[0, 0] == pytest.approx(np.average([0.1, 0.4, 0.7], weights=w))


def test_policy_inputs_drop_slots_and_ignore_where_on_the_table() -> None:
    inputs = PolicyInputs(["tcp_quat"], planar_invariant=True, obs_dim=STATE_DIM + 2)
    state = torch.randn(5, STATE_DIM + 2)
    x = inputs(state)
    assert x.shape == (5, inputs.dim)
    moved = state.clone()
    for name in ("tcp_pos", "obj0_pos", "obj1_pos", "goal_pos"):
        moved[:, STATE_SLICES[name].start:STATE_SLICES[name].start + 2] += torch.tensor([0.3, -0.2])
    torch.testing.assert_close(inputs(moved), x)  # same scene shifted across the table: same inputs
    turned = state.clone()
    turned[:, STATE_SLICES["tcp_quat"]] *= -1
    torch.testing.assert_close(inputs(turned), x)  # a dropped slot has no effect
    raised = state.clone()
    raised[:, STATE_SLICES["obj0_pos"].stop - 1] += 0.1
    raised[:, STATE_DIM] += 1.0
    assert (inputs(raised) != x).any(-1).all()  # heights and padded external inputs are seen
    reach = state[:, :STATE_DIM].clone()
    for name in ("obj0_pos", "obj1_pos"):
        reach[:, STATE_SLICES[name]] = 0.0
    relative = inputs(torch.cat([reach, state[:, STATE_DIM:]], -1))[:, -3 * len(RELATIVE):]
    assert relative.count_nonzero(-1).max() == 3  # goal - hand only: vectors to unused slots are zero
    everything = PolicyInputs([], planar_invariant=False, obs_dim=STATE_DIM)
    torch.testing.assert_close(everything(state[:, :STATE_DIM])[:, :STATE_DIM], state[:, :STATE_DIM])
    with pytest.raises(ValueError, match="algo.drop: unknown state slots \\['hand'\\]; allowed: "):
        PolicyInputs(["hand"], planar_invariant=True, obs_dim=STATE_DIM)


def test_bc_bad_input(tmp_path: Path, demos: Path) -> None:
    with pytest.raises(ValueError, match="data=\\[file.hdf5"):
        train_bc(compose_bc([f"out={tmp_path}"]))
    with pytest.raises(ValueError, match="algo.model='rnn'; allowed: mlp, chunk"):
        train_bc(compose_bc([f"data=[{demos}]", "algo.model=rnn", f"out={tmp_path}"]))
    with pytest.raises(ValueError, match="no split 'valid'"):
        train_bc(compose_bc([f"data=[{demos}]", "split=valid", f"out={tmp_path}"]))
    with pytest.raises(ValueError, match="bad bc option"):
        compose_bc(["epochs=3"])
