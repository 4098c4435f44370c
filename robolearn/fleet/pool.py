"""Recorded episodes pooled into the learner.

Episode files from anywhere (sim rollouts, human demos, real-robot logs, other labs' robots
imported in their own conventions; any task and robot of the model's vocabulary) become
transitions in a second replay buffer; each training batch draws `dataset_ratio` of its
samples from it. Recorded episodes end by time, not by failure, so none of their steps is
terminal. With `algo.per_robot_norm=true` the learner normalizes each robot's observations
by that robot's own statistics (arms of other joint ranges, another robot's state layout).
"""
from __future__ import annotations

import numpy as np

from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.demos.foreign import META_KEY as FOREIGN
from robolearn.learners.replay import ReplayBuffer
from robolearn.spec import ACTION_DIM
from robolearn.vocab import Vocabulary


def dataset_robots(paths: list[str]) -> list[str]:
    """The robots of `paths` (from each file's metadata), in order of appearance."""
    return list(dict.fromkeys(read_metadata(path)["robot"] for path in paths))


def other_robots(paths: list[str]) -> dict[str, str]:
    """Robot -> file, for every file holding another robot's data in its own conventions."""
    return {meta["robot"]: path for path in paths if FOREIGN in (meta := read_metadata(path))}


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
