"""Recorded episodes pooled into the learner, and normalization statistics kept per robot.

Episode files from anywhere (sim rollouts, human demos, real-robot logs; any task and
robot of the model's vocabulary) become transitions in a second replay buffer; each training batch
draws `dataset_ratio` of its samples from it. Recorded episodes end by time, not by
failure, so none of their steps is terminal. Statistics per robot (mean, variance, count
of the observation) are kept for every robot that fed the learner and saved in the
checkpoint: with arms of different joint ranges, they say what each robot's data looks like.
"""
from __future__ import annotations

import numpy as np
import torch

from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.learners.replay import ReplayBuffer
from robolearn.policies.actor_critic import RunningNorm
from robolearn.spec import ACTION_DIM
from robolearn.vocab import Vocabulary


def load_pooled(paths: list[str], tasks: list[str], vocab: Vocabulary, skip_bad: bool = False) -> ReplayBuffer:
    """Every episode of `paths` (each must be of one of `tasks`), as transitions with `vocab`'s ids."""
    episodes = []
    for path in paths:
        meta = read_metadata(path)
        for episode in read_episodes(path, skip_bad=skip_bad):
            task, robot = episode.meta.get("task", meta["task"]), episode.meta.get("robot", meta["robot"])
            if task not in tasks:
                raise ValueError(f"datasets: {path} holds task {task!r}, not one of the run's tasks {tasks}")
            if robot not in vocab.robots:
                raise ValueError(f"datasets: {path} holds robot {robot!r}; allowed: {', '.join(vocab.robots)}")
            episodes.append((episode, vocab.task_id(task), vocab.robot_id(robot)))
    if not episodes:
        raise ValueError(f"datasets: no episodes in {paths}")
    buffer = ReplayBuffer(sum(ep.length for ep, _, _ in episodes), vocab.obs_dim, ACTION_DIM)
    for ep, task_id, robot_id in episodes:
        n = ep.length
        buffer.add(vocab.pad(ep.states_obs), ep.actions, ep.rewards, vocab.pad(ep.next_states_obs), np.zeros(n, np.float32),
                   np.full(n, task_id), np.full(n, robot_id))
    return buffer


class PerRobotStats:
    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.norms: dict[str, RunningNorm] = {}

    def update(self, obs: np.ndarray, robot_ids: np.ndarray) -> None:
        for robot_id in np.unique(robot_ids):
            name = self.vocab.robots[int(robot_id)]
            self.norms.setdefault(name, RunningNorm(self.vocab.obs_dim)).update(
                torch.from_numpy(obs[robot_ids == robot_id]))

    def state(self) -> dict[str, dict[str, torch.Tensor]]:
        return {name: norm.state_dict() for name, norm in self.norms.items()}

    def load(self, state: dict[str, dict[str, torch.Tensor]]) -> None:
        for name, values in state.items():
            self.norms.setdefault(name, RunningNorm(self.vocab.obs_dim)).load_state_dict(values)
