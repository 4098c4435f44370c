"""`robolearn fleet` settings: the training config plus how the actors are laid out (configs/fleet.yaml)."""
from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from robolearn.config import TrainConfig, compose_config
from robolearn.fleet.ros_actor import RosActorConfig


@dataclass
class FleetConfig(TrainConfig):
    # The training defaults a fleet changes (configs/fleet.yaml says the same).
    tasks: list[str] = field(default_factory=lambda: ["reach"])
    total_steps: int = 20_000
    eval_every: int = 10_000
    eval_episodes: int = 10
    threads: int = 1  # the learner's torch threads; the actors take the other cores
    num_envs: int = 1  # each actor steps one env per task (other values are refused)
    deploy_limits: str = ""  # "" | shipped | a deploy YAML, as in train (whose default is shipped)
    actors: int = 4  # robots cycle over the actors, then backends
    address: str = ""  # "": a local Ray on this machine; "auto" or "ray://host:port": join a cluster
    backends: list[str] = field(default_factory=list)  # simulators the actors use; default [backend]
    chunk_steps: int = 64  # env steps per actor batch
    publish_every: int = 25  # learner updates per new policy version sent to the actors
    max_staleness: int = 8  # policy versions a simulated batch may lag the learner; older ones are dropped (counted)
    ros_max_staleness: int = -1  # the same for arms through ROS; -1: keep all (real samples are costly; lag is reported)
    checkpoint_every: int = 0  # env steps between checkpoints; 0: every eval_every
    save_replay: bool = False  # persist the replay buffer beside the checkpoint, for a learner restart
    datasets: list[str] = field(default_factory=list)  # episode files pooled into training
    dataset_ratio: float = 0.0  # fraction of each batch drawn from `datasets`
    skip_bad: bool = False  # leave out demos of `datasets` that fail validation (listed) instead of refusing
    max_restarts: int = 3  # per actor; a crashed actor is restarted by Ray and the run goes on
    restart_wait_s: float = 120.0  # at the end, how long to wait for actors Ray is still restarting
    kill_actor_at: int = 0  # fault injection: kill actor 0's process at this many env steps (0: never)
    actor_threads: int = 1  # torch threads per actor
    ros_actors: list[RosActorConfig] = field(default_factory=list)  # arms reached through ROS, after the sim actors


ConfigStore.instance().store(name="fleet_schema", node=FleetConfig)


def compose_fleet(overrides: list[str]) -> DictConfig:
    return compose_config("fleet", FleetConfig, overrides)
