"""Behaviour cloning, robomimic-style, over any policy network of `build_net` (mlp, moe, multihead).

Inputs (PolicyInputs: chosen state slots plus object-relative vectors) are normalized by
the dataset's statistics and actions standardized per dimension; both statistics are
buffers, so they travel in the checkpoint. Two models:
`mlp` predicts the next action (robomimic's BC); `chunk` predicts the next `chunk`
actions at once and executes them with ACT's temporal ensembling (Zhao et al. 2023):
at each step every stored prediction for that step is averaged with weights
exp(-ensemble_decay * i), oldest first. The loss is MSE plus the MoE balance loss.

With `inputs=image` or `image+proprio` the policy sees camera frames through
robolearn.policies.vision (keypoints per camera, randomly shifted while training) instead
of object and goal poses; `image+proprio` adds the arm's own state (PROPRIO slots not in
`drop`), `image` nothing else.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robolearn.device import on_device
from robolearn.policies import PolicyConfig, build_net
from robolearn.policies.actor_critic import Conditioner, RunningNorm
from robolearn.policies.inputs import PROPRIO, PolicyInputs
from robolearn.policies.vision import ImageEncoders, check_inputs, frames_on
from robolearn.sims.cameras import check_cameras

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
    # What the policy sees; `robolearn bc` sets these from its `inputs` and `cameras` and the data.
    inputs: str = "state"  # state | image | image+proprio
    cameras: list[str] = field(default_factory=list)
    image_size: int = 84
    keypoints: int = 16  # per camera (spatial softmax)
    image_shift: int = 4  # pixels of DrQ random shift while training


@dataclass(frozen=True)
class BCData:
    """Per step: observation, ids, the next `horizon` action labels (padded with the last
    one past the episode's end) and the mask of the real ones."""
    obs: torch.Tensor  # (N, STATE_DIM)
    actions: torch.Tensor  # (N, horizon, ACTION_DIM)
    mask: torch.Tensor  # (N, horizon)
    task: torch.Tensor  # (N,)
    robot: torch.Tensor  # (N,)
    images: dict[str, torch.Tensor] = field(default_factory=dict)  # camera -> (N, H, W, 3) uint8

    def __len__(self) -> int:
        return len(self.obs)

    def take(self, index: torch.Tensor) -> BCData:
        return BCData(self.obs[index], self.actions[index], self.mask[index], self.task[index], self.robot[index],
                      {c: frames[index] for c, frames in self.images.items()})

    def to(self, device: torch.device) -> BCData:
        return BCData(*(t.to(device) for t in (self.obs, self.actions, self.mask, self.task, self.robot)),
                      {c: frames.to(device) for c, frames in self.images.items()})


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
                 device: torch.device = torch.device("cpu"), task_spaces: Sequence[int] = ()):
        # task_spaces: taken as every learner takes it (make_agent); bc's data have one space.
        if policy.input_adapter != "pad":  # recorded episodes are the suite's tasks: one state layout
            raise ValueError(f"policy.input_adapter={policy.input_adapter!r}: bc trains on the suite's episodes, one "
                             "observation space; allowed: pad")
        if cfg.model not in BC_MODELS:
            raise ValueError(f"algo.model={cfg.model!r}; allowed: {', '.join(BC_MODELS)}")
        if cfg.chunk < 1:
            raise ValueError(f"algo.chunk={cfg.chunk}: must be >= 1")
        self.cfg, self.act_dim, self.device = cfg, act_dim, device
        self.horizon = cfg.chunk if cfg.model == "chunk" else 1
        sees = check_inputs(cfg.inputs) != "state"
        drop = list(cfg.drop) + (list(PROPRIO) if cfg.inputs == "image" else [])
        self.norm = RunningNorm(obs_dim, inputs=PolicyInputs(drop, cfg.planar_invariant, obs_dim, proprio_only=sees))
        self.vision = ImageEncoders(check_cameras(cfg.cameras), cfg.image_size, cfg.keypoints, cfg.image_shift) \
            if sees else None
        in_dim = self.norm.dim + (self.vision.dim if self.vision else 0)
        self.action_norm = ActionNorm(act_dim)
        self.cond = Conditioner(n_tasks, n_robots, policy.embed_dim)
        self.net = build_net(policy, in_dim, act_dim * self.horizon, self.cond.dim, n_tasks, n_robots)
        modules = [self.norm, self.action_norm, self.cond, self.net] + ([self.vision] if self.vision else [])
        for module in modules:
            module.to(device)
        self.actor = self  # evaluation and routing statistics look for `agent.actor.net`
        trained = [self.net, self.cond] + ([self.vision] if self.vision else [])
        self.opt = torch.optim.AdamW([p for m in trained for p in m.parameters()], lr=cfg.lr,
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

    def _predict(self, obs: torch.Tensor, task: torch.Tensor, robot: torch.Tensor, images: dict[str, torch.Tensor],
                 expert_mask: torch.Tensor | None = None, noise: float = 0.0,
                 augment: bool = False) -> tuple[torch.Tensor, torch.Tensor, list]:
        x = self.norm(obs)
        x = x + noise * torch.randn_like(x)
        if self.vision is not None:
            x = torch.cat([x, self.vision(images, augment)], dim=-1)
        out, balance, routes = self.net(x, self.cond(task, robot), task, robot, expert_mask)
        return out.view(len(obs), self.horizon, self.act_dim), balance, routes

    def update(self, batch: BCData) -> dict[str, float]:
        self.net.train()
        pred, balance, _ = self._predict(batch.obs, batch.task, batch.robot, batch.images, noise=self.cfg.obs_noise,
                                         augment=True)
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

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras the policy sees (none for a state policy)."""
        return self.vision.cameras if self.vision else ()

    @torch.no_grad()
    def act(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray, deterministic: bool = True,
            expert_mask: torch.Tensor | None = None, images: dict[str, np.ndarray] | None = None) -> np.ndarray:
        self.net.eval()
        frames = frames_on(self.device, self.vision, images)
        pred, _, _ = self._predict(*on_device(self.device, obs, task, robot), frames, expert_mask)
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
    def routes(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray,
               images: dict[str, np.ndarray] | None = None) -> list[torch.Tensor]:
        self.net.eval()
        frames = frames_on(self.device, self.vision, images)
        _, _, routes = self._predict(*on_device(self.device, obs, task, robot), frames)
        return [r.cpu() for r in routes]

    def state_dict(self) -> dict:
        return {"norm": self.norm.state_dict(), "action_norm": self.action_norm.state_dict(),
                "cond": self.cond.state_dict(), "net": self.net.state_dict(), "opt": self.opt.state_dict(),
                "updates": self.updates} | ({"vision": self.vision.state_dict()} if self.vision else {})

    def load_state_dict(self, state: dict) -> None:
        self.norm.load_state_dict(state["norm"])
        self.action_norm.load_state_dict(state["action_norm"])
        self.cond.load_state_dict(state["cond"])
        self.net.load_state_dict(state["net"])
        if self.vision is not None:
            self.vision.load_state_dict(state["vision"])
        self.opt.load_state_dict(state["opt"])
        self.updates = state["updates"]
