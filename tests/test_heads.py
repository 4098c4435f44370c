"""Per-task output heads: each example goes through its own task's layer, and only that one."""
from __future__ import annotations

import torch

from robolearn.policies.heads import TaskHeads


def test_each_example_uses_its_own_task_head() -> None:
    torch.manual_seed(0)
    heads = TaskHeads(d_in=5, d_out=3, n_tasks=4)
    torch.nn.init.normal_(heads.bias)
    h, task = torch.randn(16, 5), torch.randint(0, 4, (16,))
    expected = torch.stack([h[b] @ heads.weight[task[b]] + heads.bias[task[b]] for b in range(16)])
    assert torch.allclose(heads(h, task), expected, atol=1e-6)


def test_gradients_reach_only_the_heads_of_tasks_in_the_batch() -> None:
    torch.manual_seed(1)
    heads = TaskHeads(d_in=5, d_out=3, n_tasks=4)
    heads(torch.randn(6, 5), torch.tensor([0, 2, 2, 0, 2, 0])).sum().backward()
    touched = [bool(heads.weight.grad[t].abs().sum() > 0) for t in range(4)]
    assert touched == [True, False, True, False]
