"""`robolearn bc`: behaviour cloning from episode files into a checkpoint that `robolearn eval` reads.

    robolearn bc data=[demos.hdf5] policy=mlp|moe algo.model=mlp|chunk algo.steps=4000 out=runs/bc

Config: `configs/bc.yaml` (Hydra; `policy` group shared with training, `algo` is BCConfig).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from tqdm import tqdm

from demos.episodes import Episode, read_episodes, split_names
from robolearn.agents import CHECKPOINT_NAME
from robolearn.checkpoint import save_checkpoint
from robolearn.config import LoggerConfig, compose_config
from robolearn.device import resolve_device
from robolearn.envs import task_ids
from robolearn.evaluate import evaluate, format_success
from robolearn.learners.bc import BC, BCConfig
from robolearn.logger import Logger
from robolearn.policies import PolicyConfig
from robolearn.spec import ACTION_DIM
from sims.backend import BACKENDS
from sims.robots import ROBOTS
from sims.tasks import TASKS



@dataclass
class BCRunConfig:
    data: list[str] = field(default_factory=list)  # episode files
    split: str | None = None  # a robomimic filter key (mask/<split>), e.g. train
    max_demos: int = 0  # per file, the first N demos (0: all)
    skip_bad: bool = False  # leave out demos that fail validation (listed in a warning) instead of refusing the file
    labels: str = "executed"  # executed: the recorded actions | expert: a scripted expert's noise-free ones (DART)
    out: str | None = None  # default: runs/bc-<date-time>
    seed: int = 0
    threads: int = 2
    device: str = "auto"  # auto (a GPU when there is one) | cpu | cuda | cuda:<index>
    eval_episodes: int = 20  # after training, on each task x robot of the data (0: skip)
    eval_backend: str | None = None  # default: the data's backend
    policy: PolicyConfig = field(default_factory=lambda: PolicyConfig(kind="mlp"))
    algo: BCConfig = field(default_factory=BCConfig)
    logger: LoggerConfig = field(default_factory=lambda: LoggerConfig(kind="none"))


ConfigStore.instance().store(name="bc_schema", node=BCRunConfig)


def compose_bc(overrides: list[str]) -> BCRunConfig:
    return OmegaConf.to_object(compose_config("bc", BCRunConfig, overrides))  # type: ignore[return-value]


def load_demos(cfg: BCRunConfig) -> list[Episode]:
    if not cfg.data:
        raise ValueError("data=[file.hdf5,...] is required")
    episodes = []
    for path in cfg.data:
        names = split_names(path, cfg.split) if cfg.split else None
        loaded = read_episodes(path, names, skip_bad=cfg.skip_bad)
        episodes += loaded[:cfg.max_demos] if cfg.max_demos > 0 else loaded
    if not episodes:
        raise ValueError(f"data={cfg.data}: no demos")
    for ep in episodes:
        if ep.meta.get("task") not in TASKS or ep.meta.get("robot") not in ROBOTS:
            raise ValueError(f"{ep.name}: task {ep.meta.get('task')!r} / robot {ep.meta.get('robot')!r} is not in this "
                             f"suite (tasks: {', '.join(TASKS)}; robots: {', '.join(ROBOTS)})")
    return episodes


LABELS = ("executed", "expert")


def build_dataset(episodes: list[Episode], horizon: int, labels: str = "executed") -> dict[str, torch.Tensor]:
    """Per step: observation, ids, the next `horizon` action labels (padded with the last one
    past the episode's end) and the mask of the real ones."""
    if labels not in LABELS:
        raise ValueError(f"labels={labels!r}; allowed: {', '.join(LABELS)}")
    ids = task_ids(list(TASKS))
    obs, task, robot, actions, mask = [], [], [], [], []
    for ep in episodes:
        n = ep.length
        target = ep.actions if labels == "executed" else ep.action_labels
        if target is None:
            raise ValueError(f"labels=expert: {ep.meta.get('task')}/{ep.meta.get('robot')} {ep.name} has no action_labels "
                             f"(only the scripted device records them)")
        padded = np.concatenate([target, np.repeat(target[-1:], horizon - 1, axis=0)])
        index = np.arange(n)[:, None] + np.arange(horizon)[None]
        obs.append(ep.states_obs)
        actions.append(padded[index])
        mask.append((index < n).astype(np.float32))
        task.append(np.full(n, ids[ep.meta["task"]]))
        robot.append(np.full(n, ROBOTS.index(ep.meta["robot"])))
    return {"obs": torch.as_tensor(np.concatenate(obs), dtype=torch.float32),
            "actions": torch.as_tensor(np.concatenate(actions), dtype=torch.float32),
            "mask": torch.as_tensor(np.concatenate(mask)), "task": torch.as_tensor(np.concatenate(task)),
            "robot": torch.as_tensor(np.concatenate(robot))}


def train_bc(cfg: BCRunConfig) -> Path:
    from robolearn.envs import N_ROBOT_IDS, N_TASK_IDS
    from robolearn.spec import STATE_DIM

    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    episodes = load_demos(cfg)
    agent = BC(cfg.policy, cfg.algo, STATE_DIM, ACTION_DIM, N_TASK_IDS, N_ROBOT_IDS, device)
    data = build_dataset(episodes, agent.horizon, cfg.labels)
    agent.fit_normalizers(data["obs"].numpy(), data["actions"][:, 0].numpy())
    data = {k: v.to(device) for k, v in data.items()}  # the whole dataset on the device: no copy per batch
    out = Path(cfg.out or f"runs/bc-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    config = OmegaConf.to_container(OmegaConf.structured(cfg))
    logger = Logger(cfg.logger.kind, out, cfg.logger.project, config)
    rng = np.random.default_rng(cfg.seed)
    n = len(data["obs"])
    bar = tqdm(range(cfg.algo.steps), desc=f"bc ({len(episodes)} demos, {n} steps)", unit="update", mininterval=1.0)
    for step in bar:
        index = torch.from_numpy(rng.integers(0, n, min(cfg.algo.batch_size, n))).to(device)
        batch = {k: v[index] for k, v in data.items()}
        metrics = agent.update(batch)
        if step % 200 == 0:
            bar.set_postfix_str(f"loss={metrics['loss/bc']:.4f}", refresh=False)
            logger.log({f"train/{k}": v for k, v in metrics.items()}, step)
    bar.close()
    tasks = list(dict.fromkeys(ep.meta["task"] for ep in episodes))
    robots = list(dict.fromkeys(ep.meta["robot"] for ep in episodes))
    backends = list(dict.fromkeys(ep.meta["backend"] for ep in episodes))
    backend = cfg.eval_backend or (backends[0] if backends[0] in BACKENDS else "mujoco")
    table = {}
    if cfg.eval_episodes > 0:
        table = evaluate(agent, tasks, robots, backend, cfg.eval_episodes)
        logger.log({f"eval/{t}/{r}/success": s for (t, r), s in table.items()}, cfg.algo.steps)
        print(format_success(table, f"bc eval success ({backend}, {cfg.eval_episodes} episodes)"))
    logger.close()
    path = save_checkpoint(out / CHECKPOINT_NAME, {
        "config": config, "learner": agent.state_dict(), "tasks": tasks, "robots": robots, "backend": backend,
        "env_steps": 0, "eval": {f"{t}/{r}": s for (t, r), s in table.items()}, "adr": None,
        "bc": {"data": list(cfg.data), "demos": [f"{ep.meta.get('task')}/{ep.meta.get('robot')}:{ep.name}" for ep in episodes]}})
    print(f"checkpoint: {path}")
    return path
