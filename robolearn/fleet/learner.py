"""One learner fed by many Ray actors (`robolearn fleet`).

The learner keeps one `collect` call in flight per actor. When a batch arrives it is
checked (numbered in order for its actor; policy version within `max_staleness` of the
learner's, else dropped and counted).

SAC: batches go to the replay buffer through the same core as `robolearn train`'s
(robolearn/learners/off_policy.py): `updates_per_step` gradient steps owed per stored
step; actors go back to work at once while that debt is under one round of batches and
wait otherwise, so the update-to-sample ratio holds whichever side is faster (a rate
limiter, as Reverb's). Every `publish_every` updates make a new policy version. PPO: each actor batch is a rollout, trained on as it arrives with
V-trace correcting for the policy that collected it being older (IMPALA), then a new
version. A version is put once into Ray's object store; an actor's next call carries the
reference when the actor lacks it. A crashed actor is restarted by Ray (`max_restarts`)
and its lost batch never arrives. Every actor tells the run's ledger (robolearn/fleet/ledger.py)
what each call has produced while it steps, apart from its batch, so the counters account for
every sample: produced = received + lost with a killed actor + in flight at the end, and
every delivered batch must hold what its call produced (`calls_miscounted` 0). Recorded episode files
(`datasets`) mix into every batch at `dataset_ratio`. Actors are pinned round-robin to the
cluster's nodes (a restart stays on its node; an actor whose node is gone stays down and the
others go on); each batch names its node.

With `adr=adr` the learner owns the one ADR state: every call hands the actor the current
ranges, every batch brings back the episode results at pinned boundaries, which the learner
merges (widening or narrowing ranges), logs, writes to `adr.jsonl` and checkpoints.
"""
from __future__ import annotations

import os
import time
from collections import Counter, defaultdict, deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import OmegaConf
from tqdm import tqdm

from robolearn.adr_report import report_when_due
from robolearn.agents import CHECKPOINT_NAME, agent_from_checkpoint, checkpoint_payload, make_agent
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.device import resolve_device
from robolearn.deploy.sim_limits import deploy_limits_for
from robolearn.envs import check_names, expand_tasks, run_vocabulary
from robolearn.evaluate import evaluate, format_success
from robolearn.fleet.actor import TRANSITION_KEYS, ExperienceActor
from robolearn.fleet.config import FleetConfig
from robolearn.fleet.ledger import CallKey, ProductionLedger, settle
from robolearn.fleet.pool import dataset_robots, load_pooled, other_robots
from robolearn.learners.off_policy import OffPolicyCore
from robolearn.learners.replay import ReplayBuffer
from robolearn.learners.ppo import PPO, vtrace
from robolearn.learners.sac import SAC
from robolearn.logger import Logger
from robolearn.spec import ACTION_DIM
from robolearn.sims.robots import ROBOTS
from robolearn.sims.backend import BACKENDS
from robolearn.sims.randomization import ADR, training_randomizer

REPLAY_NAME = "replay.npz"
LEDGER_COUNTERS = ("samples_produced", "episodes_produced", "samples_lost_in_flight", "samples_abandoned",
                   "calls_miscounted")
COUNTERS = ("samples_produced", "samples_received", "samples_trained", "samples_dropped_stale", "episodes_produced",
            "episodes_received", "batches", "actor_restarts", "failed_calls", "samples_lost_in_flight",
            "samples_abandoned", "calls_miscounted")
KILL_POLL_S = 1.0  # fault injection (`kill_actor_at`) waits at most this long for actor 0 to be mid-call
RETRY_DELAY = 0.5  # s before calling an actor that just failed again


