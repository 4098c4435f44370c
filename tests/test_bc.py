"""Behaviour cloning: learns from recorded demos, stores its normalizers, evaluates with `robolearn eval`."""
from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import read_episodes
from robolearn.demos.recorder import record
from robolearn.bc_data import CHUNK_SHARE, DemoChunks, build_dataset, bytes_per_step, index_demos
from robolearn.bc_train import compose_bc, train_bc
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


def budget_for(path: Path, fraction: float, horizon: int = 1) -> float:
    """The max_memory_gb at which a chunk holds `fraction` of the file's steps."""
    steps = sum(ref.length for ref in index_demos([str(path)]))
    return fraction * steps * bytes_per_step(horizon) / (CHUNK_SHARE * 1e9)


def test_bc_with_action_chunks_learns_pick_place(demos: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # Read in chunks of about a quarter of the demos: the learning holds when the data does
    # not fit (in memory is the one-chunk case of the same loop).
    budget = budget_for(demos, 0.25, horizon=8)
    path = train_bc(compose_bc([f"data=[{demos}]", "algo.model=chunk", "algo.steps=3000", "eval_episodes=0",
                                f"max_memory_gb={budget}", f"out={tmp_path}"]))
    assert "chunks of <=" in capsys.readouterr().err
    assert main(["eval", f"checkpoint={path}", "episodes=20", f"out={tmp_path}/eval.json"]) == 0
    import json

    success = json.loads((tmp_path / "eval.json").read_text())["success"]["pick_place/panda"]
    assert success >= SUCCESS, success


def test_bc_checkpoint_keeps_normalizers_and_moe_runs(demos: Path, tmp_path: Path) -> None:
    path = train_bc(compose_bc([f"data=[{demos}]", "policy=moe", "policy.hidden=64", "policy.expert_hidden=32",
                                "max_demos=5", "algo.steps=50", "eval_episodes=1", f"out={tmp_path}"]))
    data = load_checkpoint(path)
    agent = agent_from_checkpoint(data)
    episodes = read_episodes(demos)[:5]
    actions = np.concatenate([ep.actions for ep in episodes])
    np.testing.assert_allclose(agent.action_norm.mean.numpy(), actions.mean(0), atol=1e-5)
    assert torch.equal(agent.norm.mean, data["learner"]["norm"]["mean"])
    assert data["config"]["policy"]["kind"] == "moe" and len(data["bc"]["demos"]) == 5
    assert agent.routes(episodes[0].states_obs[:4], np.ones(4, int), np.zeros(4, int))  # sparse routing in use


def test_chunked_reading_covers_every_demo_within_the_memory_budget(demos: Path) -> None:
    agent = BC(PolicyConfig(kind="mlp", hidden=16), BCConfig(), 38, 7, 18, 4)
    whole = build_dataset(read_episodes(demos), horizon=1)
    budget = budget_for(demos, 0.25)
    chunked = DemoChunks(index_demos([str(demos)]), 1, "executed", budget)
    assert not chunked.fits and chunked.steps == len(whole)
    chunked.scan(agent.input_features)
    features = agent.input_features(whole.obs.numpy())
    np.testing.assert_allclose(chunked.obs_moments.mean, features.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(chunked.obs_moments.var, features.var(0), rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(chunked.action_moments.std, whole.actions[:, 0].std(0).numpy(), rtol=1e-4)
    episodes = read_episodes(demos)
    one_episode = max(sum(a.nbytes for a in (e.states_obs, e.next_states_obs, e.actions, e.rewards, e.dones,
                                             e.sim_states)) for e in episodes)
    rng = np.random.default_rng(0)
    tracemalloc.start()
    sizes = []
    for chunk in chunked.chunks(rng):
        sizes.append(len(chunk))
        del chunk  # as training does, before the next chunk is read
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # At most one chunk and one episode being read (with its validation's temporaries), far
    # below the file's demos held at once.
    assert sum(sizes) == len(whole)
    assert peak <= chunked.capacity * bytes_per_step(1) + 4 * one_episode < len(episodes) * one_episode / 4, peak
    passes = [[chunk.obs.numpy() for chunk in chunked.chunks(rng)] for _ in range(2)]
    for chunks in passes:
        assert len(chunks) >= 4 and all(len(c) <= chunked.capacity for c in chunks)
        rows = np.concatenate(chunks)
        np.testing.assert_array_equal(np.sort(rows.sum(1)), np.sort(whole.obs.numpy().sum(1)))  # every step once
    assert not np.array_equal(passes[0][0], passes[1][0])  # a new random order each pass


def test_chunks_pad_past_the_end_and_ensemble_in_time() -> None:
    from robolearn.demos.episodes import Episode

    n = 3
    actions = np.arange(n * 7, dtype=np.float32).reshape(n, 7)
    ep = Episode(np.zeros((n, 38), np.float32), np.zeros((n, 38), np.float32), actions, np.zeros(n), np.zeros(n),
                 np.zeros((n, 1)), {"task": "reach", "robot": "panda"})
    with pytest.raises(ValueError, match="labels=expert: reach/panda  has no action_labels"):
        build_dataset([ep], horizon=4, labels="expert")
    data = build_dataset([ep], horizon=4)
    assert data.actions.shape == (3, 4, 7)
    np.testing.assert_array_equal(data.actions[1, :, 0].numpy(), [7, 14, 14, 14])  # padded with the last action
    np.testing.assert_array_equal(data.mask[1].numpy(), [1, 1, 0, 0])
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
