"""Behaviour cloning, robomimic-style, over any policy network of `build_net` (mlp, moe, multihead).

Inputs (PolicyInputs: chosen state slots plus object-relative vectors) are normalized by
the dataset's statistics and actions standardized per dimension; both statistics are
buffers, so they travel in the checkpoint. Two models:
`mlp` predicts the next action (robomimic's BC); `chunk` predicts the next `chunk`
actions at once and executes them with ACT's temporal ensembling (Zhao et al. 2023):
at each step every stored prediction for that step is averaged with weights
exp(-ensemble_decay * i), oldest first. The loss is MSE plus the MoE balance loss.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robolearn.device import on_device
from robolearn.policies import PolicyConfig, build_net
from robolearn.policies.actor_critic import Conditioner, RunningNorm
from robolearn.policies.inputs import PolicyInputs

BC_MODELS = ("mlp", "chunk")
# Left out of the inputs by default (algo.drop). Joint angles mean different things on
# different arms. With few demos, the hand velocity and the orientations invite spurious
# correlations, and none of the demonstrated tasks turns the hand. Measured (pick_place,
# 15 demos, chunk): 0.10 with them, 0.78 without (docs/benchmarks.md; measured while
# tcp_quat still flipped sign at small tilts, see spec.canonical_tcp_quat).
DROPPED = ("joint_pos", "tcp_vel", "tcp_quat", "obj0_quat", "obj1_quat")


@dataclass
class BCConfig:
    name: str = "bc"
    model: str = "mlp"  # mlp: one action per step | chunk: action chunking with temporal ensembling
    chunk: int = 8
    ensemble_decay: float = 0.1
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    steps: int = 4000  # gradient steps
    balance_coef: float = 0.01
    drop: list[str] = field(default_factory=lambda: list(DROPPED))  # state slots the policy does not see
    planar_invariant: bool = True  # keep only the heights of absolute positions (see PolicyInputs)
    # Std of Gaussian noise on the normalized inputs while training: the policy learns to act
    # sensibly a little off the demonstrated states (pick_place, 15 demos: 0.78 without, 0.88 with 0.1).
    obs_noise: float = 0.1


@dataclass(frozen=True)
class BCData:
    """Per step: observation, ids, the next `horizon` action labels (padded with the last
    one past the episode's end) and the mask of the real ones."""
    obs: torch.Tensor  # (N, STATE_DIM)
    actions: torch.Tensor  # (N, horizon, ACTION_DIM)
    mask: torch.Tensor  # (N, horizon)
    task: torch.Tensor  # (N,)
    robot: torch.Tensor  # (N,)

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, index: torch.Tensor) -> BCData:
        return BCData(self.obs[index], self.actions[index], self.mask[index], self.task[index], self.robot[index])

    def to(self, device: torch.device) -> BCData:
        return BCData(*(t.to(device) for t in (self.obs, self.actions, self.mask, self.task, self.robot)))