def actor_layout(cfg: FleetConfig) -> list[tuple[str, str]]:
    """(robot, backend) per actor: robots cycle fastest, so any 3 consecutive actors cover all three arms."""
    backends = cfg.backends or [cfg.backend]
    return [(cfg.robots[i % len(cfg.robots)], backends[(i // len(cfg.robots)) % len(backends)])
            for i in range(cfg.actors)]


def check_fleet(cfg: FleetConfig) -> None:
    cfg.tasks = expand_tasks(cfg.tasks)
    check_names(cfg.tasks, cfg.robots, cfg.backend)
    for backend in cfg.backends:
        if backend not in BACKENDS:
            raise ValueError(f"backends: unknown {backend!r}; allowed: {', '.join(BACKENDS)}")
    if cfg.algo.name not in ("sac", "ppo"):
        raise ValueError(f"algo={cfg.algo.name!r}; allowed: sac, ppo")
    if cfg.algo.name == "ppo" and (cfg.ros_actors or cfg.datasets):
        raise ValueError("ros_actors and datasets feed the off-policy learner: use algo=sac")
    if cfg.actors < 0 or cfg.actors + len(cfg.ros_actors) < 1:
        raise ValueError(f"actors={cfg.actors}: need at least one actor (simulated, or in ros_actors)")
    for robot in cfg.robots:
        deploy_limits_for(robot, cfg.deploy_limits)
    if not 0.0 <= cfg.dataset_ratio < 1.0 or (cfg.dataset_ratio > 0 and not cfg.datasets):
        raise ValueError(f"dataset_ratio={cfg.dataset_ratio} must be in [0, 1) and needs datasets=[...] when > 0")
    for robot, path in other_robots(cfg.datasets).items():
        if not getattr(cfg.algo, "per_robot_norm", False):
            raise ValueError(f"datasets: {path} holds robot {robot!r} in its own conventions; pooling it needs "
                             "algo.per_robot_norm=true (each robot's observations normalized by its own statistics)")
    # Settings of `robolearn train` that the fleet does not implement: refused, not ignored.
    unsupported = {"num_envs": cfg.num_envs != 1, "env_workers": cfg.env_workers is not None,
                   "adapt_from": cfg.adapt_from is not None,
                   "algo.demo_episodes": getattr(cfg.algo, "demo_episodes", 0) > 0,
                   "algo.inputs": getattr(cfg.algo, "inputs", "state") != "state"}
    for name, set_ in unsupported.items():
        if set_:
            raise ValueError(f"{name}: not supported by the fleet (each actor steps its own envs; use "
                             f"`robolearn train` for it)")


def placement(nodes: list[str], index: int) -> Any:
    """Actor `index` on the cluster's `nodes` in turn. Ray's SPREAD and soft affinity both put
    CPU-less actors next to the driver (measured on a two-node cluster)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(nodes[index % len(nodes)], soft=False)


class Fleet:
    def __init__(self, cfg: FleetConfig):
        import ray

        check_fleet(cfg)
        # Pooled episodes may come from any of the suite's robots, not only the run's, and from
        # other labs' robots (imported in their own conventions, demos/foreign.py).
        robots = list(dict.fromkeys([*cfg.robots, *ROBOTS, *dataset_robots(cfg.datasets)])) if cfg.datasets \
            else list(cfg.robots)
        vocab = run_vocabulary(cfg.tasks, robots, cfg.env_kwargs)
        # Datasets are read (and validated) before anything is written.
        self.pooled = load_pooled(cfg.datasets, cfg.tasks, vocab, cfg.skip_bad) if cfg.datasets else None
        self.device = resolve_device(cfg.device)  # the learner's; actors act on their CPUs
        self.ray, self.cfg = ray, cfg
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.out = Path(cfg.out or f"runs/fleet-{time.strftime('%Y%m%d-%H%M%S')}")
        self.out.mkdir(parents=True, exist_ok=True)
        self.config = OmegaConf.to_container(OmegaConf.structured(cfg))
        self.agent: SAC | PPO = make_agent(cfg.policy, cfg.algo, vocab, self.device)  # type: ignore[assignment]
        self.off_policy = isinstance(self.agent, SAC)
        self.env_steps, self.counters = 0, Counter({k: 0 for k in COUNTERS})
        self.buffer = ReplayBuffer(min(cfg.algo.buffer_size, cfg.total_steps + cfg.actors * cfg.chunk_steps * 2),
                                   vocab.obs_dim, ACTION_DIM) if self.off_policy else None
        randomizer = training_randomizer(cfg.adr)
        self.adr: ADR | None = randomizer if isinstance(randomizer, ADR) else None
        if cfg.resume:
            self._resume(cfg.resume)
        if self.pooled is not None and not cfg.resume:  # a resumed normalizer has seen it already
            self.agent.norm.update(torch.from_numpy(self.pooled.obs[:self.pooled.size]),
                                   torch.from_numpy(self.pooled.robot[:self.pooled.size]))
        self.logger = Logger(cfg.logger.kind, self.out, cfg.logger.project, self.config)
        self.version = 0
        self.delivered: dict[tuple[int, str], int] = {}  # batches received per (actor, incarnation)
        self.down: set[int] = set()  # actors whose last call failed and that have not delivered since
        self.delivered_calls: dict[CallKey, tuple[int, int]] = {}  # (samples, episodes) of every batch received
        self.ledger: Any = None  # the run's ProductionLedger actor
        # The ledger's counters restart with each run; a resumed run adds them to the checkpoint's.
        self.ledger_base = {k: self.counters[k] for k in LEDGER_COUNTERS}
        self.staleness: Counter[int] = Counter()
        self.robot_success: dict[str, deque] = defaultdict(lambda: deque(maxlen=20))
        self.actor_samples: Counter[int] = Counter()
        self.actor_seconds: Counter[int] = Counter()
        self.actor_nodes: dict[int, str] = {}
        self.table: dict[tuple[str, str], float] = {}

    def _resume(self, path: str) -> None:
        data = load_checkpoint(path)
        if data["config"]["algo"]["name"] != self.cfg.algo.name:
            raise ValueError(f"resume={path}: a {data['config']['algo']['name']} checkpoint, this run is "
                             f"algo={self.cfg.algo.name}")
        wanted = self.agent.vocab
        self.agent = agent_from_checkpoint(data, self.device)  # type: ignore[assignment]
        if self.agent.vocab != wanted:
            raise ValueError(f"resume={path}: the checkpoint's tasks and robots {self.agent.vocab.as_dict()} are not "
                             f"this run's {wanted.as_dict()}")
        self.env_steps = int(data["env_steps"])
        self.counters.update(data.get("fleet", {}).get("counters", {}))
        if self.adr is not None:
            self.adr = training_randomizer(self.cfg.adr, data)  # type: ignore[assignment]
        replay = Path(path).parent / REPLAY_NAME
        if self.buffer is not None and replay.is_file():
            self.buffer.load(replay)
        if self.env_steps >= self.cfg.total_steps:
            raise ValueError(f"total_steps={self.cfg.total_steps}: the checkpoint is already at {self.env_steps} env steps")

    # ---------------------------------------------------------------- the run
    def run(self) -> Path:
        ray, cfg = self.ray, self.cfg
        if not ray.is_initialized():
            ray.init(address=cfg.address or None, include_dashboard=False, logging_level="ERROR",
                     log_to_driver=False, configure_logging=True)
        from robolearn.fleet.ros_actor import RosArmActor

        # num_cpus=0: actors and learner share the cores and the OS schedules them.
        options = {"max_restarts": cfg.max_restarts, "max_task_retries": 0}
        layout = actor_layout(cfg)
        nodes = sorted(node["NodeID"] for node in ray.nodes() if node["Alive"])
        self.ledger = ray.remote(num_cpus=0)(ProductionLedger).remote()
        actors = [ray.remote(num_cpus=0)(ExperienceActor).options(**options, scheduling_strategy=placement(nodes, i)).remote(
            i, robot, backend, cfg, self.agent.vocab, self._actor_seed(i), cfg.actor_threads, self.ledger)
            for i, (robot, backend) in enumerate(layout)]
        # ROS actors reach the arm's master from their own processes.
        ros_env = {"env_vars": {k: os.environ[k] for k in ("ROS_MASTER_URI", "ROS_HOME") if k in os.environ}}
        for spec in cfg.ros_actors:
            i = len(actors)
            layout.append((spec.robot, f"ros:{spec.transport}"))
            actors.append(ray.remote(num_cpus=0)(RosArmActor).options(runtime_env=ros_env, **options).remote(
                i, spec, cfg, self.agent.vocab, str(self.out / f"real_{i}_{spec.robot}"), self._actor_seed(i),
                cfg.actor_threads, self.ledger))
        print(f"fleet: {len(actors)} actors ({', '.join(f'{r}/{b}' for r, b in layout)}) -> one {cfg.algo.name} learner; "
              f"ray {'local' if not cfg.address else cfg.address}", flush=True)
        # A resumed run refills its replay with the policy's own actions, not random ones.
        # PPO has no warm-up and no debt: each rollout is trained on as it arrives.
        self.warmup_until = self.env_steps + (0 if not self.off_policy else cfg.algo.batch_size if cfg.resume
                                              else cfg.algo.warmup_steps)
        self.max_owed = len(actors) * cfg.chunk_steps * cfg.algo.updates_per_step if self.off_policy else 1.0
        self.core = OffPolicyCore(self.agent, self.buffer, self.rng, self.logger, self.warmup_until, self.pooled,
                                  cfg.dataset_ratio) if self.off_policy else None
        self.updated = False
        weights = ray.put(self._weights())
        self.sent: dict[int, int] = {}  # the policy version each actor was last sent
        pending = {self._launch(i, actor, weights): i for i, actor in enumerate(actors)}
        next_eval = self.env_steps + cfg.eval_every
        every = cfg.checkpoint_every or cfg.eval_every
        next_checkpoint = self.env_steps + every
        killed, idle = False, []
        started, start_steps, start_updates = time.perf_counter(), self.env_steps, self.agent.updates
        bar = tqdm(total=cfg.total_steps, initial=self.env_steps, unit="step", desc="fleet", mininterval=1.0)
        while self.env_steps < cfg.total_steps:
            # Block for a batch only when no update is owed; otherwise just collect what is ready.
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=0 if self._owed() >= 1.0 or not pending else None)
            for ref in ready:
                index = pending.pop(ref)
                try:
                    batch = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                    # Its batch is lost with it; calls fail until Ray has restarted the process.
                    self.counters["failed_calls"] += 1
                    bar.write(f"actor {index} ({layout[index][0]}/{layout[index][1]}) is down; Ray restarts it")
                    time.sleep(RETRY_DELAY)
                    self.sent.pop(index, None)  # a restarted actor starts without weights
                    self.down.add(index)
                    pending[self._launch(index, actors[index], weights)] = index
                    continue
                idle.append(index)
                steps = self._receive(batch)
                self.env_steps += steps
                bar.update(steps)
            # Rate limiting (as Reverb's samples-per-insert limiter): actors go back to work at
            # once while the learner's debt stays under one round of batches, else they wait.
            while idle and self._owed() < self.max_owed:
                index = idle.pop(0)
                pending[self._launch(index, actors[index], weights)] = index
            if cfg.kill_actor_at and not killed and self.env_steps >= cfg.kill_actor_at and self._mid_call(pending, 0):
                killed = True
                bar.write(f"fault injection: killing actor 0 at {self.env_steps} env steps, in the middle of a call")
                ray.kill(actors[0], no_restart=False)
                self.down.add(0)
            if self.core is not None and self.core.run_owed(self.env_steps, most=cfg.publish_every):
                self.updated = True
            if self.updated:
                self.version += 1
                weights = ray.put(self._weights())
                self.updated = False
            elapsed = time.perf_counter() - started
            bar.set_postfix_str(self._progress(elapsed, start_steps, start_updates), refresh=False)
            if self.env_steps >= next_eval:
                next_eval += cfg.eval_every
                self._evaluate(bar)
            if self.env_steps >= next_checkpoint:
                next_checkpoint += every
                self._checkpoint()
        bar.close()
        self._await_restarts(pending, actors, weights)
        for actor in actors:  # batches still in flight are not part of this run
            ray.kill(actor)
        elapsed = time.perf_counter() - started
        self._evaluate(None)
        path = self._checkpoint()
        self.logger.close()
        self._report(elapsed, start_steps, start_updates)
        print(format_success(self.table, f"eval success ({cfg.backend}, {cfg.eval_episodes} episodes)"))
        print(f"checkpoint: {path}")
        return path

    def _await_restarts(self, pending: dict[Any, int], actors: list[Any], weights: Any) -> None:
        """An actor Ray is restarting may not have delivered by the last step: wait (up to
        `restart_wait_s`) for its new incarnation's batch, so the run ends with every restart
        seen and counted rather than cut off mid-restart."""
        deadline = time.monotonic() + self.cfg.restart_wait_s
        waiting = {ref: index for ref, index in pending.items() if index in self.down}
        while waiting and time.monotonic() < deadline:
            ready, _ = self.ray.wait(list(waiting), num_returns=1, timeout=max(0.0, deadline - time.monotonic()))
            for ref in ready:
                index = waiting.pop(ref)
                pending.pop(ref, None)
                try:
                    batch = self.ray.get(ref)
                except (self.ray.exceptions.RayActorError, self.ray.exceptions.ActorUnavailableError):
                    time.sleep(RETRY_DELAY)  # not back yet: call again while time is left
                    waiting[self._launch(index, actors[index], weights)] = index
                    continue
                self.env_steps += self._receive(batch)
        for index in sorted(self.down):
            print(f"actor {index} had not come back after {self.cfg.restart_wait_s:.0f} s", flush=True)

    def _mid_call(self, pending: dict[Any, int], index: int) -> bool:
        """Whether actor `index` is inside a call that has produced samples (the ledger says so)
        and not finished: fault injection kills it there, so the kill costs a batch in flight.
        Polls while the call runs, for at most KILL_POLL_S."""
        refs = [ref for ref, i in pending.items() if i == index]
        deadline = time.monotonic() + KILL_POLL_S
        while refs and not self.ray.wait(refs, timeout=0)[0] and time.monotonic() < deadline:
            calls = self.ray.get(self.ledger.snapshot.remote())
            if any(call[0] == index and call not in self.delivered_calls and counts[0] > 0
                   for call, counts in calls.items()):
                return True
            time.sleep(0.005)
        return False

    def _owed(self) -> float:
        return self.core.owed if self.core is not None else 0.0

    def _actor_seed(self, index: int) -> int:
        return self.cfg.seed + 7919 * (index + 1)

    def _launch(self, index: int, actor: Any, weights: Any) -> Any:
        """Weights travel only when the actor has not seen this version (they are megabytes)."""
        explore = not self.cfg.resume and self.env_steps < self.warmup_until
        fresh = self.sent.get(index) != self.version
        self.sent[index] = self.version
        # A PPO actor collects one rollout (`rollout_steps` per env, one env per task).
        steps = self.cfg.chunk_steps if self.off_policy else self.cfg.algo.rollout_steps * len(self.cfg.tasks)
        ranges = self.adr.ranges if self.adr is not None else None
        return actor.collect.remote(weights if fresh else None, self.version, steps, explore, ranges)

    def _weights(self) -> dict[str, Any]:
        weights = {"actor": self.agent.actor.state_dict(), "norm": self.agent.norm.state_dict()}
        if not self.off_policy:  # PPO actors bootstrap cut-off episodes with the value net
            weights["value"] = self.agent.value.state_dict()
        return {part: {k: v.cpu() for k, v in state.items()} for part, state in weights.items()}

    def _receive(self, batch: dict[str, Any]) -> int:
        """Count, check and store one actor batch; returns its env steps."""
        source, n = (batch["actor"], batch["incarnation"]), len(batch["version"])  # one version per sample
        if source not in self.delivered:
            self.down.discard(batch["actor"])  # a new incarnation is up
            if batch["restarted"]:
                self.counters["actor_restarts"] += 1  # the first batch of an incarnation Ray restarted
        # An actor numbers its batches and counts what it produced; a gap or a repeat means a
        # batch was lost or delivered twice.
        self.delivered[source] = self.delivered.get(source, 0) + 1
        if batch["seq"] != self.delivered[source]:
            raise RuntimeError(f"actor {source}: batch {batch['seq']} arrived as number {self.delivered[source]}")
        self.counters["batches"] += 1
        self.delivered_calls[(*source, batch["seq"])] = (n, len(batch["episodes"]))
        self.counters["samples_received"] += n
        self.counters["episodes_received"] += len(batch["episodes"])
        self.actor_samples[batch["actor"]] += n
        self.actor_seconds[batch["actor"]] += batch["seconds"]
        self.actor_nodes[batch["actor"]] = batch["node"]
        self._merge_adr(batch.get("adr_results", {}), n)
        for episode in batch["episodes"]:
            self.robot_success[episode["robot"]].append(episode["success"])
        stale = self.version - batch["version"]
        self.staleness.update(stale.tolist())
        bound = self.cfg.max_staleness if batch["actor"] < self.cfg.actors else self.cfg.ros_max_staleness
        fresh = stale <= bound if bound >= 0 else np.ones(len(stale), bool)
        self.counters["samples_dropped_stale"] += int((~fresh).sum())
        if not self.off_policy:
            if fresh.all():  # a rollout is trained on whole or not at all
                self._train_rollout(batch)
                self.counters["samples_trained"] += n
            else:
                self.counters["samples_dropped_stale"] += int(fresh.sum())
        elif fresh.any():
            fields = [batch[k][fresh] for k in TRANSITION_KEYS]
            self.core.store(*fields, self.env_steps + n)
            self.counters["samples_trained"] += int(fresh.sum())
        return n

    def _merge_adr(self, results: dict[str, list[bool]], steps: int) -> None:
        """Fold an actor's boundary results into the learner's ADR; report the ranges every
        `REPORT_EVERY` env steps (`steps`: this batch's, not yet counted)."""
        if self.adr is None:
            return
        self.adr.record_results(results)
        report_when_due(self.adr, self.logger, self.out, self.env_steps, self.env_steps + steps)

    def _train_rollout(self, batch: dict[str, Any]) -> None:
        """PPO on a rollout from a possibly older policy: V-trace corrects advantages and value
        targets by the truncated ratio of the current policy to the one that acted, and the
        clipped surrogate's trust region is taken around the current policy."""
        batch = {k: np.array(v) for k, v in batch.items() if isinstance(v, np.ndarray)}  # Ray's arrays are read-only
        now = self.agent.evaluate_rollout(batch, batch["last_obs"])
        advantage, targets = vtrace(batch["reward"], now["value"], batch["done"], now["last_value"],
                                    now["logp"] - batch["logp"], self.cfg.algo.gamma)
        rollout = {k: batch[k] for k in ("obs", "pre", "task", "robot")} | {"logp": now["logp"]}
        metrics = self.agent.optimize(rollout, advantage, targets, self.rng)
        self.agent.norm.update(torch.from_numpy(batch["raw"]))
        self.logger.log({f"train/{k}": v for k, v in metrics.items()}, self.env_steps)
        self.updated = True

    # ---------------------------------------------------------------- reporting
    def _progress(self, elapsed: float, start_steps: int, start_updates: int) -> str:
        sps = (self.env_steps - start_steps) / max(elapsed, 1e-9)
        ups = (self.agent.updates - start_updates) / max(elapsed, 1e-9)
        success = " ".join(f"{r}={np.mean(q):.2f}" for r, q in sorted(self.robot_success.items()) if q)
        stale = max(self.staleness) if self.staleness else 0
        per_actor = ",".join(f"{self.actor_samples[i] / max(elapsed, 1e-9):.0f}" for i in sorted(self.actor_samples))
        adr = f" adr_H={self.adr.entropy():.2f}" if self.adr is not None else ""
        return (f"samples/s={sps:.0f} [{per_actor}] updates/s={ups:.1f} stale<={stale} "
                f"restarts={self.counters['actor_restarts']} {success}{adr}")

    def _evaluate(self, bar: tqdm | None) -> None:
        self.table = evaluate(self.agent, self.cfg.tasks, self.cfg.robots, self.cfg.backend, self.cfg.eval_episodes,
                              env_kwargs=self.cfg.env_kwargs, deploy_limits=self.cfg.deploy_limits)
        metrics = {f"eval/{t}/{r}/success": s for (t, r), s in self.table.items()}
        metrics |= {f"fleet/{k}": float(v) for k, v in self.counters.items()}
        metrics |= {f"fleet/robot_success/{r}": float(np.mean(q)) for r, q in self.robot_success.items() if q}
        metrics |= {f"fleet/staleness/{s}": float(c) for s, c in sorted(self.staleness.items())}
        metrics |= {f"fleet/actor{i}/samples_per_s": self.actor_samples[i] / max(self.actor_seconds[i], 1e-9)
                    for i in self.actor_samples}
        self.logger.log(metrics, self.env_steps)
        if bar is not None:
            bar.write(f"[{self.env_steps} steps] " + " ".join(f"{t}/{r}={s:.2f}" for (t, r), s in self.table.items()))

    def _settle(self) -> None:
        """Produced (as the actors told the ledger) against received: what was lost with a killed
        actor, what is still in flight, and any delivered call whose size disagrees."""
        if self.ledger is None:
            return
        for key, value in settle(self.ray.get(self.ledger.snapshot.remote()), self.delivered_calls).items():
            self.counters[key] = self.ledger_base[key] + value

    def _checkpoint(self) -> Path:
        self._settle()
        path = self.out / CHECKPOINT_NAME
        save_checkpoint(path, checkpoint_payload(
            self.config, self.agent, list(self.cfg.tasks), list(self.cfg.robots), self.cfg.backend, self.env_steps,
            self.table, self.adr, fleet={"counters": dict(self.counters), "staleness": dict(self.staleness),
                                         "actor_nodes": dict(self.actor_nodes)}))
        if self.cfg.save_replay and self.buffer is not None:
            self.buffer.save(self.out / REPLAY_NAME)
        return path

    def _report(self, elapsed: float, start_steps: int, start_updates: int) -> None:
        c = self.counters
        updates = self.agent.updates - start_updates
        print(f"throughput: {(self.env_steps - start_steps) / elapsed:.1f} env samples/s total, "
              f"{updates / elapsed:.1f} learner updates/s, {updates / max(self.env_steps - start_steps, 1):.2f} "
              f"updates per sample ({elapsed:.0f} s wall)")
        for i in sorted(self.actor_samples):
            print(f"actor {i}: {self.actor_samples[i]} samples, "
                  f"{self.actor_samples[i] / max(self.actor_seconds[i], 1e-9):.1f} samples/s while collecting, "
                  f"node {self.actor_nodes[i][:12]}")
        print("staleness (policy versions: samples): " + " ".join(f"{s}:{n}" for s, n in sorted(self.staleness.items())))
        print(f"counts: produced {c['samples_produced']} samples / {c['episodes_produced']} episodes, received "
              f"{c['samples_received']} / {c['episodes_received']}, lost with killed actors {c['samples_lost_in_flight']}, "
              f"in flight at the end {c['samples_abandoned']}, trained on {c['samples_trained']}, dropped as stale "
              f"{c['samples_dropped_stale']}, batches {c['batches']} ({c['calls_miscounted']} miscounted), actor restarts "
              f"{c['actor_restarts']} (failed calls {c['failed_calls']})")
        print("per-robot success (last 20 training episodes): "
              + " ".join(f"{r}={np.mean(q):.2f}" for r, q in sorted(self.robot_success.items()) if q))


def run_fleet(cfg: FleetConfig) -> Path:
    return Fleet(cfg).run()
