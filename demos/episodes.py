"""The episode file: HDF5 in robomimic's layout, written so that a crash loses nothing finished.

    data/                      attrs: total (samples), env_args (robomimic JSON), robolearn (JSON metadata)
    data/demo_<i>/             attrs: num_samples, meta (JSON: task, robot, backend, source, seed,
                               success, dr_params, ...)
        obs/state              (T, STATE_DIM) float32  observation before each action
        obs/image              (T, H, W, 3) uint8      optional camera
        next_obs/state         (T, STATE_DIM) float32
        actions                (T, 7) float32          the shared end-effector action, as executed
        action_labels          (T, 7) float32          optional: what a scripted expert wanted before its
                                                       noise (DART-style labels for behaviour cloning)
        rewards, dones         (T,)
        states                 (T, S) float64          simulator state before each action
    mask/<split>               names of the demos in a split (robomimic's filter keys)

Sim rollouts, human demos and real-robot logs all use it (`source` = sim | human | real).
Each finished episode is committed by writing a copy of the file and renaming it over
the original, so a recorder killed at any moment leaves the last committed file intact.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from robolearn.spec import ACTION_DIM, CONTROL_HZ, STATE_DIM, STATE_LAYOUT

SCHEMA_VERSION = 1
SOURCES = ("sim", "human", "real")
DEMO_KEYS = ("task", "robot", "backend", "source")  # file metadata every demo also carries
ACTION_CONVENTION = "ee_delta_pos3_axisangle3_gripper1 in [-1, 1] (Open X-Embodiment)"


@dataclass
class Episode:
    states_obs: np.ndarray  # (T, STATE_DIM) observation `state` before each action
    next_states_obs: np.ndarray  # (T, STATE_DIM)
    actions: np.ndarray  # (T, 7)
    rewards: np.ndarray  # (T,)
    dones: np.ndarray  # (T,)
    sim_states: np.ndarray  # (T, S)
    meta: dict[str, Any]  # task, robot, backend, source, seed, success, dr_params, ...
    images: np.ndarray | None = None  # (T, H, W, 3) uint8
    action_labels: np.ndarray | None = None  # (T, 7) a scripted expert's noise-free actions
    name: str = ""  # demo_<i> once stored

    @property
    def length(self) -> int:
        return len(self.actions)


@dataclass
class EpisodeBuffer:
    """Collects one episode step by step in memory; nothing touches the file until `finish`."""
    meta: dict[str, Any]
    obs: list[np.ndarray] = field(default_factory=list)
    next_obs: list[np.ndarray] = field(default_factory=list)
    actions: list[np.ndarray] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    sim_states: list[np.ndarray] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # camera frames for an optional mp4, not stored

    def add(self, obs: dict, action: np.ndarray, reward: float, next_obs: dict, sim_state: np.ndarray,
            label: np.ndarray | None = None) -> None:
        self.obs.append(np.asarray(obs["state"], np.float32))
        self.next_obs.append(np.asarray(next_obs["state"], np.float32))
        self.actions.append(np.asarray(action, np.float32))
        self.rewards.append(float(reward))
        self.sim_states.append(np.asarray(sim_state, np.float64))
        if "image" in obs:
            self.images.append(np.asarray(obs["image"], np.uint8))
        if label is not None:
            self.labels.append(np.asarray(label, np.float32))

    def finish(self, **meta: Any) -> Episode:
        if not self.actions:
            raise ValueError("episode has no steps")
        dones = np.zeros(len(self.actions), np.uint8)
        dones[-1] = 1
        return Episode(np.stack(self.obs), np.stack(self.next_obs), np.stack(self.actions),
                       np.asarray(self.rewards, np.float32), dones, np.stack(self.sim_states), self.meta | meta,
                       np.stack(self.images) if self.images else None,
                       np.stack(self.labels) if len(self.labels) == len(self.actions) else None)


def imported_episode(states: np.ndarray, actions: np.ndarray, meta: dict[str, Any], next_states: np.ndarray | None = None,
                     rewards: np.ndarray | None = None, dones: np.ndarray | None = None,
                     sim_states: np.ndarray | None = None, labels: np.ndarray | None = None) -> Episode:
    """An episode from another format, in this format's dtypes; what the source lacks gets a
    neutral value: next states by shifting (the last repeated), zero rewards, done only at
    the end, no simulator state."""
    n = len(actions)
    return Episode(
        np.asarray(states, np.float32),
        np.asarray(next_states if next_states is not None else np.vstack([states[1:], states[-1:]]), np.float32),
        np.asarray(actions, np.float32),
        np.asarray(rewards if rewards is not None else np.zeros(n), np.float32).reshape(n),
        np.asarray(dones if dones is not None else np.eye(1, n, n - 1)[0], np.uint8).reshape(n),
        np.asarray(sim_states if sim_states is not None else np.zeros((n, 0)), np.float64),
        meta, action_labels=None if labels is None else np.asarray(labels, np.float32))


def file_metadata(task: str, robot: str, backend: str, source: str, **extra: Any) -> dict[str, Any]:
    if source not in SOURCES:
        raise ValueError(f"source={source!r}; allowed: {', '.join(SOURCES)}")
    return {"schema_version": SCHEMA_VERSION, "task": task, "robot": robot, "backend": backend, "source": source,
            "control_hz": CONTROL_HZ, "action_dim": ACTION_DIM, "action_convention": ACTION_CONVENTION,
            "state_dim": STATE_DIM, "state_layout": [[n, s] for n, s, _ in STATE_LAYOUT]} | extra


def _robomimic_env_args(meta: dict[str, Any]) -> str:
    return json.dumps({"env_name": meta.get("task", ""), "type": "robolearn",
                       "env_kwargs": {k: meta[k] for k in ("robot", "backend") if k in meta}})


def _write_demo(data: h5py.Group, name: str, ep: Episode) -> None:
    group = data.create_group(name)
    group.attrs["num_samples"] = ep.length
    group.attrs["meta"] = json.dumps(ep.meta)
    group.create_dataset("obs/state", data=ep.states_obs, compression="gzip")
    group.create_dataset("next_obs/state", data=ep.next_states_obs, compression="gzip")
    if ep.images is not None:
        group.create_dataset("obs/image", data=ep.images, compression="gzip", chunks=(1, *ep.images.shape[1:]))
    group.create_dataset("actions", data=ep.actions)
    if ep.action_labels is not None:
        group.create_dataset("action_labels", data=ep.action_labels)
    group.create_dataset("rewards", data=ep.rewards)
    group.create_dataset("dones", data=ep.dones)
    group.create_dataset("states", data=ep.sim_states, compression="gzip")


def commit(path: Path, edit) -> None:
    """Apply `edit(h5py.File)` to a copy of `path` and rename it over the original (atomic)."""
    tmp = path.with_name(path.name + ".tmp")
    if path.exists():
        shutil.copyfile(path, tmp)
    with h5py.File(tmp, "a") as f:
        edit(f)
    os.replace(tmp, path)


class EpisodeWriter:
    """Appends finished episodes to an episode file, creating it with `meta` if needed."""

    def __init__(self, path: str | Path, meta: dict[str, Any]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            existing = read_metadata(self.path)
            if existing["schema_version"] != SCHEMA_VERSION:
                raise ValueError(f"{self.path}: schema_version {existing['schema_version']}, expected {SCHEMA_VERSION}")
            self.count = len(demo_names(self.path))
        else:
            def create(f: h5py.File) -> None:
                data = f.create_group("data")
                data.attrs["total"] = 0
                data.attrs["env_args"] = _robomimic_env_args(meta)
                data.attrs["robolearn"] = json.dumps(meta)

            commit(self.path, create)
            self.count = 0
        self.meta = read_metadata(self.path)

    def append(self, episode: Episode) -> str:
        """Commit one finished episode; its metadata carries the file's task, robot, backend
        and source, so demos keep them when files are merged."""
        if episode.actions.ndim != 2 or episode.actions.shape[1] != ACTION_DIM:
            raise ValueError(f"{self.path}: episode actions have shape {episode.actions.shape}, expected (T, {ACTION_DIM})")
        name = f"demo_{self.count}"
        episode.meta = {k: self.meta[k] for k in DEMO_KEYS if k in self.meta} | episode.meta

        def add(f: h5py.File) -> None:
            _write_demo(f["data"], name, episode)
            f["data"].attrs["total"] = int(f["data"].attrs["total"]) + episode.length

        commit(self.path, add)
        self.count += 1
        episode.name = name
        return name


# ---------------------------------------------------------------------------- reading
def open_episode_file(path: str | Path) -> h5py.File:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such episode file")
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise ValueError(f"{path}: not a readable HDF5 episode file (truncated or corrupted: {err})") from None


def read_metadata(path: str | Path) -> dict[str, Any]:
    with open_episode_file(path) as f:
        if "data" not in f:
            raise ValueError(f"{path}: no 'data' group; not an episode file in robomimic's layout")
        raw = f["data"].attrs.get("robolearn")
        if raw is None:
            raise ValueError(f"{path}: no robolearn metadata on data/ (import robomimic files with `robolearn data import`)")
        meta = json.loads(raw)
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {meta.get('schema_version')}, this robolearn reads {SCHEMA_VERSION}")
    return meta


def demo_names(path: str | Path) -> list[str]:
    with open_episode_file(path) as f:
        return sorted(f["data"].keys(), key=lambda n: int(n.rpartition("_")[2]))


def _check_demo(path: Path, name: str, group: h5py.Group) -> None:
    where = f"{path}: data/{name}"
    for key in ("obs/state", "next_obs/state", "actions", "rewards", "dones", "states"):
        if key not in group:
            raise ValueError(f"{where}: missing {key}")
    actions, obs = group["actions"], group["obs/state"]
    if actions.ndim != 2 or actions.shape[1] != ACTION_DIM:
        raise ValueError(f"{where}: actions have shape {actions.shape}, expected (T, {ACTION_DIM})")
    if obs.ndim != 2 or obs.shape[1] != STATE_DIM:
        raise ValueError(f"{where}: obs/state has shape {obs.shape}, expected (T, {STATE_DIM})")
    keys = ("obs/state", "next_obs/state", "actions", "rewards", "dones", "states", "action_labels")
    lengths = {k: group[k].shape[0] for k in keys if k in group}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: datasets disagree on the episode length: {lengths}")


def read_episode(path: str | Path, name: str, images: bool = False) -> Episode:
    path = Path(path)
    read_metadata(path)
    with open_episode_file(path) as f:
        if name not in f["data"]:
            raise ValueError(f"{path}: no demo {name!r}; it has {len(f['data'])} demos (demo_0 ...)")
        g = f["data"][name]
        _check_demo(path, name, g)
        try:
            return Episode(g["obs/state"][()], g["next_obs/state"][()], g["actions"][()], g["rewards"][()],
                           g["dones"][()], g["states"][()], json.loads(g.attrs["meta"]),
                           g["obs/image"][()] if images and "obs/image" in g else None,
                           g["action_labels"][()] if "action_labels" in g else None, name)
        except OSError as err:
            raise ValueError(f"{path}: data/{name} is corrupted ({err})") from None


def read_episodes(path: str | Path, names: list[str] | None = None, images: bool = False) -> list[Episode]:
    return [read_episode(path, n, images) for n in (names or demo_names(path))]


def split_names(path: str | Path, split: str) -> list[str]:
    with open_episode_file(path) as f:
        key = f"mask/{split}"
        if key not in f:
            have = list(f["mask"].keys()) if "mask" in f else []
            raise ValueError(f"{path}: no split {split!r}; splits: {have or 'none (use robolearn data split)'}")
        return [n.decode() if isinstance(n, bytes) else str(n) for n in f[key][()]]


def write_splits(path: str | Path, splits: dict[str, list[str]]) -> None:
    def edit(f: h5py.File) -> None:
        for split, names in splits.items():
            key = f"mask/{split}"
            if key in f:
                del f[key]
            f.create_dataset(key, data=np.array(names, dtype="S"))

    commit(Path(path), edit)
