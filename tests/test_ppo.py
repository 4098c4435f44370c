"""PPO pieces: GAE against a hand computation, per-task normalization, a tiny run and its checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.learners.ppo import PPO, PPOConfig, gae, normalize_per_task
from robolearn.policies import PolicyConfig
from robolearn.agents import agent_from_checkpoint
from robolearn.train import train


def test_gae_matches_hand_computation() -> None:
    reward = np.array([[1.0], [0.0], [2.0]])
    value = np.array([[0.5], [0.4], [0.3]])
    done = np.array([[0.0], [1.0], [0.0]])  # the episode ends after step 1
    adv, ret = gae(reward, value, done, last_value=np.array([0.2]), gamma=0.9, lam=0.8)
    d2 = 2.0 + 0.9 * 0.2 - 0.3
    d1 = 0.0 - 0.4  # no bootstrap across the episode end
    d0 = 1.0 + 0.9 * 0.4 - 0.5
    expected = np.array([[d0 + 0.9 * 0.8 * d1], [d1], [d2]])
    assert np.allclose(adv, expected) and np.allclose(ret, expected + value)


def test_advantages_are_normalized_within_each_task() -> None:
    adv = np.array([1.0, 2.0, 3.0, 100.0, 200.0, 300.0])
    task = np.array([0, 0, 0, 1, 1, 1])
    out = normalize_per_task(adv, task)
    for t in (0, 1):
        assert abs(out[task == t].mean()) < 1e-6 and abs(out[task == t].std() - 1) < 1e-3
    assert np.allclose(out[:3], out[3:])  # same shape of advantages, same normalized values


def test_tiny_ppo_run_round_trips(tmp_path: Path) -> None:
    cfg = to_dataclass(compose_train(["algo=ppo", "tasks=[reach]", "robots=[panda,kuka]", "logger=none",
                                      "policy.hidden=32", "policy.expert_hidden=16", "policy.n_experts=4",
                                      "algo.rollout_steps=50", "algo.minibatch_size=50", "algo.epochs=2",
                                      "num_envs=1", "total_steps=200", "eval_every=200", "eval_episodes=1", "threads=1",
                                      f"out={tmp_path}"]))
    data = load_checkpoint(train(cfg))
    assert data["env_steps"] == 200 and data["config"]["algo"]["name"] == "ppo"
    agent = agent_from_checkpoint(data)
    assert agent.updates == 2 * 2 * 2  # 2 rollouts x 2 epochs x 2 minibatches
    obs = np.zeros((3, 38), np.float32)
    ids = np.zeros(3, np.int64)
    assert agent.act(obs, ids, ids, deterministic=True).shape == (3, 7)


def test_an_unchanged_moe_policy_rescores_its_own_samples_exactly() -> None:
    """Before any update the behaviour and current log-probabilities of a rollout agree: the
    MoE routes without noise in PPO, so no log-ratio comes from a gating draw."""
    torch.manual_seed(0)
    agent = PPO(PolicyConfig(kind="moe", hidden=32, expert_hidden=16, n_experts=8, k=2), PPOConfig(), 38, 7, 3, 3)
    rng = np.random.default_rng(0)
    steps, envs = 4, 16
    obs = rng.normal(size=(steps, envs, 38)).astype(np.float32)
    task, robot = rng.integers(0, 3, (steps, envs)), rng.integers(0, 3, (steps, envs))
    samples = [agent.sample(obs[t], task[t], robot[t]) for t in range(steps)]
    rollout = {key: np.stack([s[key] for s in samples]) for key in ("pre", "obs", "logp")}
    rollout.update(task=task, robot=robot, reward=np.zeros((steps, envs), np.float32))
    rescored = agent.evaluate_rollout(rollout, obs[-1])
    assert np.abs(rescored["logp"] - rollout["logp"]).max() < 1e-4
