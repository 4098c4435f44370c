"""Multitask training in one process: one env per task x robot, one shared policy.

Each iteration steps every env once with a single batched policy forward, stores the
transitions, and runs `updates_per_step` gradient steps per env step. Periodic
deterministic evaluation writes the checkpoint (one file, see robolearn/checkpoint.py).
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from robolearn.adapt import prepare_adaptation
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.config import TrainConfig
from robolearn.envs import N_ROBOT_IDS, N_TASK_IDS, check_names, combos_for, make_env, task_ids
from robolearn.evaluate import evaluate, format_success
from robolearn.learners.replay import ReplayBuffer
from robolearn.learners.sac import SAC, SACConfig
from robolearn.logger import Logger
from robolearn.policies import PolicyConfig
from robolearn.spec import ACTION_DIM, STATE_DIM

CHECKPOINT_NAME = "checkpoint.pt"
LOSS_LOG_EVERY = 200  # gradient steps between loss logs


def make_agent(policy: PolicyConfig, algo: SACConfig) -> SAC:
    # Embeddings and temperatures are indexed by the global task and robot ids, so a
    # checkpoint can later be trained on tasks it has not seen yet.
    return SAC(policy, algo, STATE_DIM, ACTION_DIM, N_TASK_IDS, N_ROBOT_IDS)


def agent_from_checkpoint(data: dict) -> SAC:
    cfg = data["config"]
    agent = make_agent(PolicyConfig(**cfg["policy"]), SACConfig(**cfg["algo"]))
    agent.load_state_dict(data["learner"])
    return agent


def routing_matrix(agent: SAC, buffer: ReplayBuffer, n_tasks: int, samples: int = 2048) -> np.ndarray | None:
    """Fraction of each task's routing decisions (first MoE layer) that go to each expert."""
    if buffer.size == 0:
        return None
    idx = np.random.default_rng(0).integers(0, buffer.size, samples)
    routes = agent.routes(buffer.obs[idx], buffer.task[idx], buffer.robot[idx])
    if not routes:
        return None
    chosen = routes[0].numpy()
    matrix = np.zeros((n_tasks, agent.actor.net.layers[0].n_experts))
    for task, experts in zip(buffer.task[idx], chosen):
        np.add.at(matrix[task], experts, 1.0)
    return matrix / np.maximum(matrix.sum(1, keepdims=True), 1.0)


