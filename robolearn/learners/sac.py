"""Multitask soft actor-critic, the MT-SAC recipe (Yu et al., Meta-World).

One actor and twin critics shared by every task and robot, conditioned on task and
robot embeddings; one entropy temperature per task, so an easy task that has become
deterministic does not take exploration away from a hard one. Each network's
load-balancing loss (zero for dense networks) is added with weight `balance_coef`.

From pixels (`inputs=image+proprio`, DrQ: Kostrikov et al. 2020): camera frames go through
the keypoint encoders of robolearn.policies.vision next to the arm's own state, randomly
shifted in every update; the critic's loss trains the encoders, the actor reads their
keypoints detached, and the target critic has its own slowly following copy of them.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from robolearn.device import on_device
from robolearn.policies import PolicyConfig
from robolearn.policies.actor_critic import Actor, PerRobotNorm, RunningNorm, TwinCritic, squashed_sample
from robolearn.learners.replay import ReplayBatch
from robolearn.policies.inputs import PROPRIO, PolicyInputs
from robolearn.policies.vision import ImageEncoders, check_inputs, frames_on
from robolearn.sims.cameras import check_cameras
from robolearn.spec import STATE_DIM


@dataclass
class SACConfig:
    name: str = "sac"
    gamma: float = 0.97
    tau: float = 0.005
    lr: float = 3e-4
    batch_size: int = 256
    init_alpha: float = 0.1
    balance_coef: float = 0.01
    warmup_steps: int = 2000  # uniform random actions before the first update
    updates_per_step: float = 0.05  # gradient steps per env step
    buffer_size: int = 1_000_000
    # Add hand-to-object and hand-to-goal vectors to the inputs (robolearn.policies.inputs):
    # reach in `make train` 0.63 -> 1.00 over the three arms.
    relative_inputs: bool = True
    # Scripted-expert episodes per task x robot kept as a second replay buffer, and the share
    # of every batch drawn from it (robolearn/expert_demos.py); 0 trains from scratch.
    demo_episodes: int = 0
    demo_ratio: float = 0.5
    demo_noise: float = 0.1  # Gaussian noise on the expert's actions while recording
    # Weight of behaviour cloning on the demo rows, added to the actor's loss (as in Nair et
    # al. 2018 and TD3+BC): the actor copies the expert where it has shown the way and learns
    # from the critic alone elsewhere.
    demo_bc_coef: float = 100.0
    # Normalize each robot's observations by its own statistics (robolearn fleet: pooled
    # robots of other joint ranges or other labs' state layouts); off: one set for all.
    per_robot_norm: bool = False
    # What the policy sees (the first two are set by `robolearn train inputs=... cameras=...`), as in
    # `robolearn bc`: state (object and goal poses) | image | image+proprio (camera frames
    # instead of poses, with or without the arm's own state).
    inputs: str = "state"
    cameras: list[str] = field(default_factory=list)
    image_size: int = 84
    keypoints: int = 16  # per camera (spatial softmax)
    image_shift: int = 4  # pixels of DrQ random shift in every update


class SAC:
    def __init__(self, policy: PolicyConfig, cfg: SACConfig, obs_dim: int, act_dim: int, n_tasks: int,
                 n_robots: int, device: torch.device = torch.device("cpu"), task_spaces: Sequence[int] = ()):
        self.cfg, self.act_dim, self.device = cfg, act_dim, device
        # Relative vectors come from the suite's state layout; a run of external tasks alone
        # (e.g. a 3-d Pendulum state) has none to derive them from.
        relative = cfg.relative_inputs and obs_dim >= STATE_DIM
        inputs = PolicyInputs([], False, obs_dim) if relative else None
        self.vision: ImageEncoders | None = None
        if check_inputs(cfg.inputs) != "state":  # the scene through cameras: no object or goal poses
            inputs = PolicyInputs(list(PROPRIO) if cfg.inputs == "image" else [], False, obs_dim, proprio_only=True)
            self.vision = ImageEncoders(check_cameras(cfg.cameras), cfg.image_size, cfg.keypoints,
                                        cfg.image_shift).to(device)
        self.norm = (PerRobotNorm(obs_dim, n_robots, inputs=inputs) if cfg.per_robot_norm
                     else RunningNorm(obs_dim, inputs=inputs)).to(device)
        in_dim = self.norm.dim + (self.vision.dim if self.vision else 0)
        self.actor = Actor(policy, in_dim, act_dim, n_tasks, n_robots, task_spaces).to(device)
        self.critic = TwinCritic(policy, in_dim, act_dim, n_tasks, n_robots, task_spaces).to(device)
        self.log_alpha = torch.full((n_tasks,), float(np.log(cfg.init_alpha)), device=device, requires_grad=True)
        self.target_entropy = -float(act_dim)
        self.reset_optimizers()
        self.updates = 0

    def reset_optimizers(self) -> None:
        """Fresh optimizers (after the networks change shape). Frozen parameters stay in the
        groups, gradient-free, so a checkpoint's optimizer state always matches on load."""
        lr = self.cfg.lr
        # eval mode: the targets route without noise (noisy routing is for training the
        # networks it spreads the load of; in a target it is only variance).
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False).eval()
        self.vision_target = copy.deepcopy(self.vision).requires_grad_(False) if self.vision else None
        # fused: one pass over each parameter per step instead of one per Adam op; the experts
        # hold most of an MoE's parameters (MoE update 36 -> 33 ms, bench/sac_update.py).
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=lr, fused=True)
        self.critic_opt = torch.optim.Adam([*self.critic.parameters(), *self.encoder_parameters()], lr=lr, fused=True)
        self.alpha_opt = torch.optim.Adam([self.log_alpha], lr=lr, fused=True)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """The camera encoders' parameters (none for a state policy): the critic's loss trains them."""
        return list(self.vision.parameters()) if self.vision else []

    @property
    def cameras(self) -> tuple[str, ...]:
        """The cameras the policy sees (none for a state policy)."""
        return self.vision.cameras if self.vision else ()

    def features(self, obs: torch.Tensor, robot: torch.Tensor, images: dict[str, torch.Tensor],
                 augment: bool = False, encoders: ImageEncoders | None = None) -> torch.Tensor:
        """What the networks see: the normalized state inputs, then each camera's keypoints
        (from `encoders`, default the online ones)."""
        x = self.norm(obs, robot)
        if self.vision is None:
            return x
        return torch.cat([x, (encoders or self.vision)(images, augment)], dim=-1)

    @torch.no_grad()
    def act(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray, deterministic: bool = False,
            expert_mask: torch.Tensor | None = None, images: dict[str, np.ndarray] | None = None) -> np.ndarray:
        self.actor.eval()
        obs_t, task_t, robot_t = on_device(self.device, obs, task, robot)
        x = self.features(obs_t, robot_t, frames_on(self.device, self.vision, images))
        action, *_ = self.actor(x, task_t, robot_t, deterministic, expert_mask)
        self.actor.train()
        return action.cpu().numpy()

    @torch.no_grad()
    def routes(self, obs: np.ndarray, task: np.ndarray, robot: np.ndarray,
               images: dict[str, np.ndarray] | None = None) -> list[torch.Tensor]:
        """The actor's chosen experts per MoE layer (empty for dense policies)."""
        self.actor.eval()
        obs_t, task_t, robot_t = on_device(self.device, obs, task, robot)
        *_, routes = self.actor(self.features(obs_t, robot_t, frames_on(self.device, self.vision, images)), task_t,
                                robot_t, True)
        self.actor.train()
        return [r.cpu() for r in routes]

    @torch.no_grad()
    def td_target(self, batch: ReplayBatch, alpha: torch.Tensor) -> torch.Tensor:
        """The soft Bellman target of a raw batch; `alpha` per example."""
        task, robot = batch.task, batch.robot
        next_obs = self.features(batch.next_obs, robot, batch.next_images, augment=True)
        self.actor.eval()  # the next action as the policy acts: routed without noise
        next_action, next_logp, _, _ = self.actor(next_obs, task, robot)
        self.actor.train()
        if self.vision is not None:  # the target critic sees through its own slowly following encoders
            next_obs = self.features(batch.next_obs, robot, batch.next_images, True, self.vision_target)
        tq1, tq2, _ = self.critic_target(next_obs, next_action, task, robot)
        return batch.reward + self.cfg.gamma * (1 - batch.terminal) * (torch.min(tq1, tq2) - alpha * next_logp)

    def update(self, batch: ReplayBatch, clone_extra: bool = False) -> dict[str, float]:
        """One gradient step of critic, actor and temperatures; with `clone_extra` the actor
        also clones the action on the batch's `extra` rows (the scripted expert's)."""
        cfg = self.cfg
        batch = batch.to(self.device)
        demo_rows = batch.extra if clone_extra else None
        obs = self.features(batch.obs, batch.robot, batch.images, augment=True)
        task, robot, action = batch.task, batch.robot, batch.action
        alpha = self.log_alpha.exp().detach()[task]
        target = self.td_target(batch, alpha)
        q1, q2, critic_balance = self.critic(obs, action, task, robot)
        critic_loss = F.mse_loss(q1, target) + F.mse_loss(q2, target) + cfg.balance_coef * critic_balance
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        obs = obs.detach()  # the actor's loss does not train the camera encoders (DrQ)
        mean, log_std, actor_balance, _ = self.actor.distribution(obs, task, robot)
        new_action, logp = squashed_sample(mean, log_std)
        self.critic.requires_grad_(False)
        pq1, pq2, _ = self.critic(obs, new_action, task, robot)
        self.critic.requires_grad_(True)
        actor_loss = (alpha * logp - torch.min(pq1, pq2)).mean() + cfg.balance_coef * actor_balance
        if demo_rows is not None and demo_rows.any() and cfg.demo_bc_coef > 0:
            # On the mode, not a sample: cloning a sample would also shrink the spread, against
            # the entropy target, and the temperature would grow without bound.
            error = ((torch.tanh(mean[demo_rows]) - action[demo_rows]) ** 2).sum(-1)
            actor_loss = actor_loss + cfg.demo_bc_coef * error.mean()
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        # Per-task temperature: each task's entropy is driven to the target separately.
        alpha_loss = -(self.log_alpha[task] * (logp.detach() + self.target_entropy)).mean()
        self.alpha_opt.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.alpha_opt.step()

        with torch.no_grad():
            for p, tp in zip(self.critic.parameters(), self.critic_target.parameters()):
                tp.lerp_(p, cfg.tau)
            if self.vision is not None:
                for p, tp in zip(self.vision.parameters(), self.vision_target.parameters()):
                    tp.lerp_(p, cfg.tau)
        self.updates += 1
        return {"loss/critic": critic_loss.item(), "loss/actor": actor_loss.item(), "loss/alpha": alpha_loss.item(),
                "loss/balance": actor_balance.item(), "q": q1.mean().item(), "alpha": alpha.mean().item()}

    def state_dict(self) -> dict:
        return {"norm": self.norm.state_dict(), "actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "critic_target": self.critic_target.state_dict(), "log_alpha": self.log_alpha.detach().clone(),
                "actor_opt": self.actor_opt.state_dict(), "critic_opt": self.critic_opt.state_dict(),
                "alpha_opt": self.alpha_opt.state_dict(), "updates": self.updates} | (
                    {"vision": self.vision.state_dict(), "vision_target": self.vision_target.state_dict()}
                    if self.vision else {})

    def load_state_dict(self, state: dict) -> None:
        self.norm.load_state_dict(state["norm"])
        self.actor.load_state_dict(state["actor"])
        self.critic.load_state_dict(state["critic"])
        self.critic_target.load_state_dict(state["critic_target"])
        if self.vision is not None:
            self.vision.load_state_dict(state["vision"])
            self.vision_target.load_state_dict(state["vision_target"])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])
        self.actor_opt.load_state_dict(state["actor_opt"])
        self.critic_opt.load_state_dict(state["critic_opt"])
        self.alpha_opt.load_state_dict(state["alpha_opt"])
        self.updates = state["updates"]
