"""Adding tasks or robots to a trained MoE policy without touching what it already knows.

`prepare_adaptation` appends experts to every MoE layer of the actor and grants them only
to the new cells: the new tasks (on any arm) and the new robots (on any task). The new
experts start as copies of the old experts that the new cells already route to (sparse
upcycling), with a gate that prefers the copy: the new cells start from what the policy
does for them now, and train their own copies. Fresh experts would never be chosen,
because the trained gate's logits for old experts are far above a new expert's zero logit,
so they would get no gradient. Everything an old task on an old arm uses (encoder, camera
encoders, shared head or their own task heads, old experts, old gate rows, old task and robot embeddings,
the input maps of old observation spaces; a new task's or robot's row and a new space's
map train) is frozen by zeroing its gradients, so the old cells' actions are unchanged
bit for bit. A new arm needs its own experts: with only its
embedding row to train, an xArm6 added to a Panda+iiwa model stayed at 0.00
(docs/benchmarks.md). The critics get fresh new experts and train freely: they are not
used when acting.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from robolearn.learners.sac import SAC
from robolearn.policies.heads import TaskHeads
from robolearn.policies.moe import MoENet
from robolearn.policies.spaces import SpaceAdapter


def _freeze_rows(param: nn.Parameter, trainable: torch.Tensor) -> None:
    """Zero the gradient of every row (first dim) of `param` not marked trainable."""
    shape = (-1,) + (1,) * (param.dim() - 1)
    keep = trainable.to(param.dtype).view(shape)
    param.register_hook(lambda grad: grad * keep)


def most_routed_experts(routes: list[torch.Tensor], n_experts: int, n: int) -> list[list[int]]:
    """Per layer, the `n` experts chosen most often in `routes` (cycling when n > n_experts)."""
    ranked = [torch.bincount(idx.reshape(-1), minlength=n_experts).argsort(descending=True, stable=True).tolist()
              for idx in routes]
    return [[order[i % n_experts] for i in range(n)] for order in ranked]


def check_adaptable(agent: SAC, add_experts: int) -> None:
    if not isinstance(agent.actor.net, MoENet):
        raise ValueError("adapt_from needs a checkpoint trained with policy=moe")
    if add_experts < 1:
        raise ValueError(f"add_experts must be >= 1 (the new tasks' and robots' own experts), got {add_experts}")


def prepare_adaptation(agent: SAC, adaptation: dict, add_experts: int,
                       probe: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    """`adaptation`: {new_task_ids, new_robot_ids, old_experts}; `probe`: (states, task ids,
    robot ids) of the new cells, to find the experts they use."""
    check_adaptable(agent, add_experts)
    new_tasks, new_robots = adaptation["new_task_ids"], adaptation.get("new_robot_ids", [])
    actor_net = agent.actor.net
    old_experts = actor_net.layers[0].n_experts
    copy_of = most_routed_experts(agent.routes(*probe), old_experts, add_experts)
    actor_net.add_experts(add_experts, new_tasks, new_robots, exclusive=True, copy_of=copy_of)
    for net in agent.critic.nets:
        net.add_experts(add_experts, new_tasks, new_robots, exclusive=False)
    freeze_old_tasks(agent, adaptation)
    agent.reset_optimizers()


def _rows(n: int, ids: list[int]) -> torch.Tensor:
    rows = torch.zeros(n, dtype=torch.bool)
    rows[ids] = True
    return rows


def freeze_old_tasks(agent: SAC, adaptation: dict) -> None:
    """Zero the gradients of everything the old tasks use (also when resuming an adapted run);
    the embedding rows of new tasks and new robots train."""
    actor_net, cond = agent.actor.net, agent.actor.cond
    agent.norm.frozen = True
    if agent.vision is not None:  # the camera encoders every old task sees through
        agent.vision.requires_grad_(False)
    for module in (actor_net.encoder, actor_net.norms):
        module.requires_grad_(False)
    new_rows = _rows(cond.task.num_embeddings, adaptation["new_task_ids"])
    _freeze_rows(cond.task.weight, new_rows)
    if isinstance(agent.actor.spaces, SpaceAdapter):  # a space that only new tasks have trains its own map
        spaces = agent.actor.spaces
        old_spaces = spaces.task_space[~new_rows.to(spaces.task_space.device)].unique().cpu()
        new_spaces = ~_rows(spaces.weight.shape[0], old_spaces.tolist())
        _freeze_rows(spaces.weight, new_spaces)
        _freeze_rows(spaces.bias, new_spaces)
    _freeze_rows(cond.robot.weight, _rows(cond.robot.num_embeddings, adaptation.get("new_robot_ids", [])))
    old_experts = adaptation["old_experts"]
    if isinstance(actor_net.head, TaskHeads):  # the new tasks' own output layers train
        _freeze_rows(actor_net.head.weight, new_rows)
        _freeze_rows(actor_net.head.bias, new_rows)
    else:
        actor_net.head.requires_grad_(False)
    for layer in actor_net.layers:
        fresh = torch.arange(layer.n_experts) >= old_experts
        for param in (layer.w1, layer.b1, layer.w2, layer.b2, layer.gate.weight, layer.gate.bias,
                      layer.noise.weight, layer.noise.bias):
            _freeze_rows(param, fresh)
