"""Building learners and the checkpoint payload: what `train`, `fleet`, `bc`, `eval` and `deploy` share."""
from __future__ import annotations

import torch

from robolearn.envs import N_ROBOT_IDS, N_TASK_IDS
from robolearn.learners import Agent
from robolearn.learners.bc import BC, BCConfig
from robolearn.learners.ppo import PPO, PPOConfig
from robolearn.learners.sac import SAC, SACConfig
from robolearn.policies import PolicyConfig
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.sims.randomization import ADR

CHECKPOINT_NAME = "checkpoint.pt"
ALGOS = {"sac": (SAC, SACConfig), "ppo": (PPO, PPOConfig)}  # what `robolearn train` runs
LEARNERS = ALGOS | {"bc": (BC, BCConfig)}  # what a checkpoint may hold (`robolearn bc` writes bc)


def make_agent(policy: PolicyConfig, algo: SACConfig | PPOConfig | BCConfig,
               device: torch.device | str = "cpu") -> Agent:
    # Embeddings and temperatures are indexed by global task and robot ids, so a
    # checkpoint can later be trained on tasks it has not seen yet.
    learner, _ = LEARNERS[algo.name]
    return learner(policy, algo, STATE_DIM, ACTION_DIM, N_TASK_IDS, N_ROBOT_IDS, device=torch.device(device))


def agent_from_checkpoint(data: dict, device: torch.device | str = "cpu") -> Agent:
    """The learner a checkpoint holds, on `device` whatever device it was saved from."""
    cfg = data["config"]
    _, algo_cfg = LEARNERS[cfg["algo"]["name"]]
    agent = make_agent(PolicyConfig(**cfg["policy"]), algo_cfg(**cfg["algo"]), device)
    agent.load_state_dict(data["learner"])
    return agent


def checkpoint_payload(config: dict, agent: Agent, tasks: list[str], robots: list[str], backend: str, env_steps: int,
                       table: dict[tuple[str, str], float], adr: ADR | None = None, adaptation: dict | None = None,
                       **extra: object) -> dict:
    """What a training checkpoint holds (robolearn/checkpoint.py): `eval`, `deploy` and `resume` need nothing else."""
    return {"config": config, "learner": agent.state_dict(), "tasks": tasks, "robots": robots, "backend": backend,
            "env_steps": env_steps, "eval": {f"{t}/{r}": s for (t, r), s in table.items()},
            "adr": adr.state_dict() if adr else None, "adaptation": adaptation} | extra