def train(cfg: TrainConfig) -> Path:
    check_names(cfg.tasks, cfg.robots, cfg.backend)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    combos = combos_for(cfg.tasks, cfg.robots)

    agent, env_steps, known_tasks = make_agent(cfg.policy, cfg.algo), 0, []
    if cfg.resume and cfg.adapt_from:
        raise ValueError("resume= and adapt_from= exclude each other")
    if cfg.resume:
        data = load_checkpoint(cfg.resume)
        agent = agent_from_checkpoint(data)
        env_steps = int(data["env_steps"])
        if env_steps >= cfg.total_steps:
            raise ValueError(f"total_steps={cfg.total_steps}: the checkpoint is already at {env_steps} env steps")
    if cfg.adapt_from:
        data = load_checkpoint(cfg.adapt_from)
        agent, known_tasks = agent_from_checkpoint(data), list(data["tasks"])
        new_tasks = [t for t in cfg.tasks if t not in known_tasks]
        if not new_tasks:
            raise ValueError(f"adapt_from: every task in tasks={cfg.tasks} is already in the checkpoint")
        prepare_adaptation(agent, [task_ids(known_tasks + cfg.tasks)[t] for t in new_tasks], cfg.add_experts)
        cfg.policy = PolicyConfig(**data["config"]["policy"])
        cfg.policy.n_experts += cfg.add_experts
    # The checkpoint covers every task the policy knows: evaluation and `check` see them all.
    all_tasks = list(dict.fromkeys(known_tasks + cfg.tasks))
    envs = [make_env(t, r, cfg.backend, all_tasks, cfg.env_kwargs) for t, r in combos]
    config = OmegaConf.to_container(OmegaConf.structured(cfg))
    logger = Logger(cfg.logger.kind, out, cfg.logger.project, config)
    buffer = ReplayBuffer(min(cfg.algo.buffer_size, cfg.total_steps + len(envs)), STATE_DIM, ACTION_DIM)
    ckpt_path = out / CHECKPOINT_NAME

    def save(table: dict[tuple[str, str], float] | None) -> None:
        save_checkpoint(ckpt_path, {"config": config, "learner": agent.state_dict(), "tasks": all_tasks,
                                    "robots": cfg.robots, "backend": cfg.backend, "env_steps": env_steps,
                                    "eval": {f"{t}/{r}": s for (t, r), s in (table or {}).items()}, "adr": None})

    obs = [env.reset(seed=cfg.seed + 1000 * i)[0] for i, env in enumerate(envs)]
    env_task = np.array([o["task_id"] for o in obs])
    env_robot = np.array([o["robot_id"] for o in obs])
    ep_success, ep_return = np.zeros(len(envs), bool), np.zeros(len(envs))
    recent = [deque(maxlen=20) for _ in envs]
    owed_updates, next_eval, next_loss_log = 0.0, env_steps + cfg.eval_every, agent.updates
    # A resumed run has no replay: it refills with the policy's own actions, not random ones.
    warmup_until = env_steps + (cfg.algo.batch_size if cfg.resume else cfg.algo.warmup_steps)
    table = None
    started, start_steps, start_updates = time.perf_counter(), env_steps, agent.updates
    bar = tqdm(total=cfg.total_steps, initial=min(env_steps, cfg.total_steps), unit="step", desc="train",
               mininterval=1.0)
    while env_steps < cfg.total_steps:
        states = np.stack([o["state"] for o in obs])
        if env_steps < warmup_until and not cfg.resume:
            actions = rng.uniform(-1, 1, (len(envs), ACTION_DIM)).astype(np.float32)
        else:
            actions = agent.act(states, env_task, env_robot)
        for i, env in enumerate(envs):
            next_obs, reward, terminated, truncated, info = env.step(actions[i])
            buffer.add(states[i:i + 1], actions[i:i + 1], np.array([reward]), next_obs["state"][None],
                       np.array([float(terminated)]), env_task[i:i + 1], env_robot[i:i + 1])
            ep_success[i] |= bool(info["success"])
            ep_return[i] += reward
            if terminated or truncated:
                recent[i].append(ep_success[i])
                task, robot = combos[i]
                logger.log({f"train/{task}/{robot}/success": float(ep_success[i]),
                            f"train/{task}/{robot}/return": ep_return[i]}, env_steps)
                ep_success[i], ep_return[i] = False, 0.0
                next_obs, _ = env.reset()
            obs[i] = next_obs
        if not cfg.adapt_from:  # adapting: old tasks must see exactly the inputs they were trained on
            agent.norm.update(torch.from_numpy(states))
        env_steps += len(envs)
        bar.update(len(envs))
        if env_steps >= warmup_until and buffer.size >= cfg.algo.batch_size:
            owed_updates += len(envs) * cfg.algo.updates_per_step
            while owed_updates >= 1.0:
                metrics = agent.update(buffer.sample(cfg.algo.batch_size, rng))
                owed_updates -= 1.0
            if agent.updates >= next_loss_log:
                next_loss_log += LOSS_LOG_EVERY
                logger.log({f"train/{k}": v for k, v in metrics.items()}, env_steps)
        bar.set_postfix_str(" ".join(f"{t}/{r}={np.mean(q) if q else 0:.2f}" for (t, r), q in zip(combos, recent)),
                            refresh=False)
        if env_steps >= next_eval or env_steps >= cfg.total_steps:
            next_eval += cfg.eval_every
            table = evaluate(agent, all_tasks, cfg.robots, cfg.backend, cfg.eval_episodes, env_kwargs=cfg.env_kwargs)
            logger.log({f"eval/{t}/{r}/success": s for (t, r), s in table.items()}
                       | {"eval/mean_success": float(np.mean(list(table.values())))}, env_steps)
            matrix = routing_matrix(agent, buffer, N_TASK_IDS)
            if matrix is not None:
                used = matrix[sorted(set(env_task.tolist()))]
                logger.log({f"experts/utilization/{e}": float(u) for e, u in enumerate(used.mean(0))}, env_steps)
                logger.heatmap("experts/routing_task_x_expert", used, env_steps)
            save(table)
            bar.write(f"[{env_steps} steps] " + " ".join(f"{t}/{r}={s:.2f}" for (t, r), s in table.items()))
    bar.close()
    elapsed = time.perf_counter() - started
    steps_done, updates_done = env_steps - start_steps, agent.updates - start_updates
    print(f"throughput: {steps_done / elapsed:.1f} env steps/s, {updates_done / elapsed:.1f} gradient steps/s "
          f"({elapsed:.0f} s wall, evaluation included)")
    for env in envs:
        env.close()
    logger.close()
    print(format_success(table, f"eval success ({cfg.backend}, {cfg.eval_episodes} episodes)"))
    print(f"checkpoint: {ckpt_path}")
    return ckpt_path

