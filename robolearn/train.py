"""Multitask training on one machine: `num_envs` envs per task x robot, one shared policy.

Every iteration acts for all envs with a single batched policy forward and hands the
actions to the envs' worker processes; SAC then runs the gradient steps it owes
(`updates_per_step` per env step) on the replay buffer, while the envs step when a core is
free for them (physics and learning overlap) or after they stepped on a machine without one.
PPO collects `rollout_steps` per env and then updates. Periodic deterministic evaluation
writes the checkpoint (one file, see robolearn/checkpoint.py).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from robolearn.adapt import check_adaptable, freeze_old_tasks, prepare_adaptation
from robolearn.adr_report import report_when_due
from robolearn.agents import ALGOS, CHECKPOINT_NAME, agent_from_checkpoint, checkpoint_payload, make_agent
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.config import TrainConfig
from robolearn.device import resolve_device
from robolearn.env_runner import EnvRunner, env_pool
from robolearn.deploy.sim_limits import deploy_limits_for
from robolearn.envs import check_names, combos_for, expand_tasks, is_external, is_metaworld, make_env, run_vocabulary
from robolearn.evaluate import evaluate, format_success, seeing_kwargs
from robolearn.expert_demos import check_demo_settings, expert_replay, has_expert
from robolearn.learners import Agent
from robolearn.learners.ppo import PPO
from robolearn.learners.off_policy import OffPolicyCore
from robolearn.learners.replay import ReplayBuffer
from robolearn.learners.sac import SAC, SACConfig
from robolearn.logger import Logger
from robolearn.policies import PolicyConfig
from robolearn.policies.vision import check_inputs
from robolearn.sims.cameras import CAMERAS, check_cameras
from robolearn.ppo_rollout import ROLLOUT_KEYS, collect_rollout
from robolearn.spec import ACTION_DIM
from robolearn.sims.randomization import ADR, Randomizer, training_randomizer
from robolearn.vocab import Vocabulary

MAX_UPDATES_PER_STEP = 64.0


def routing_matrix(agent: Agent, *probe: np.ndarray | dict[str, np.ndarray]) -> np.ndarray | None:
    """Fraction of each task's routing decisions (first MoE layer) that go to each expert;
    `probe`: (states, task ids, robot ids), and camera frames for a policy that sees."""
    routes = agent.routes(*probe)
    task = probe[1]
    if not routes:
        return None
    matrix = np.zeros((len(agent.vocab.tasks), agent.actor.net.layers[0].n_experts))
    for t, experts in zip(task, routes[0].numpy()):
        np.add.at(matrix[t], experts, 1.0)
    return matrix / np.maximum(matrix.sum(1, keepdims=True), 1.0)


def check_update_settings(algo: SACConfig) -> None:
    if not 0 < algo.updates_per_step <= MAX_UPDATES_PER_STEP:
        raise ValueError(f"algo.updates_per_step={algo.updates_per_step}: must be in (0, {MAX_UPDATES_PER_STEP:g}]")
    if not 1 <= algo.batch_size <= algo.buffer_size:
        raise ValueError(f"algo.batch_size={algo.batch_size}: must be in 1..algo.buffer_size ({algo.buffer_size})")


def check_vision_settings(cfg: TrainConfig) -> None:
    """`inputs` and `cameras` go to the learner (algo.inputs, algo.cameras) once checked."""
    check_inputs(cfg.inputs)
    if isinstance(cfg.algo, SACConfig) and (cfg.algo.inputs != "state" or cfg.algo.cameras):
        raise ValueError("algo.inputs, algo.cameras: set by inputs= and cameras=; pass those instead")
    if cfg.inputs == "state":
        if cfg.cameras:
            raise ValueError(f"cameras={list(cfg.cameras)}: only with inputs=image or inputs=image+proprio")
        return
    if not isinstance(cfg.algo, SACConfig):
        raise ValueError(f"inputs={cfg.inputs}: algo=sac learns from cameras; algo={cfg.algo.name} from states only")
    if not cfg.cameras:
        raise ValueError(f"inputs={cfg.inputs}: name the cameras to see, e.g. cameras=[front] (allowed: "
                         f"{', '.join(CAMERAS)})")
    blind = [t for t in cfg.tasks if is_external(t) or is_metaworld(t)]
    if blind:
        raise ValueError(f"inputs={cfg.inputs}: {', '.join(blind)} has no cameras; the suite's own tasks do")
    cfg.algo.inputs, cfg.algo.cameras = cfg.inputs, list(check_cameras(list(cfg.cameras), "cameras"))


def check_env_settings(cfg: TrainConfig) -> bool:
    """Whether the envs step in worker processes (`env_workers`, null: yes)."""
    if cfg.num_envs < 1:
        raise ValueError(f"num_envs={cfg.num_envs}: must be >= 1 (envs per task x robot)")
    for robot in cfg.robots:
        deploy_limits_for(robot, cfg.deploy_limits)
    return True if cfg.env_workers is None else cfg.env_workers


def check_resumable(cfg: TrainConfig, data: dict) -> None:
    """A resumed run continues with the checkpoint's learner settings; a command line that
    asks for others is refused rather than half-applied."""
    saved = data["config"]["algo"]
    if saved["name"] != cfg.algo.name:
        raise ValueError(f"resume={cfg.resume}: the checkpoint was trained with algo={saved['name']}, not "
                         f"algo={cfg.algo.name}")
    wanted = OmegaConf.to_container(OmegaConf.structured(cfg.algo))
    changed = [f"algo.{k}={wanted[k]} (checkpoint: {saved[k]})" for k in wanted if k in saved and wanted[k] != saved[k]]
    limits = data["config"].get("deploy_limits", "")  # the env's dynamics: part of what the learner learned
    if cfg.deploy_limits != limits:
        changed.append(f"deploy_limits={cfg.deploy_limits!r} (checkpoint: {limits!r})")
    if changed:
        raise ValueError(f"resume={cfg.resume}: {', '.join(changed)}; a resumed run keeps the checkpoint's learner "
                         f"settings: pass the checkpoint's values (or drop the overrides that differ)")


def adapted_agent(cfg: TrainConfig, data: dict, device: torch.device) -> tuple[SAC, dict]:
    """The checkpoint's learner grown by the run's new tasks and robots, and the adaptation
    record: which ids are new and how many experts the old cells use."""
    saved = Vocabulary.from_dict(data["vocab"])
    new_tasks = [t for t in cfg.tasks if t not in saved.tasks]
    if not new_tasks and all(r in saved.robots for r in cfg.robots):
        raise ValueError(f"adapt_from: every task in tasks={cfg.tasks} and robot in robots={cfg.robots} is already "
                         "in the checkpoint")
    if data["config"]["algo"]["name"] != "sac":
        raise ValueError("adapt_from needs a checkpoint trained with algo=sac")
    wanted = run_vocabulary(cfg.tasks, cfg.robots, cfg.env_kwargs)
    vocab = saved.grown(list(wanted.tasks), list(wanted.robots), wanted.obs_dim)
    agent = agent_from_checkpoint(data, device, vocab)
    check_adaptable(agent, cfg.add_experts)
    return agent, {"new_task_ids": [vocab.task_id(t) for t in new_tasks],
                   "new_robot_ids": [vocab.robot_id(r) for r in vocab.robots if r not in saved.robots],
                   "old_experts": agent.actor.net.layers[0].n_experts}


def train(cfg: TrainConfig) -> Path:
    cfg.tasks = expand_tasks(cfg.tasks)
    check_names(cfg.tasks, cfg.robots, cfg.backend)
    if cfg.algo.name not in ALGOS:
        raise ValueError(f"algo={cfg.algo.name!r}; allowed: {', '.join(ALGOS)}")
    if isinstance(cfg.algo, SACConfig):
        check_demo_settings(cfg.algo)
        check_update_settings(cfg.algo)
    check_vision_settings(cfg)
    workers = check_env_settings(cfg)
    device = resolve_device(cfg.device)
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    out = Path(cfg.out or f"runs/{time.strftime('%Y%m%d-%H%M%S')}")

    env_steps, data = 0, None
    adaptation: dict | None = None  # new task and robot ids and old expert count while old tasks stay frozen
    if cfg.resume and cfg.adapt_from:
        raise ValueError("resume= and adapt_from= exclude each other")
    if cfg.resume:
        data = load_checkpoint(cfg.resume)
        check_resumable(cfg, data)
        agent = agent_from_checkpoint(data, device)
        unknown = [f"{t}/{r}" for t, r in combos_for(cfg.tasks, cfg.robots)
                   if t not in agent.vocab.tasks or r not in agent.vocab.robots]
        if unknown:
            raise ValueError(f"resume={cfg.resume}: the checkpoint does not know {', '.join(unknown)}; "
                             "add tasks or robots with adapt_from= instead")
        env_steps = int(data["env_steps"])
        if env_steps >= cfg.total_steps:
            raise ValueError(f"total_steps={cfg.total_steps}: the checkpoint is already at {env_steps} env steps")
        cfg.policy = PolicyConfig(**data["config"]["policy"])  # the weights' own architecture
        adaptation = data.get("adaptation")
        if adaptation:
            freeze_old_tasks(agent, adaptation)
    elif cfg.adapt_from:
        data = load_checkpoint(cfg.adapt_from)
        agent, adaptation = adapted_agent(cfg, data, device)
        cfg.policy = PolicyConfig(**data["config"]["policy"])
        cfg.policy.n_experts += cfg.add_experts
    else:
        agent = make_agent(cfg.policy, cfg.algo, run_vocabulary(cfg.tasks, cfg.robots, cfg.env_kwargs), device)
    # The checkpoint covers every task and robot the policy knows: evaluation and `check` see them all.
    all_tasks = list(agent.vocab.tasks)
    all_robots = list(dict.fromkeys([*(data.get("robots", []) if data else []), *cfg.robots]))
    combos = [combo for combo in combos_for(cfg.tasks, cfg.robots) for _ in range(cfg.num_envs)]
    config = OmegaConf.to_container(OmegaConf.structured(cfg))
    randomizer = training_randomizer(cfg.adr, data if cfg.resume else None)
    out.mkdir(parents=True, exist_ok=True)  # only now: bad settings above leave no empty run folder
    logger = Logger(cfg.logger.kind, out, cfg.logger.project, config)
    adr = randomizer if isinstance(randomizer, ADR) else None
    env_kwargs = seeing_kwargs(agent, cfg.env_kwargs, cfg.tasks)  # a policy that sees: its cameras in every env
    runner = EnvRunner(combos, env_pool(combos, cfg.backend, agent.vocab, env_kwargs, randomizer, workers,
                                        cfg.deploy_limits),
                       cfg.seed, logger)
    if cfg.adapt_from:  # the new tasks' first states pick the experts their new ones copy
        probe = (runner.states, runner.task, runner.robot) + ((runner.images,) if runner.images else ())
        prepare_adaptation(agent, adaptation, cfg.add_experts, probe)
    ckpt_path = out / CHECKPOINT_NAME
    table: dict[tuple[str, str], float] = {}
    next_eval = env_steps + cfg.eval_every
    bar = tqdm(total=cfg.total_steps, initial=min(env_steps, cfg.total_steps), unit="step", desc="train",
               mininterval=1.0)

    saved_at = (-1, -1)  # (env steps, gradient steps) of the last checkpoint
    # Every evaluation so far (the learning curve), carried on by `resume=`.
    history: list[dict] = list(data.get("eval_history", [])) if cfg.resume else []

    def evaluate_and_save(probe: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        nonlocal table, saved_at
        table = evaluate(agent, all_tasks, all_robots, cfg.backend, cfg.eval_episodes, env_kwargs=cfg.env_kwargs,
                         deploy_limits=cfg.deploy_limits)
        history.append({"env_steps": env_steps, "eval": {f"{t}/{r}": s for (t, r), s in table.items()}})
        logger.log({f"eval/{t}/{r}/success": s for (t, r), s in table.items()}
                   | {"eval/mean_success": float(np.mean(list(table.values())))}, env_steps)
        matrix = routing_matrix(agent, *probe())
        if matrix is not None:
            used = matrix[sorted(set(runner.task.tolist()))]
            logger.log({f"experts/utilization/{e}": float(u) for e, u in enumerate(used.mean(0))}, env_steps)
            logger.heatmap("experts/routing_task_x_expert", used, env_steps)
        save_checkpoint(ckpt_path, checkpoint_payload(config, agent, all_tasks, all_robots, cfg.backend, env_steps,
                                                      table, adr, adaptation, eval_history=history))
        saved_at = (env_steps, agent.updates)
        bar.write(f"[{env_steps} steps] " + " ".join(f"{t}/{r}={s:.2f}" for (t, r), s in table.items()))

    def advance(steps: int, probe: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """Count env steps; every `eval_every`, evaluate, log routing over `probe()`'s recent
        (states, task, robot) and save the checkpoint."""
        nonlocal env_steps, next_eval
        if adr:
            report_when_due(adr, logger, out, env_steps, env_steps + steps)
        env_steps += steps
        bar.update(steps)
        bar.set_postfix_str(runner.summary() + (f" adr_H={adr.entropy():.2f}" if adr else ""), refresh=False)
        if env_steps >= next_eval:
            next_eval += cfg.eval_every
            evaluate_and_save(probe)

    started, start_steps, start_updates = time.perf_counter(), env_steps, agent.updates
    if isinstance(agent, SAC):
        demos = expert_transitions(cfg, agent.vocab, randomizer, env_kwargs) if cfg.algo.demo_episodes else None
        probe = sac_loop(cfg, agent, runner, rng, logger, lambda: env_steps, advance, demos)
    else:
        probe = ppo_loop(cfg, agent, runner, rng, logger, lambda: env_steps, advance)
    if saved_at != (env_steps, agent.updates):  # the final weights, evaluated and saved
        evaluate_and_save(probe)
    bar.close()
    elapsed = time.perf_counter() - started
    print(f"throughput: {(env_steps - start_steps) / elapsed:.1f} env steps/s, "
          f"{(agent.updates - start_updates) / elapsed:.1f} gradient steps/s ({elapsed:.0f} s wall, evaluation included)")
    runner.close()
    logger.close()
    print(format_success(table, f"eval success ({cfg.backend}, {cfg.eval_episodes} episodes)"))
    print(f"checkpoint: {ckpt_path}")
    return ckpt_path


def expert_transitions(cfg: TrainConfig, vocab: Vocabulary, randomizer: Randomizer | str,
                       env_kwargs: dict[str, dict]) -> ReplayBuffer | None:
    """`algo.demo_episodes` scripted-expert episodes per task x robot, in envs of their own
    (with the training envs' `env_kwargs`, cameras included)
    (expert steps do not count toward total_steps: every policy compared at a budget gets the same ones).
    Tasks without an expert train from their own experience alone (None: no task has one)."""
    without = [t for t in cfg.tasks if not has_expert(t)]
    if without:
        print(f"demos: no scripted expert for {', '.join(without)}: trained without demos")
    combos = [(t, r) for t, r in combos_for(cfg.tasks, cfg.robots) if has_expert(t)]
    if not combos:
        return None
    envs = [make_env(t, r, cfg.backend, vocab, env_kwargs, dr=randomizer, deploy_limits=cfg.deploy_limits)
            for t, r in combos]
    try:
        return expert_replay(envs, cfg.algo.demo_episodes, cfg.seed, cfg.algo.demo_noise)
    finally:
        for env in envs:
            env.close()


def sac_loop(cfg: TrainConfig, agent: SAC, runner: EnvRunner, rng: np.random.Generator, logger: Logger,
             steps_done: Callable[[], int], advance: Callable, demos: ReplayBuffer | None) -> Callable:
    """Runs to `total_steps`; returns the probe of recent (states, task, robot) for routing stats.
    `demos`: expert transitions mixed into every batch (`algo.demo_ratio`)."""
    n = runner.n
    buffer = ReplayBuffer(min(cfg.algo.buffer_size, cfg.total_steps + n), agent.vocab.obs_dim, ACTION_DIM,
                          agent.cameras, agent.cfg.image_size)
    if demos is not None and not cfg.resume:  # a resumed normalizer has seen them already
        agent.norm.update(torch.from_numpy(demos.obs[:demos.size]), torch.from_numpy(demos.robot[:demos.size]))
    # A resumed run has no replay: it refills with the policy's own actions, not random ones.
    warmup_until = steps_done() + (cfg.algo.batch_size if cfg.resume else cfg.algo.warmup_steps)
    core = OffPolicyCore(agent, buffer, rng, logger, warmup_until, demos, cfg.algo.demo_ratio, demos is not None)
    # Physics overlaps the updates only where a core is free for it: on 2 cores with a 2-thread
    # learner the workers preempted the learner's threads and each update took 20% longer.
    overlap = runner.envs.workers > 0 and (os.cpu_count() or 1) > cfg.threads

    def probe() -> tuple:
        recent = slice(max(0, buffer.size - 2048), buffer.size)
        frames = {camera: f[recent] for camera, f in buffer.images.items()}
        return (buffer.obs[recent], buffer.task[recent], buffer.robot[recent]) + ((frames,) if frames else ())

    while steps_done() < cfg.total_steps:
        states, task, robot = runner.states.copy(), runner.task.copy(), runner.robot.copy()
        images = runner.images  # replaced, not written into, by the next step
        if steps_done() < warmup_until and not cfg.resume:
            actions = rng.uniform(-1, 1, (n, ACTION_DIM)).astype(np.float32)
        else:
            actions = agent.act(states, task, robot, images=images)
        runner.step_async(actions)
        if not overlap:
            reward, terminated, _, next_state = runner.step_wait(steps_done())
        core.run_owed(steps_done())  # on the transitions stored before this step, while the envs step
        if overlap:
            reward, terminated, _, next_state = runner.step_wait(steps_done())
        core.store(states, actions, reward, next_state, terminated.astype(np.float32), task, robot, steps_done() + n,
                   images, runner.next_images)
        advance(n, probe)
    return probe


def ppo_loop(cfg: TrainConfig, agent: PPO, runner: EnvRunner, rng: np.random.Generator, logger: Logger,
             steps_done: Callable[[], int], advance: Callable) -> Callable:
    """Runs to `total_steps`; returns the probe of recent (states, task, robot) for routing stats."""
    n, horizon = runner.n, cfg.algo.rollout_steps
    raw_states: list[np.ndarray] = []

    def probe() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (np.concatenate(raw_states), np.tile(runner.task, len(raw_states)),
                np.tile(runner.robot, len(raw_states)))

    while steps_done() < cfg.total_steps:
        raw_states.clear()
        rollout = collect_rollout(agent, runner, horizon, ROLLOUT_KEYS + ("value",), raw_states, steps_done,
                                  lambda: advance(n, probe))
        last_value = agent.state_value(runner.states, runner.task, runner.robot)
        metrics = agent.update(rollout, last_value, rng)
        agent.norm.update(torch.from_numpy(np.concatenate(raw_states)))
        logger.log({f"train/{k}": v for k, v in metrics.items()}, steps_done())
    return probe
