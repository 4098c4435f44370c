"""The dense baselines are matched to the MoE they stand against: same total parameters, or
the same multiply-adds per example as its k active experts."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from robolearn.policies import PolicyConfig, build_net

D_IN, D_OUT, D_COND, N_TASKS = 38, 14, 32, 10
SHAPES = [dict(), dict(n_experts=64, k=1), dict(n_layers=2, k=4, expert_hidden=64), dict(task_heads=True)]


def n_params(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def flops_per_example(net: torch.nn.Module, batch: int = 64) -> float:
    inputs = (torch.randn(batch, D_IN), torch.randn(batch, D_COND), torch.randint(N_TASKS, (batch,)),
              torch.zeros(batch, dtype=torch.long))
    with FlopCounterMode(display=False) as counter:
        net.eval()(*inputs)
    return counter.get_total_flops() / batch


@pytest.mark.parametrize("shape", SHAPES)
def test_parameter_matched_dense_has_the_moes_total_parameters(shape: dict) -> None:
    moe = build_net(PolicyConfig(kind="moe", **shape), D_IN, D_OUT, D_COND, N_TASKS, 1)
    dense = build_net(PolicyConfig(kind="dense", match="params", **shape), D_IN, D_OUT, D_COND, N_TASKS, 1)
    assert abs(n_params(dense) - n_params(moe)) <= 2 * 256 * PolicyConfig(**shape).n_layers  # within one unit of width


@pytest.mark.parametrize("shape", SHAPES)
def test_compute_matched_dense_does_the_moes_active_multiply_adds(shape: dict) -> None:
    cfg = PolicyConfig(kind="moe", **shape)
    moe = build_net(cfg, D_IN, D_OUT, D_COND, N_TASKS, 1)
    dense = build_net(PolicyConfig(kind="dense", match="compute", **shape), D_IN, D_OUT, D_COND, N_TASKS, 1)
    gate = 2 * (cfg.hidden + D_COND) * cfg.n_experts * cfg.n_layers  # the routing, which dense has not
    assert flops_per_example(dense) == flops_per_example(moe) - gate
    assert n_params(dense) < n_params(moe)


def test_unknown_match_is_refused_naming_the_setting() -> None:
    with pytest.raises(ValueError, match="policy.match='width'; allowed: params, compute"):
        build_net(PolicyConfig(kind="dense", match="width"), D_IN, D_OUT, D_COND, N_TASKS, 1)
