"""The sparse MoE layer: dispatch is exact, routing is top-k, masks and balance behave."""
from __future__ import annotations

import pytest
import torch

from robolearn.adapt import most_routed_experts
from robolearn.policies.grouped_experts import grouped_experts
from robolearn.policies.moe import MoELayer, MoENet, expert_mask_for, top_k_indices


def dense_reference(layer: MoELayer, x: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Run every chosen expert on its example one at a time."""
    rows = []
    for b in range(x.shape[0]):
        y = 0
        for e, w in zip(idx[b], weights[b]):
            h = torch.relu(x[b] @ layer.w1[e] + layer.b1[e, 0])
            y = y + w * (h @ layer.w2[e] + layer.b2[e, 0])
        rows.append(y)
    return torch.stack(rows)


@pytest.mark.parametrize("k", [1, 2, 4])
def test_sparse_dispatch_matches_per_example_experts(k: int) -> None:
    torch.manual_seed(0)
    layer = MoELayer(d_in=6, d_out=5, d_cond=3, n_experts=8, k=k, hidden=7).eval()
    torch.nn.init.normal_(layer.gate.weight)  # non-uniform routing
    x, cond = torch.randn(32, 6), torch.randn(32, 3)
    y, balance, idx = layer(x, cond)
    _, weights, _ = layer.route(x, cond)
    assert idx.shape == (32, k)
    assert torch.allclose(y, dense_reference(layer, x, idx, weights), atol=1e-5)
    if k > 1:
        assert torch.allclose(weights.sum(-1), torch.ones(32))
    else:  # Switch: the chosen expert's probability under the softmax over every expert
        assert torch.allclose(weights, torch.softmax(layer.gate(torch.cat([x, cond], -1)), -1).gather(-1, idx))


def test_gradients_reach_only_chosen_experts() -> None:
    torch.manual_seed(1)
    layer = MoELayer(d_in=4, d_out=4, d_cond=2, n_experts=6, k=1, hidden=8).eval()
    x, cond = torch.randn(3, 4), torch.randn(3, 2)
    y, _, idx = layer(x, cond)
    y.sum().backward()
    used = set(idx.flatten().tolist())
    for e in range(6):
        assert (layer.w1.grad[e].abs().sum() > 0) == (e in used)


def test_copied_experts_take_over_from_their_originals_unchanged() -> None:
    torch.manual_seed(3)
    layer = MoELayer(d_in=6, d_out=5, d_cond=3, n_experts=4, k=2, hidden=7).eval()
    torch.nn.init.normal_(layer.gate.weight, std=0.1)
    x, cond = torch.randn(1, 6), torch.randn(1, 3)
    before, _, idx = layer(x, cond)
    layer.add_experts(2, copy_of=idx[0].tolist())
    after, _, new_idx = layer(x, cond)
    # The example now routes to the two copies (indices 4 and 5) and computes the same output.
    assert sorted(new_idx[0].tolist()) == [4, 5]
    assert torch.allclose(before, after, atol=1e-6)
    with pytest.raises(ValueError, match="copy_of"):
        layer.add_experts(2, copy_of=[0])


def test_most_routed_experts_ranks_by_use_and_cycles() -> None:
    routes = [torch.tensor([[2, 0], [2, 1], [2, 0]]), torch.tensor([[1, 3], [1, 3], [0, 3]])]
    assert most_routed_experts(routes, n_experts=4, n=2) == [[2, 0], [3, 1]]
    assert most_routed_experts(routes[:1], n_experts=4, n=5) == [[2, 0, 1, 3, 2]]


def test_mask_disables_experts() -> None:
    torch.manual_seed(2)
    layer = MoELayer(d_in=4, d_out=4, d_cond=2, n_experts=8, k=2, hidden=8)
    mask = torch.tensor([True, False, True, False, False, True, False, False])
    _, _, idx = layer(torch.randn(64, 4), torch.randn(64, 2), mask)
    assert set(idx.flatten().tolist()) <= {0, 2, 5}
    with pytest.raises(ValueError, match="every expert"):
        layer(torch.randn(2, 4), torch.randn(2, 2), torch.zeros(8, dtype=torch.bool))


def test_balance_loss_is_one_when_uniform_and_large_when_collapsed() -> None:
    layer = MoELayer(d_in=4, d_out=4, d_cond=2, n_experts=4, k=1, hidden=8, noisy=False)
    x, cond = torch.randn(256, 4), torch.randn(256, 2)
    with torch.no_grad():
        layer.gate.bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0]))  # everything to expert 0
    _, collapsed, _ = layer(x, cond)
    assert collapsed.item() > 3.5  # -> E = 4 when fully collapsed
    with torch.no_grad():
        layer.gate.weight.normal_()
        layer.gate.bias.zero_()
    _, spread, idx = layer(x, cond)
    assert spread.item() < collapsed.item()
    assert len(set(idx.flatten().tolist())) == 4


def test_expert_mask_for_fraction() -> None:
    net = MoENet(d_in=4, d_out=2, d_cond=2, n_tasks=3, hidden=8, n_layers=1, n_experts=8, k=2, expert_hidden=8)
    assert expert_mask_for(net, 0.0) is None
    assert int(expert_mask_for(net, 0.5).sum()) == 4
    assert int(expert_mask_for(net, 0.99).sum()) == 1  # one expert always stays on
    with pytest.raises(ValueError, match="disable_experts"):
        expert_mask_for(net, 1.0)


@pytest.mark.parametrize("k", [0, 5])
def test_bad_k_is_rejected(k: int) -> None:
    with pytest.raises(ValueError, match="k must be"):
        MoELayer(d_in=4, d_out=4, d_cond=2, n_experts=8, k=k)


def per_assignment_autograd(x: torch.Tensor, expert: torch.Tensor, w1, b1, w2, b2) -> torch.Tensor:
    """The grouped experts written with plain autograd ops, one (example, expert) pair at a time."""
    return torch.stack([torch.stack([torch.relu(x[b] @ w1[e] + b1[e, 0]) @ w2[e] + b2[e, 0] for e in row])
                        for b, row in enumerate(expert.tolist())])


@pytest.mark.parametrize("assignment", [[[0, 2], [3, 0], [2, 3], [3, 2], [0, 3]],
                                        [[0, 2], [2, 3], [2, 0], [0, 2], [3, 2]]], ids=["even", "skewed"])
@pytest.mark.parametrize("frozen", [False, True])
def test_grouped_experts_backward_matches_autograd(frozen: bool, assignment: list[list[int]]) -> None:
    torch.manual_seed(4)
    expert = torch.tensor(assignment)  # experts 1 and 4 idle
    x = torch.randn(5, 6, dtype=torch.float64)
    params = [torch.randn(5, 6, 7), torch.randn(5, 1, 7), torch.randn(5, 7, 4), torch.randn(5, 1, 4)]
    params = [p.double() for p in params]
    grads = {}
    for name, fn in (("grouped", grouped_experts), ("reference", per_assignment_autograd)):
        leaves = [x.clone().requires_grad_()] + [p.clone().requires_grad_(not frozen) for p in params]
        out = fn(leaves[0], expert, *leaves[1:])
        (out * torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view_as(out)).sum().backward()
        grads[name] = (out.detach(), [leaf.grad for leaf in leaves])
    (out, got), (want_out, want) = grads["grouped"], grads["reference"]
    assert out.shape == (5, 2, 4) and torch.allclose(out, want_out)
    for g, w in zip(got, want):
        assert g is None if w is None else torch.allclose(g, w)
    assert frozen or (got[1][[1, 4]] == 0).all()


@pytest.mark.parametrize("k", [1, 2, 4])
def test_gate_learns_from_the_task_loss(k: int) -> None:
    """Every k, k=1 included (Switch's full-softmax weight): the task loss reaches the gate."""
    torch.manual_seed(5)
    layer = MoELayer(d_in=6, d_out=5, d_cond=3, n_experts=8, k=k, hidden=7, noisy=False)
    torch.nn.init.normal_(layer.gate.weight)
    y, _, _ = layer(torch.randn(16, 6), torch.randn(16, 3))
    y.square().sum().backward()  # the task loss alone, no balance term
    assert layer.gate.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_top_k_indices_match_topk(k: int) -> None:
    logits = torch.randn(500, 64, generator=torch.Generator().manual_seed(k))
    assert torch.equal(top_k_indices(logits, k), logits.topk(k, dim=-1).indices)
    masked = logits.masked_fill(torch.arange(64) % 2 == 0, float("-inf"))  # as an expert mask leaves it
    assert (top_k_indices(masked, k) % 2 == 1).all()


def test_expert_grants_per_task_and_robot_and_old_weights_without_robot_grants() -> None:
    torch.manual_seed(0)
    net = MoENet(d_in=4, d_out=2, d_cond=2, n_tasks=2, hidden=8, n_layers=1, n_experts=4, k=2, expert_hidden=8,
                 n_robots=3)
    net.add_experts(2, new_tasks=[1], new_robots=[2], exclusive=True)
    x, cond = torch.randn(60, 4), torch.randn(60, 2)
    task, robot = torch.arange(60) % 2, torch.arange(60) % 3
    for layer in net.layers:  # a gate that prefers the new experts whenever they are granted
        torch.nn.init.zeros_(layer.gate.weight)
        layer.gate.bias.data = torch.tensor([0.0, 0.0, 0.0, 0.0, 5.0, 5.0])
    _, _, routes = net.eval()(x, cond, task, robot)
    uses_new = (routes[0] >= 4).any(-1)
    # Granted to the new task on any robot and to the new robot on any task; never to an old cell.
    assert torch.equal(uses_new, (task == 1) | (robot == 2))
    # Weights saved before per-robot grants existed load with no robot granted anything.
    state = {key: value for key, value in net.state_dict().items() if key != "robot_experts"}
    net.load_state_dict(state)
    assert not net.robot_experts.any()
