"""The deploy safety layer inside a simulated env, so a policy trains under the limits it is
deployed with (`robolearn train deploy_limits=shipped`).

A policy trained without them meets rate, speed and joint-velocity caps for the first time
on the arm (against a plain position-controlled arm they clipped most of a reach policy's
steps; on the twin they cost up to 0.1 success per cell, docs/benchmarks.md). `DeployLimits` passes
every action through the same `SafetyLayer` the deploy loop uses (twist mode: rate,
workspace, hand and angular speed, joint velocity and limits predicted through the
Jacobian), and the env executes what the real arm would be sent. The policy's own action
is what the learner stores: the limits are part of the environment's dynamics.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from robolearn.config import CONFIG_DIR
from robolearn.deploy.safety import ArmReading, SafetyLayer, SafetyLimits
from robolearn.spec import STATE_SLICES
from robolearn.sims.backend import CONTROL_DT

SHIPPED = "shipped"  # each robot's configs/deploy/<robot>.yaml


def deploy_limits_for(robot: str, setting: str) -> SafetyLimits | None:
    """`setting`: "" (none), "shipped" (the robot's own deploy YAML) or the path of a deploy
    YAML whose `safety:` block applies to every robot."""
    if not setting:
        return None
    path = CONFIG_DIR / "deploy" / f"{robot}.yaml" if setting == SHIPPED else Path(setting)
    if not path.is_file():
        raise ValueError(f"deploy_limits={setting}: no such file {path} (allowed: '', {SHIPPED}, a deploy YAML)")
    try:
        block = OmegaConf.load(path).get("safety")
        if block is None:
            raise ValueError(f"deploy_limits={setting}: {path} has no safety: block")
        limits: SafetyLimits = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(SafetyLimits), block))
        limits.validate()
    except (OmegaConfBaseException, ValueError) as err:
        raise ValueError(f"deploy_limits={setting}: {path}: {' '.join(str(err).split())}") from None
    return limits


class DeployLimits(gym.Wrapper):
    def __init__(self, env: gym.Env, limits: SafetyLimits):
        super().__init__(env)
        base = env.unwrapped
        self.sim, spec = base.sim, base.robot
        low, high = self.sim.arm_limits()
        self.layer = SafetyLayer(limits, spec.max_pos_step, spec.max_rot_step, CONTROL_DT, low, high)
        self.tcp_pos = np.zeros(3)

    def reset(self, **kwargs: Any) -> tuple[Any, dict]:
        obs, info = self.env.reset(**kwargs)
        self.layer.reset()
        self.tcp_pos = np.asarray(obs["state"][STATE_SLICES["tcp_pos"]], dtype=np.float64)
        return obs, info

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict]:
        arm = ArmReading(self.tcp_pos, self.sim.arm_positions(), self.sim.tcp_jacobian())
        decision = self.layer.filter(action, arm, now=0.0)
        obs, reward, terminated, truncated, info = self.env.step(decision.action.astype(np.float32))
        self.tcp_pos = np.asarray(obs["state"][STATE_SLICES["tcp_pos"]], dtype=np.float64)
        info["safety_interventions"] = decision.interventions
        return obs, reward, terminated, truncated, info
