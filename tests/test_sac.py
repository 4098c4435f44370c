"""Multitask SAC: what its networks see; with an MoE, routing noise stays out of the Bellman targets."""
from __future__ import annotations

import numpy as np
import torch

from robolearn.learners.replay import ReplayBatch
from robolearn.learners.sac import SAC, SACConfig
from robolearn.policies import PolicyConfig
from robolearn.policies.inputs import RELATIVE
from robolearn.policies.moe import set_routing_noise
from robolearn.spec import STATE_DIM, STATE_SLICES


def test_networks_see_the_state_and_the_hand_to_goal_vector() -> None:
    agent = SAC(PolicyConfig(kind="mlp", hidden=32), SACConfig(), STATE_DIM, 7, 3, 3)
    state = torch.zeros(2, STATE_DIM)
    state[:, STATE_SLICES["tcp_pos"]] = torch.tensor([0.5, 0.0, 0.2])
    state[0, STATE_SLICES["goal_pos"]] = torch.tensor([0.6, 0.1, 0.2])  # a reach state; row 1 has no goal
    features = agent.norm.inputs(state)
    assert features.shape == (2, agent.norm.dim) == (2, STATE_DIM + 3 * len(RELATIVE))
    torch.testing.assert_close(features[:, :STATE_DIM], state)
    goal_minus_hand = STATE_DIM + 3 * RELATIVE.index(("goal_pos", "tcp_pos"))
    torch.testing.assert_close(features[:, goal_minus_hand:goal_minus_hand + 3],
                               torch.tensor([[0.1, 0.1, 0.0], [0.0, 0.0, 0.0]]))
    # Unused slots (no objects in reach) give zero vectors, not the negated hand position.
    assert features[:, STATE_DIM:goal_minus_hand].abs().sum() == 0
    actions = agent.act(state.numpy(), np.zeros(2, int), np.zeros(2, int), deterministic=True)
    assert actions.shape == (2, 7) and np.abs(actions).max() <= 1
    absolute_only = SAC(PolicyConfig(kind="mlp", hidden=32), SACConfig(relative_inputs=False), STATE_DIM, 7, 3, 3)
    assert absolute_only.norm.dim == STATE_DIM


def test_targets_route_without_noise_while_the_critic_trains_with_it() -> None:
    torch.manual_seed(0)
    agent = SAC(PolicyConfig(kind="moe", hidden=32, expert_hidden=16, n_experts=8, k=2), SACConfig(), 38, 7, 3, 3)
    n = 64
    batch = ReplayBatch(obs=torch.randn(n, 38), action=torch.rand(n, 7) * 2 - 1, reward=torch.randn(n),
                        next_obs=torch.randn(n, 38), terminal=torch.zeros(n), task=torch.randint(0, 3, (n,)),
                        robot=torch.randint(0, 3, (n,)), extra=torch.zeros(n, dtype=torch.bool))
    alpha = torch.full((n,), 0.1)
    # Same seed for the action sample; if routing noise were drawn, turning it off would change
    # the random draws and the target.
    torch.manual_seed(1)
    noisy_layers = agent.td_target(batch, alpha)
    set_routing_noise(agent.actor, False)
    set_routing_noise(agent.critic_target, False)
    torch.manual_seed(1)
    assert torch.equal(noisy_layers, agent.td_target(batch, alpha))
    assert agent.actor.training  # left as it was
    # The critic being trained still routes with noise: the same inputs give different Q.
    obs = agent.norm(batch.obs)
    q_a = agent.critic(obs, batch.action, batch.task, batch.robot)[0]
    q_b = agent.critic(obs, batch.action, batch.task, batch.robot)[0]
    assert not torch.equal(q_a, q_b)


def _demo_batch(n: int, expert_action: torch.Tensor, demo_rows: torch.Tensor) -> ReplayBatch:
    generator = torch.Generator().manual_seed(0)
    return ReplayBatch(obs=torch.randn(n, STATE_DIM, generator=generator), action=expert_action.expand(n, -1),
                       reward=torch.zeros(n), next_obs=torch.randn(n, STATE_DIM, generator=generator),
                       terminal=torch.zeros(n), task=torch.zeros(n, dtype=torch.long),
                       robot=torch.zeros(n, dtype=torch.long), extra=demo_rows)


def test_demo_cloning_pulls_the_mode_to_the_expert_action() -> None:
    torch.manual_seed(0)
    expert_action = torch.tensor([0.6, -0.4, 0.2, 0.0, 0.0, 0.0, -0.8])
    demo_rows = torch.arange(64) < 32
    batch = _demo_batch(64, expert_action, demo_rows)

    def mode_error(coef: float) -> float:
        torch.manual_seed(1)
        agent = SAC(PolicyConfig(kind="mlp", hidden=32), SACConfig(demo_bc_coef=coef), STATE_DIM, 7, 3, 3)
        for _ in range(300):
            metrics = agent.update(batch, clone_extra=True)
        assert np.isfinite(list(metrics.values())).all()
        actions = agent.act(batch.obs.numpy(), np.zeros(64, int), np.zeros(64, int), deterministic=True)
        return float(np.abs(actions[demo_rows.numpy()] - expert_action.numpy()).mean())

    assert mode_error(10.0) < 0.05 < mode_error(0.0)
    # An all-live batch adds no cloning term (and no NaN from an empty mean).
    agent = SAC(PolicyConfig(kind="mlp", hidden=32), SACConfig(demo_bc_coef=10.0), STATE_DIM, 7, 3, 3)
    live = _demo_batch(64, expert_action, torch.zeros(64, dtype=torch.bool))
    assert np.isfinite(list(agent.update(live, clone_extra=True).values())).all()
