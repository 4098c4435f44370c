"""Scripted-expert episodes as SAC replay: whole successful episodes, a fixed share per batch."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.envs import make_env, run_vocabulary
from robolearn.expert_demos import check_demo_settings, expert_replay
from robolearn.learners.replay import ReplayBuffer, mixed_batch
from robolearn.learners.sac import SACConfig
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.train import expert_transitions, train
from robolearn.sims.experts import expert_for


def test_expert_episodes_are_whole_successful_and_in_range() -> None:
    vocab = run_vocabulary(["reach"], ["panda", "xarm6"])
    env = make_env("reach", "xarm6", "mujoco", vocab)
    buffer = expert_replay([env], episodes=2, seed=0)
    horizon = env.spec.max_episode_steps
    assert buffer.size == 2 * horizon
    assert np.abs(buffer.action[:buffer.size]).max() <= 1.0
    # Consecutive steps chain within each episode: the next state is the following state.
    for start in (0, horizon):
        episode = slice(start, start + horizon - 1)
        np.testing.assert_array_equal(buffer.next_obs[episode], buffer.obs[start + 1:start + horizon])
        # The reach reward is highest at the goal: the expert ends each episode near the top.
        assert buffer.reward[start + horizon - 1] > buffer.reward[start]
    assert set(buffer.robot[:buffer.size]) == {vocab.robot_id("xarm6")} == {1}  # the run's id, not the suite's
    env.close()


def test_noisy_expert_episodes_keep_the_executed_action() -> None:
    env = make_env("reach", "panda", "mujoco", run_vocabulary(["reach"], ["panda"]))
    clean, noisy = expert_replay([env], 1, seed=0), expert_replay([env], 1, seed=0, noise=0.1)
    env.close()
    assert np.abs(noisy.action[:noisy.size]).max() <= 1.0
    # The noise changes the path, so the states differ from the first step's result on.
    assert not np.allclose(clean.next_obs[:clean.size], noisy.next_obs[:noisy.size])
    expert = expert_for(env)
    deviation = noisy.action[:noisy.size] - np.clip([expert({"state": s}) for s in noisy.obs[:noisy.size]], -1, 1)
    assert 0.07 < deviation[:, :3].std() < 0.13  # translation dims: rarely clipped


def test_mixed_batch_takes_its_share_from_the_demos() -> None:
    rng = np.random.default_rng(0)
    online, demos = ReplayBuffer(100, STATE_DIM, ACTION_DIM), ReplayBuffer(100, STATE_DIM, ACTION_DIM)
    for buffer, task in ((online, 1), (demos, 2)):
        n = 50
        buffer.add(np.zeros((n, STATE_DIM)), np.zeros((n, ACTION_DIM)), np.zeros(n), np.zeros((n, STATE_DIM)),
                   np.zeros(n), np.full(n, task), np.zeros(n))
    batch = mixed_batch(online, demos, 0.25, 64, rng)
    assert (batch.task == 2).sum() == 16 and (batch.task == 1).sum() == 48
    assert torch.equal(batch.extra, batch.task == 2)  # the rows SAC clones
    live_only = mixed_batch(online, None, 0.25, 64, rng)
    assert (live_only.task == 1).all() and not live_only.extra.any()


@pytest.mark.parametrize("setting, field", [({"demo_episodes": -1}, "algo.demo_episodes"),
                                            ({"demo_ratio": 1.0}, "algo.demo_ratio"),
                                            ({"demo_noise": -0.1}, "algo.demo_noise"),
                                            ({"demo_bc_coef": -1.0}, "algo.demo_bc_coef")])
def test_bad_demo_settings_name_the_field(setting: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        check_demo_settings(SACConfig(**({"demo_episodes": 2} | setting)))


def test_tasks_without_an_expert_get_no_demos(capsys: pytest.CaptureFixture) -> None:
    cfg = to_dataclass(compose_train(["tasks=[reach,gym:Pendulum-v1]", "robots=[panda]", "algo.demo_episodes=1"]))
    vocab = run_vocabulary(cfg.tasks, cfg.robots)
    demos = expert_transitions(cfg, vocab, "none", cfg.env_kwargs)
    assert demos is not None and set(demos.task[:demos.size].tolist()) == {vocab.task_id("reach")}
    assert "no scripted expert for gym:Pendulum-v1" in capsys.readouterr().out
    cfg.tasks = ["gym:Pendulum-v1"]
    assert expert_transitions(cfg, run_vocabulary(cfg.tasks, cfg.robots), "none", cfg.env_kwargs) is None


def test_training_with_demos_runs_and_rejects_bad_settings_before_writing(tmp_path: Path) -> None:
    tiny = ["tasks=[reach]", "robots=[panda]", "logger=none", "policy.hidden=32", "policy.expert_hidden=16",
            "policy.n_experts=4", "algo.batch_size=32", "algo.warmup_steps=100", "eval_episodes=1", "threads=1",
            "total_steps=200", "eval_every=200"]
    with pytest.raises(ValueError, match="algo.demo_ratio"):
        train(to_dataclass(compose_train(tiny + ["algo.demo_episodes=1", "algo.demo_ratio=0", f"out={tmp_path}/bad"])))
    assert not (tmp_path / "bad").exists()
    path = train(to_dataclass(compose_train(tiny + ["algo.demo_episodes=1", f"out={tmp_path}/ok"])))
    # The normalizer saw the expert episode's states as well as the 200 online ones.
    env = make_env("reach", "panda", "mujoco", run_vocabulary(["reach"], ["panda"]))
    horizon = env.spec.max_episode_steps
    env.close()
    assert load_checkpoint(path)["learner"]["norm"]["count"] == pytest.approx(200 + horizon, abs=1e-3)
