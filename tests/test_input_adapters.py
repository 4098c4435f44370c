"""`policy.input_adapter=per_space`: one learned input map per observation space, next to padding."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint, make_agent
from robolearn.checkpoint import load_checkpoint
from robolearn.bc_train import compose_bc
from robolearn.config import compose_train, to_dataclass
from robolearn.envs import run_vocabulary, task_spaces
from robolearn.learners.replay import ReplayBatch
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.train import train

SMALL = ["logger=none", "policy.hidden=32", "policy.expert_hidden=16", "policy.n_experts=4", "algo.batch_size=32",
         "algo.warmup_steps=100", "eval_episodes=1", "threads=1"]
MIXED = ["reach", "mw:reach-v3", "gym:Pendulum-v1"]


def test_spaces_are_numbered_by_first_appearance() -> None:
    """The suite and Meta-World share the suite's layout; one gymnasium id is one space
    whatever its keyword arguments; adding tasks never renumbers the old ones."""
    assert task_spaces(["reach", "mw:reach-v3", "gym:Pendulum-v1", "gym:Pendulum-v1@heavy", "drawer_close"]) \
        == [0, 0, 1, 1, 0]
    assert task_spaces(["gym:Pendulum-v1", "reach", "gym:CartPole-v1"]) == [0, 1, 2]


def _agent(adapter: str, seed: int = 0):
    cfg = to_dataclass(compose_train([*SMALL, f"policy.input_adapter={adapter}"]))
    torch.manual_seed(seed)
    return make_agent(cfg.policy, cfg.algo, run_vocabulary(MIXED, ["panda"]))


def _batch(n: int = 48) -> ReplayBatch:
    generator = torch.Generator().manual_seed(0)
    return ReplayBatch(obs=torch.randn(n, STATE_DIM, generator=generator), action=torch.rand(n, ACTION_DIM) * 2 - 1,
                       reward=torch.randn(n, generator=generator), next_obs=torch.randn(n, STATE_DIM, generator=generator),
                       terminal=torch.zeros(n), task=torch.arange(n) % 3, robot=torch.arange(n) % 3,
                       extra=torch.zeros(n, dtype=torch.bool))


def test_untrained_per_space_model_acts_as_the_padded_one() -> None:
    """Every map starts at the identity, and building it draws no random numbers."""
    padded, mapped = _agent("pad"), _agent("per_space")
    assert mapped.actor.spaces.weight.shape == (2, mapped.norm.dim, mapped.norm.dim)
    batch = _batch()
    obs, task, robot = batch.obs.numpy(), batch.task.numpy(), batch.robot.numpy()
    np.testing.assert_allclose(mapped.act(obs, task, robot, True), padded.act(obs, task, robot, True), atol=1e-6)


def test_each_task_goes_through_its_own_space_map_only() -> None:
    agent, batch = _agent("per_space"), _batch()
    for _ in range(5):
        agent.update(batch)
    spaces = agent.actor.spaces
    eye = torch.eye(agent.norm.dim)
    assert not torch.equal(spaces.weight[0], eye) and not torch.equal(spaces.weight[1], eye)  # both trained
    obs, task, robot = batch.obs.numpy(), batch.task.numpy(), batch.robot.numpy()
    before = agent.act(obs, task, robot, True)
    with torch.no_grad():
        spaces.weight[1].mul_(3.0)  # the Pendulum space's map only
    after = agent.act(obs, task, robot, True)
    pendulum = task == 2
    np.testing.assert_array_equal(after[~pendulum], before[~pendulum])
    assert not np.allclose(after[pendulum], before[pendulum])


def test_a_per_space_run_trains_saves_and_loads(tmp_path: Path) -> None:
    path = train(to_dataclass(compose_train([*SMALL, f"tasks=[{','.join(MIXED)}]", "robots=[panda]",
                                             "policy.input_adapter=per_space", "total_steps=600", "eval_every=600",
                                             f"out={tmp_path}"])))
    data = load_checkpoint(path)
    assert data["config"]["policy"]["input_adapter"] == "per_space"
    assert data["learner"]["actor"]["spaces.task_space"].tolist() == [0, 0, 1]
    loaded, batch = agent_from_checkpoint(data), _batch()
    again = agent_from_checkpoint(load_checkpoint(path))
    obs, task, robot = batch.obs.numpy(), batch.task.numpy(), batch.robot.numpy()
    np.testing.assert_array_equal(loaded.act(obs, task, robot, True), again.act(obs, task, robot, True))
    assert not torch.equal(loaded.actor.spaces.weight[1], torch.eye(loaded.norm.dim))


def test_adding_a_task_of_a_new_space_trains_its_map_and_keeps_old_tasks_exact(tmp_path: Path) -> None:
    tiny = [*SMALL, "robots=[panda]", "policy.input_adapter=per_space"]
    base = train(to_dataclass(compose_train([*tiny, "tasks=[reach]", "total_steps=150", "eval_every=150",
                                             f"out={tmp_path}/base"])))
    adapted = train(to_dataclass(compose_train([*tiny, "tasks=[gym:Pendulum-v1]", "total_steps=400",
                                                "eval_every=400", f"adapt_from={base}", f"out={tmp_path}/adapted"])))
    old, new = agent_from_checkpoint(load_checkpoint(base)), agent_from_checkpoint(load_checkpoint(adapted))
    assert new.actor.spaces.task_space.tolist() == [0, 1]
    torch.testing.assert_close(new.actor.spaces.weight[0], old.actor.spaces.weight[0], rtol=0, atol=0)
    assert not torch.equal(new.actor.spaces.weight[1], torch.eye(new.norm.dim))  # the new space's own map trained
    obs = np.random.default_rng(0).normal(size=(16, STATE_DIM)).astype(np.float32)
    zeros = np.zeros(16, np.int64)
    assert np.array_equal(old.act(obs, zeros, zeros, True), new.act(obs, zeros, zeros, True))


def test_bad_adapter_settings_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="policy.input_adapter='bogus'; allowed: pad, per_space"):
        _agent("bogus")
    cfg = compose_bc(["policy.input_adapter=per_space"])
    with pytest.raises(ValueError, match="policy.input_adapter='per_space': bc trains on the suite's episodes"):
        make_agent(cfg.policy, cfg.algo, run_vocabulary(["reach"], ["panda"]))
