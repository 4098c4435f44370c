"""An experience actor: one robot on one simulator, every task of the run, its own seed.

Each `collect` call first loads the weights it is handed if their version is newer (the
learner publishes them to Ray's object store; the actor pulls them through the
reference), then steps its envs for a chunk of env steps and returns the transitions,
each tagged with the policy version that chose it, plus the episodes that finished.
Batches carry (actor, incarnation, sequence) so the learner can prove that nothing was
counted twice, also across a restart, and the Ray node the actor runs on. With `adr=adr` the
actor's envs sample from the learner's ADR ranges (handed over with every call) and the
episode results at the pinned boundaries go back with the batch, for the learner's one ADR
state to merge.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
import torch

from robolearn.agents import make_agent
from robolearn.config import TrainConfig
from robolearn.env_runner import EnvRunner, env_pool
from robolearn.envs import combos_for
from robolearn.learners.ppo import PPO
from robolearn.logger import Logger
from robolearn.ppo_rollout import ROLLOUT_KEYS, collect_rollout
from robolearn.spec import ACTION_DIM
from robolearn.sims.randomization import ADR, make_randomizer
from robolearn.vocab import Vocabulary


class EpisodeTally(Logger):
    """Catches the per-episode results EnvRunner reports, instead of logging them."""

    def __init__(self) -> None:
        super().__init__("none", None, "", {})  # type: ignore[arg-type]
        self.finished: list[dict[str, Any]] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        for key, value in metrics.items():
            if key.endswith("/success"):
                _, task, robot, _ = key.split("/")
                self.finished.append({"task": task, "robot": robot, "success": bool(value)})


class BatchSource:
    """What every fleet actor shares: versioned weights in, numbered and counted batches out."""

    def __init__(self, index: int, cfg: TrainConfig, vocab: Vocabulary, seed: int, threads: int, ledger: Any = None):
        """`vocab`: the learner's; `ledger`: the run's ProductionLedger actor (robolearn.fleet.ledger),
        told what each call produces while it runs."""
        torch.set_num_threads(threads)
        torch.manual_seed(seed)
        self.index = index
        self.incarnation = uuid.uuid4().hex[:8]  # a restarted actor is a new incarnation
        self.seq = 0
        self.ledger = ledger
        self.agent = make_agent(cfg.policy, cfg.algo, vocab)
        self.version = -1
        import ray

        context = ray.get_runtime_context() if ray.is_initialized() else None
        self.node = context.get_node_id() if context else "local"
        # Ray's own word, so a restart counts even when the killed incarnation never delivered.
        in_actor = context is not None and context.get_actor_id() is not None  # not when built in-process
        self.restarted = in_actor and context.was_current_actor_reconstructed

    def load_weights(self, weights: dict[str, Any] | None, version: int) -> None:
        if weights is not None and version > self.version:
            self.agent.actor.load_state_dict(weights["actor"])
            self.agent.norm.load_state_dict(weights["norm"])
            if "value" in weights:
                self.agent.value.load_state_dict(weights["value"])
            self.version = version

    def report(self, samples: int, episodes: int) -> Any:
        """Tell the ledger what the current call has produced so far, without waiting (the
        reference to wait on, or None without a ledger)."""
        if self.ledger is not None:
            return self.ledger.add.remote((self.index, self.incarnation, self.seq + 1), samples, episodes)
        return None

    def package(self, batch: dict[str, np.ndarray], samples: int, episodes: list[dict[str, Any]], started: float
                ) -> dict[str, Any]:
        flushed = self.report(0, 0)
        if flushed is not None:  # the ledger holds all of this call before its batch leaves
            import ray

            ray.get(flushed)
        self.seq += 1
        return batch | {"version": np.full(samples, self.version), "actor": self.index,
                        "incarnation": self.incarnation, "restarted": self.restarted, "seq": self.seq,
                        "episodes": episodes, "seconds": time.perf_counter() - started, "node": self.node}


TRANSITION_KEYS = ("obs", "action", "reward", "next_obs", "terminal", "task", "robot")


class ExperienceActor(BatchSource):
    def __init__(self, index: int, robot: str, backend: str, cfg: TrainConfig, vocab: Vocabulary, seed: int,
                 threads: int = 1, ledger: Any = None):
        super().__init__(index, cfg, vocab, seed, threads, ledger)
        self.rng = np.random.default_rng(seed)
        randomizer = make_randomizer(cfg.adr)
        # ADR results are collected here and merged by the learner, which owns the one state.
        self.adr = randomizer.worker_copy() if isinstance(randomizer, ADR) else None
        randomizer = self.adr or randomizer
        combos = combos_for(cfg.tasks, [robot])
        self.tally = EpisodeTally()
        self.reported_episodes = 0  # of the current call's, told to the ledger
        self.runner = EnvRunner(combos, env_pool(combos, backend, vocab, cfg.env_kwargs, randomizer, workers=False,
                                                     deploy_limits=cfg.deploy_limits),
                                seed, self.tally)

    def collect(self, weights: dict[str, Any] | None, version: int, steps: int, explore_uniform: bool,
                adr_ranges: dict[str, list[float]] | None = None) -> dict[str, Any]:
        """`steps` env steps (rounded up to whole rounds over the envs) with policy `version`:
        transitions for SAC (`explore_uniform` acts uniformly at random, SAC's warm-up), or a
        rollout for PPO with what the learner needs to correct for the policy's age.
        `adr_ranges`: the learner's current ADR ranges (with adr=adr)."""
        self.load_weights(weights, version)
        if self.adr is not None and adr_ranges is not None:
            self.adr.ranges = {name: list(bounds) for name, bounds in adr_ranges.items()}
        started = time.perf_counter()
        self.tally.finished.clear()
        self.reported_episodes = 0
        if isinstance(self.agent, PPO):
            batch = self._rollout(-(-steps // self.runner.n))
            return self._package(batch, batch["reward"].size, started)
        runner, n = self.runner, self.runner.n
        rows: dict[str, list[np.ndarray]] = {k: [] for k in TRANSITION_KEYS}
        for _ in range(-(-steps // n)):
            states = runner.states.copy()
            if explore_uniform:
                actions = self.rng.uniform(-1, 1, (n, ACTION_DIM)).astype(np.float32)
            else:
                actions = self.agent.act(states, runner.task, runner.robot)
            reward, terminated, _, next_state = runner.step(actions, 0)
            self._report_step()
            for key, value in zip(TRANSITION_KEYS, (states, actions, reward, next_state, terminated.astype(np.float32),
                                                    runner.task.copy(), runner.robot.copy())):
                rows[key].append(value)
        batch = {k: np.concatenate(v) for k, v in rows.items()}
        return self._package(batch, len(batch["obs"]), started)

    def _report_step(self) -> None:
        """One step of every env: its samples and the episodes it finished."""
        finished = len(self.tally.finished)
        self.report(self.runner.n, finished - self.reported_episodes)
        self.reported_episodes = finished

    def _package(self, batch: dict[str, np.ndarray], samples: int, started: float) -> dict[str, Any]:
        """The batch plus this call's ADR results ({boundary: successes}), handed over once."""
        results = self.adr.take_results() if self.adr is not None else {}
        return self.package(batch, samples, list(self.tally.finished), started) | {"adr_results": results}

    def _rollout(self, horizon: int) -> dict[str, np.ndarray]:
        """(T, N) arrays as the single-process PPO loop collects them, plus the raw states (for
        the learner's normalizer) and the normalized last observation (to bootstrap)."""
        runner, agent = self.runner, self.agent
        raw: list[np.ndarray] = []
        batch = collect_rollout(agent, runner, horizon, ROLLOUT_KEYS, raw, lambda: 0, self._report_step)
        return batch | {"raw": np.concatenate(raw), "last_obs": agent.normalize(runner.states).numpy()}
