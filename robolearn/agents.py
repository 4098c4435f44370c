"""Building learners and the checkpoint payload: what `train`, `fleet`, `bc`, `eval` and `deploy` share."""
from __future__ import annotations

import torch

from robolearn.envs import task_spaces
from robolearn.learners import Agent
from robolearn.learners.bc import BC, BCConfig
from robolearn.learners.ppo import PPO, PPOConfig
from robolearn.learners.sac import SAC, SACConfig
from robolearn.policies import PolicyConfig
from robolearn.spec import ACTION_DIM
from robolearn.sims.randomization import ADR
from robolearn.vocab import Vocabulary

CHECKPOINT_NAME = "checkpoint.pt"
ALGOS = {"sac": (SAC, SACConfig), "ppo": (PPO, PPOConfig)}  # what `robolearn train` runs
LEARNERS = ALGOS | {"bc": (BC, BCConfig)}  # what a checkpoint may hold (`robolearn bc` writes bc)


def make_agent(policy: PolicyConfig, algo: SACConfig | PPOConfig | BCConfig, vocab: Vocabulary,
               device: torch.device | str = "cpu") -> Agent:
    """A learner with one embedding row (temperature, head) per task and robot of `vocab`;
    it keeps `vocab` as `agent.vocab`, for everything that maps names to ids."""
    learner, _ = LEARNERS[algo.name]
    agent = learner(policy, algo, vocab.obs_dim, ACTION_DIM, len(vocab.tasks), len(vocab.robots),
                    device=torch.device(device), task_spaces=task_spaces(vocab.tasks))
    agent.vocab = vocab
    return agent


def agent_from_checkpoint(data: dict, device: torch.device | str = "cpu", vocab: Vocabulary | None = None) -> Agent:
    """The learner a checkpoint holds, on `device` whatever device it was saved from. With a
    larger `vocab` (adaptation: the checkpoint's names first), the new tasks and robots get
    fresh rows and the optimizers start afresh."""
    cfg = data["config"]
    _, algo_cfg = LEARNERS[cfg["algo"]["name"]]
    saved = Vocabulary.from_dict(data["vocab"])
    agent = make_agent(PolicyConfig(**cfg["policy"]), algo_cfg(**cfg["algo"]), vocab or saved, device)
    if vocab is None or vocab == saved:
        agent.load_state_dict(data["learner"])
        return agent
    fresh = agent.state_dict()  # its optimizers' state is empty: they start afresh
    agent.load_state_dict({key: fresh[key] if key.endswith("_opt") else grow_rows(value, fresh[key], key)
                           for key, value in data["learner"].items()})
    return agent


def grow_rows(old: object, fresh: object, where: str) -> object:
    """`old` weights with room for more tasks or robots: a tensor whose first dimension grew
    keeps its old rows and takes the rest from `fresh` (its new initialisation)."""
    if isinstance(old, dict):
        return {key: grow_rows(value, fresh[key], f"{where}.{key}") for key, value in old.items()}
    if not isinstance(old, torch.Tensor) or old.shape == fresh.shape:
        return old
    if old.shape[1:] != fresh.shape[1:] or old.shape[0] > fresh.shape[0]:
        raise ValueError(f"adapt_from: {where} has shape {tuple(old.shape)}, cannot grow to {tuple(fresh.shape)}")
    return torch.cat([old, fresh[old.shape[0]:]])


def checkpoint_payload(config: dict, agent: Agent, tasks: list[str], robots: list[str], backend: str, env_steps: int,
                       table: dict[tuple[str, str], float], adr: ADR | None = None, adaptation: dict | None = None,
                       **extra: object) -> dict:
    """What a training checkpoint holds (robolearn/checkpoint.py): `eval`, `deploy` and `resume` need nothing else."""
    return {"config": config, "learner": agent.state_dict(), "vocab": agent.vocab.as_dict(), "tasks": tasks,
            "robots": robots, "backend": backend, "env_steps": env_steps, "eval": {f"{t}/{r}": s for (t, r), s in table.items()},
            "adr": adr.state_dict() if adr else None, "adaptation": adaptation} | extra
