"""Replaying a recorded episode: same reset, same randomization, recorded actions, state error."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import robolearn.sims as sims
from robolearn.demos.episodes import read_episode, read_metadata
from robolearn.demos.foreign import refuse_foreign


@dataclass
class ReplayReport:
    demo: str
    steps: int
    initial_error: float  # max |state| difference right after the reset, before restoring
    max_state_error: float  # max over steps of max |replayed - recorded| simulator state
    recorded_success: bool
    replayed_success: bool


def recorded_reset(meta: dict[str, Any], backend: str | None = None) -> gym.Env:
    """The episode's env, reset with its recorded seed and randomization values."""
    env = gym.make(sims.env_id(meta["task"]), robot=meta["robot"], backend=backend or meta["backend"])
    env.reset(seed=int(meta.get("seed", 0)), options={"dr_params": meta.get("dr_params") or {}})
    return env


def replay(path: str | Path, demo: str, backend: str | None = None) -> ReplayReport:
    """Rebuild the episode's env, reset it with the recorded seed and randomization, restore the
    recorded initial state and step the recorded actions, comparing simulator states."""
    refuse_foreign(str(path), read_metadata(path), "replay")
    episode = read_episode(path, demo)
    meta = episode.meta
    if meta.get("source") == "real":
        raise ValueError(f"{path}: {demo} is a real-robot log; it has no simulator state to replay")
    backend = backend or meta["backend"]
    if backend != meta["backend"]:
        raise ValueError(f"{path}: {demo} was recorded on {meta['backend']}; simulator states do not transfer to {backend}")
    env = recorded_reset(meta, backend)
    sim = env.unwrapped.sim
    recorded = episode.sim_states
    initial_error = float(np.max(np.abs(sim.get_state() - recorded[0])))
    sim.set_state(recorded[0])
    error, success = 0.0, False
    for t, action in enumerate(episode.actions):
        _, _, _, _, info = env.step(action)
        success |= bool(info["success"])
        if t + 1 < len(recorded):
            error = max(error, float(np.max(np.abs(sim.get_state() - recorded[t + 1]))))
    env.close()
    return ReplayReport(demo, episode.length, initial_error, error, bool(meta.get("success", False)), success)