class ActionNorm(nn.Module):
    """Per-dimension action standardization; a dimension that never varies keeps unit scale."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    def set(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.std.copy_(torch.where(std > 1e-3, std, torch.ones_like(std)))

    def forward(self, actions: torch.Tensor) -> torch.Tensor:
        return (actions - self.mean) / self.std

    def inverse(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * self.std + self.mean


class BC:
    def __init__(self, policy: PolicyConfig, cfg: BCConfig, obs_dim: int, act_dim: int, n_tasks: int, n_robots: int,
                 device: torch.device = torch.device("cpu")):
        if cfg.model not in BC_MODELS:
            raise ValueError(f"algo.model={cfg.model!r}; allowed: {', '.join(BC_MODELS)}")
        if cfg.chunk < 1:
            raise ValueError(f"algo.chunk={cfg.chunk}: must be >= 1")
        self.cfg, self.act_dim, self.device = cfg, act_dim, device
        self.horizon = cfg.chunk if cfg.model == "chunk" else 1
        self.norm = RunningNorm(obs_dim, inputs=PolicyInputs(cfg.drop, cfg.planar_invariant, obs_dim))
        in_dim = self.norm.dim
        self.action_norm = ActionNorm(act_dim)
        self.cond = Conditioner(n_tasks, n_robots, policy.embed_dim)
        self.net = build_net(policy, in_dim, act_dim * self.horizon, self.cond.dim, n_tasks)
        for module in (self.norm, self.action_norm, self.cond, self.net):
            module.to(device)
        self.actor = self  # evaluation and routing statistics look for `agent.actor.net`
        self.opt = torch.optim.AdamW(list(self.net.parameters()) + list(self.cond.parameters()), lr=cfg.lr,
                                     weight_decay=cfg.weight_decay)
        self.updates = 0
        self.reset_episode()

    def set_normalizers(self, obs_mean: np.ndarray, obs_var: np.ndarray, count: int, action_mean: np.ndarray,
                        action_std: np.ndarray) -> None:
        """The dataset's statistics of the policy's inputs (`norm.inputs` of the states) and of the actions."""
        def tensor(values: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(values, dtype=torch.float32, device=self.device)

        self.norm.mean.copy_(tensor(obs_mean))
        self.norm.var.copy_(tensor(obs_var))
        self.norm.count.fill_(count)
        self.action_norm.set(tensor(action_mean), tensor(action_std))

    def input_features(self, states: np.ndarray) -> np.ndarray:
        """What the normalizer sees of raw states (the chosen slots and relative vectors)."""
        return self.norm.inputs(torch.as_tensor(states, dtype=torch.float32, device=self.device)).cpu().numpy()

    def _predict(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor,
                 expert_mask: torch.Tensor | None = None, noise: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, list]:
        x = self.norm(obs)
        x = x + noise * torch.randn_like(x)
        out, balance, routes = self.net(x, self.cond(task, robot), task, expert_mask)
        return out.view(len(obs), self.horizon, self.act_dim), balance, routes

    def update(self, batch: BCData) -> dict[str, float]:
        self.net.train()
        pred, balance, _ = self._predict(batch.obs, batch.task, batch.robot, noise=self.cfg.obs_noise)
        err = F.mse_loss(pred, self.action_norm(batch.actions), reduction="none").mean(-1)
        loss = (err * batch.mask).sum() / batch.mask.sum() + self.cfg.balance_coef * balance
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.updates += 1
        return {"loss/bc": loss.item(), "loss/balance": balance.item()}

    def reset_episode(self) -> None:
        """Forget the action chunks predicted in the previous episode."""
        self._chunks: deque[tuple[int, np.ndarray]] = deque(maxlen=self.horizon)
        self._t = 0

    @torch.no_grad()
    def act(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray, deterministic: bool = True,
            expert_mask: torch.Tensor | None = None) -> np.ndarray:
        self.net.eval()
        pred, _, _ = self._predict(*on_device(self.device, obs, task, robot), expert_mask)
        actions = self.action_norm.inverse(pred).clamp(-1.0, 1.0).cpu().numpy()  # (B, horizon, A)
        if self.horizon == 1:
            return actions[:, 0]
        if len(obs) != 1:
            raise ValueError("algo.model=chunk executes one episode at a time (batch of 1)")
        self._chunks.append((self._t, actions[0]))
        # Temporal ensembling over every stored chunk that covers this step, oldest first.
        covering = [chunk[self._t - start] for start, chunk in self._chunks]
        weights = np.exp(-self.cfg.ensemble_decay * np.arange(len(covering)))
        self._t += 1
        return (np.average(covering, axis=0, weights=weights))[None].astype(np.float32)

    @torch.no_grad()
    def routes(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray) -> list[torch.Tensor]:
        self.net.eval()
        _, _, routes = self._predict(*on_device(self.device, obs, task, robot))
        return [r.cpu() for r in routes]

    def state_dict(self) -> dict:
        return {"norm": self.norm.state_dict(), "action_norm": self.action_norm.state_dict(),
                "cond": self.cond.state_dict(), "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.norm.load_state_dict(state["norm"])
        self.action_norm.load_state_dict(state["action_norm"])
        self.cond.load_state_dict(state["cond"])
        self.net.load_state_dict(state["net"])
        self.opt.load_state_dict(state["opt"])
        self.updates = state["updates"]
