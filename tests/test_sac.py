"""Multitask SAC with an MoE: routing noise stays out of the Bellman targets."""
from __future__ import annotations

import torch

from robolearn.learners.sac import SAC, SACConfig
from robolearn.policies import PolicyConfig
from robolearn.policies.moe import set_routing_noise


def test_targets_route_without_noise_while_the_critic_trains_with_it() -> None:
    torch.manual_seed(0)
    agent = SAC(PolicyConfig(kind="moe", hidden=32, expert_hidden=16, n_experts=8, k=2), SACConfig(), 38, 7, 3, 3)
    n = 64
    batch = {"obs": torch.randn(n, 38), "next_obs": torch.randn(n, 38), "action": torch.rand(n, 7) * 2 - 1,
             "reward": torch.randn(n), "terminal": torch.zeros(n), "task": torch.randint(0, 3, (n,)),
             "robot": torch.randint(0, 3, (n,))}
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
    q_a = agent.critic(batch["obs"], batch["action"], batch["task"], batch["robot"])[0]
    q_b = agent.critic(batch["obs"], batch["action"], batch["task"], batch["robot"])[0]
    assert not torch.equal(q_a, q_b)
