"""A real arm as a fleet actor: the deploy loop, behind its safety layer, with the latest policy.

The arm is reached through ROS (rospy or rosbridge, `configs/deploy/<robot>.yaml`), as with
`robolearn deploy`; the twin stands in for it in tests. Each `collect` runs whole episodes
(the scene is reset on request, or by hand on a real cell) sampling from the policy, and
every episode is recorded to `<out>/episodes.hdf5` (source=real) before its transitions go
to the learner. A real arm never acts uniformly at random: the warm-up is the policy's.
The reward is the cell's (`topics.reward`), else success as a sparse reward.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.config import TrainConfig
from robolearn.deploy.config import load_deploy_config
from robolearn.deploy.loop import DeployLoop
from robolearn.deploy.transport import TransportConfig, make_transport
from robolearn.fleet.actor import TRANSITION_KEYS, BatchSource
from robolearn.sims.tasks import TASKS
from robolearn.vocab import Vocabulary

RESET_WAIT = 30.0  # s for the cell to acknowledge a reset (a person may be doing it)


@dataclass
class RosActorConfig:
    robot: str = "panda"
    task: str = "reach"
    transport: str = "rospy"  # rospy | rosbridge
    host: str = "localhost"
    port: int = 9090
    secret: str = ""
    config: str = ""  # deploy YAML; default configs/deploy/<robot>.yaml
    reset: str = "topic"  # topic (the cell resets on request, as the twin) | none; no operator is at a Ray actor
    tls: bool = False
    ca_cert: str = ""


class RosArmActor(BatchSource):
    def __init__(self, index: int, spec: RosActorConfig, cfg: TrainConfig, vocab: Vocabulary, out: str, seed: int,
                 threads: int = 1, ledger: Any = None):
        super().__init__(index, cfg, vocab, seed, threads, ledger)
        if spec.task not in cfg.tasks:
            raise ValueError(f"ros_actors: task {spec.task!r} is not one of the run's tasks {cfg.tasks}")
        if spec.reset not in ("topic", "none"):
            raise ValueError(f"ros_actors: reset={spec.reset!r}; allowed: topic, none (nobody can confirm an operator "
                             "reset at a fleet actor)")
        self.spec, self.episode_seed = spec, seed
        deploy = load_deploy_config(spec.robot, spec.config or None, reset=spec.reset)
        transport = make_transport(TransportConfig(spec.transport, f"robolearn_fleet_{index}", spec.host, spec.port,
                                                   spec.secret, tls=spec.tls, ca_cert=spec.ca_cert), deploy.ros_version)
        self.loop = DeployLoop(deploy, self.agent, spec.task, transport, Path(out))
        self.loop.tick.explore = True
        self.task_id, self.robot_id = self.agent.vocab.task_id(spec.task), self.agent.vocab.robot_id(spec.robot)

    def collect(self, weights: dict[str, Any] | None, version: int, steps: int, explore_uniform: bool,
                adr_ranges: dict[str, list[float]] | None = None) -> dict[str, Any]:
        self.load_weights(weights, version)
        started = time.perf_counter()
        rows: dict[str, list[np.ndarray]] = {k: [] for k in TRANSITION_KEYS}
        finished, collected = [], 0
        while collected < steps:
            self.loop.reset_scene(self.episode_seed, RESET_WAIT)
            report = self.loop.run_episode(self.episode_seed, TASKS[self.spec.task].horizon, hold_steps=0)
            self.episode_seed += 1
            episode = report.episode
            if episode is None:
                continue
            n = episode.length
            for key, value in zip(TRANSITION_KEYS, (episode.states_obs, episode.actions, episode.rewards,
                                                    episode.next_states_obs, np.zeros(n, np.float32),
                                                    np.full(n, self.task_id), np.full(n, self.robot_id))):
                rows[key].append(value)
            finished.append({"task": self.spec.task, "robot": self.spec.robot, "success": report.success})
            collected += n
            self.report(n, 1)  # a whole episode at a time: one cut off by a kill is not counted
        batch = {k: np.concatenate(v) for k, v in rows.items()}
        return self.package(batch, len(batch["obs"]), finished, started)
