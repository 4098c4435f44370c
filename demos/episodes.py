"""The episode file: HDF5 in robomimic's layout, written so that a crash loses nothing finished.

    data/                      attrs: total (samples), env_args (robomimic JSON), robolearn (JSON metadata)
    data/demo_<i>/             attrs: num_samples, meta (JSON: task, robot, backend, source, seed,
                               success, dr_params, ...)
        obs/state              (T, STATE_DIM) float32  observation before each action
        obs/<camera>_image     (T, H, W, 3) uint8      optional, per camera (front, wrist), gzip per frame
        next_obs/state         (T, STATE_DIM) float32
        actions                (T, 7) float32          the shared end-effector action, as executed
        action_labels          (T, 7) float32          optional: what a scripted expert wanted before its
                                                       noise (DART-style labels for behaviour cloning)
        rewards, dones         (T,)
        states                 (T, S) float64          simulator state before each action
    mask/<split>               names of the demos in a split (robomimic's filter keys)

Sim rollouts, human demos and real-robot logs all use it (`source` = sim | human | real).

Appending costs the episode, not the file: the demo group is written in place and counted
in `data.attrs["committed"]` (the index, written last), all through an undo journal beside
the file (`.<name>.journal`, demos/journal.py) that keeps the old bytes of every page HDF5
rewrites in place; the journal's removal commits the append. A writer killed mid-append
(even while HDF5 flushes, when a group's link heap is half rewritten) leaves the journal:
readers see the file as it was before that append, and the next writer rolls it back,
says which demo it dropped and goes on. One writer at a time: a lock beside the file
(`.<name>.lock`) refuses a second one. Whole-file edits (merge, splits) still build a new
file under a unique temporary name and rename it over the original, under the same lock.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

from robolearn.demos.journal import JournaledFile, RolledBackView, journal_path, read_journal, roll_back
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
    images: dict[str, np.ndarray] = field(default_factory=dict)  # camera -> (T, H, W, 3) uint8
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
    images: dict[str, list[np.ndarray]] = field(default_factory=dict)
    labels: list[np.ndarray] = field(default_factory=list)
    frames: list[np.ndarray] = field(default_factory=list)  # camera frames for an optional mp4, not stored

    def add(self, obs: dict, action: np.ndarray, reward: float, next_obs: dict, sim_state: np.ndarray,
            label: np.ndarray | None = None) -> None:
        self.obs.append(np.asarray(obs["state"], np.float32))
        self.next_obs.append(np.asarray(next_obs["state"], np.float32))
        self.actions.append(np.asarray(action, np.float32))
        self.rewards.append(float(reward))
        self.sim_states.append(np.asarray(sim_state, np.float64))
        for camera, image in obs.get("images", {}).items():
            self.images.setdefault(camera, []).append(np.asarray(image, np.uint8))
        if label is not None:
            self.labels.append(np.asarray(label, np.float32))

    def finish(self, **meta: Any) -> Episode:
        if not self.actions:
            raise ValueError("episode has no steps")
        dones = np.zeros(len(self.actions), np.uint8)
        dones[-1] = 1
        return Episode(np.stack(self.obs), np.stack(self.next_obs), np.stack(self.actions),
                       np.asarray(self.rewards, np.float32), dones, np.stack(self.sim_states), self.meta | meta,
                       {camera: np.stack(frames) for camera, frames in self.images.items()},
                       np.stack(self.labels) if len(self.labels) == len(self.actions) else None)


def imported_episode(states: np.ndarray, actions: np.ndarray, meta: dict[str, Any], next_states: np.ndarray | None = None,
                     rewards: np.ndarray | None = None, dones: np.ndarray | None = None,
                     sim_states: np.ndarray | None = None, labels: np.ndarray | None = None,
                     images: dict[str, np.ndarray] | None = None) -> Episode:
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
        meta, {camera: np.asarray(frames, np.uint8) for camera, frames in (images or {}).items()},
        action_labels=None if labels is None else np.asarray(labels, np.float32))


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

    def put(key: str, array: np.ndarray, **options: Any) -> None:
        # Fletcher-32 checksums: a flipped bit in the data is a read error, not a wrong value.
        group.create_dataset(key, data=array, fletcher32=array.size > 0, **options)

    put("obs/state", ep.states_obs, compression="gzip")
    put("next_obs/state", ep.next_states_obs, compression="gzip")
    for camera, frames in ep.images.items():
        put(image_key(camera), frames, compression="gzip", chunks=(1, *frames.shape[1:]))
    put("actions", ep.actions)
    if ep.action_labels is not None:
        put("action_labels", ep.action_labels)
    put("rewards", ep.rewards)
    put("dones", ep.dones)
    put("states", ep.sim_states, compression="gzip" if ep.sim_states.size else None)


def commit(path: Path, edit) -> None:
    """Apply `edit(h5py.File)` to a copy of `path` and rename it over the original (atomic);
    for whole-file edits only, appends go through `EpisodeWriter`. An existing file is edited
    under its writer lock, after rolling back an append cut short."""
    lock = None
    if path.exists():
        lock = WriterLock(path)
        roll_back(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        if path.exists():
            shutil.copyfile(path, tmp)
            shutil.copymode(path, tmp)
        else:  # mkstemp's 0600 would hide the file from other users; take the usual umask
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        with h5py.File(tmp, "w" if not path.exists() else "a") as f:
            edit(f)
        _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if lock is not None:
            lock.release()


def _fsync(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _committed(data: h5py.Group) -> list[str]:
    """The demos the index counts; a file without an index (written before it existed, or
    by another tool) counts every demo group."""
    names = sorted(data.keys(), key=_demo_number)
    if "committed" not in data.attrs:
        return names
    count = int(data.attrs["committed"])
    return [n for n in names if _demo_number(n) < count]


def _demo_number(name: str) -> int:
    number = name.rpartition("_")[2]
    return int(number) if number.isdigit() else -1


class WriterLock:
    """An exclusive lock beside the episode file; the OS releases it when the process dies,
    so a crash never leaves a file locked."""

    def __init__(self, path: Path):
        self.path = path.with_name(f".{path.name}.lock")
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.close()
            raise ValueError(f"{path}: another writer has it open ({self.path} is locked); "
                             "one writer per episode file") from None

    def release(self) -> None:
        if not self.handle.closed:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


class EpisodeWriter:
    """Appends finished episodes to an episode file, creating it with `meta` if needed.
    Holds the file's writer lock until `close` (or the end of a `with` block)."""

    def __init__(self, path: str | Path, meta: dict[str, Any]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = WriterLock(self.path)
        try:
            if self.path.exists():
                dropped = roll_back(self.path)
                if dropped:
                    print(f"{self.path}: {dropped} was not committed (its writer stopped while saving it); dropped",
                          flush=True)
                existing = read_metadata(self.path)
                if existing["schema_version"] != SCHEMA_VERSION:
                    raise ValueError(f"{self.path}: schema_version {existing['schema_version']}, expected {SCHEMA_VERSION}")
                self.count = self._recover()
            else:
                def create(f: h5py.File) -> None:
                    data = f.create_group("data")
                    data.attrs["total"] = 0
                    data.attrs["committed"] = 0
                    data.attrs["env_args"] = _robomimic_env_args(meta)
                    data.attrs["robolearn"] = json.dumps(meta)

                commit(self.path, create)
                self.count = 0
            self.meta = read_metadata(self.path)
        except BaseException:
            self.lock.release()
            raise

    def __enter__(self) -> EpisodeWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.lock.release()

    def _recover(self) -> int:
        """Drop demo groups the index does not count (a writer stopped between writing them
        and committing them) and index a file that has none; returns the committed count."""
        with h5py.File(self.path, "a") as f:
            data = f["data"]
            committed = _committed(data)
            for name in sorted(set(data.keys()) - set(committed), key=_demo_number):
                print(f"{self.path}: {name} was not committed (its writer stopped while saving it); dropped",
                      flush=True)
                del data[name]
            count = max((_demo_number(n) for n in committed), default=-1) + 1
            data.attrs["committed"] = count
        return count

    def append(self, episode: Episode) -> str:
        """Commit one finished episode; its metadata carries the file's task, robot, backend
        and source, so demos keep them when files are merged."""
        if self.lock.handle.closed:
            raise ValueError(f"{self.path}: this writer is closed")
        if episode.actions.ndim != 2 or episode.actions.shape[1] != ACTION_DIM:
            raise ValueError(f"{self.path}: episode actions have shape {episode.actions.shape}, expected (T, {ACTION_DIM})")
        name = f"demo_{self.count}"
        episode.meta = {k: self.meta[k] for k in DEMO_KEYS if k in self.meta} | episode.meta
        handle = JournaledFile(self.path, name)
        try:
            # No leftover demo_<count> here: opening dropped uncommitted ones, a failed append rolls back.
            with h5py.File(handle, "a") as f:
                _write_demo(f["data"], name, episode)
                f.flush()  # the demo's data first, then the index that counts it
                _write_index(f["data"], self.count + 1, episode.length)
            handle.commit()
        except BaseException:
            handle.close()
            roll_back(self.path)  # the file as it was: this writer can go on appending
            raise
        handle.close()
        self.count += 1
        episode.name = name
        return name


def _write_index(data: h5py.Group, committed: int, samples: int) -> None:
    """The commit point: the episode counts once this attribute is on disk."""
    data.attrs["total"] = int(data.attrs["total"]) + samples
    data.attrs["committed"] = committed


# ---------------------------------------------------------------------------- reading
# Every command that reads episodes comes through here: a bad file or demo is refused with
# one line naming the file, the demo and the field, before anything is computed from it.
FINITE_KEYS = ("obs/state", "next_obs/state", "actions", "rewards", "action_labels", "states")
IMAGE_SUFFIX = "_image"
READ_RETRIES = 4


def open_episode_file(path: str | Path) -> h5py.File:
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not an episode file (.hdf5)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such episode file")
    # Without HDF5's file lock, so a file can be read while a recorder appends to it (readers
    # see the committed demos only); a read that meets an append mid-write is retried.
    for attempt in range(READ_RETRIES):
        try:
            journal = journal_path(path)
            header, pages = read_journal(journal) if journal.exists() else ({}, {})
            if header:  # an append in progress or cut short: the file as it was before it
                return h5py.File(RolledBackView(path, header, pages), "r")
            return h5py.File(path, "r", locking=False)
        except OSError as err:
            if attempt == READ_RETRIES - 1:
                raise ValueError(f"{path}: not a readable HDF5 episode file (truncated or corrupted: {err})") from None
            time.sleep(0.05)
    raise AssertionError("unreachable")


def _json_attr(where: str, attrs: h5py.AttributeManager, key: str) -> dict[str, Any]:
    try:
        value = json.loads(attrs[key])
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as err:
        raise ValueError(f"{where}: attribute {key!r} is not valid JSON ({err})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{where}: attribute {key!r} is JSON {type(value).__name__}, expected an object")
    return value


def _data_group(path: str | Path, f: h5py.File) -> h5py.Group:
    if "data" not in f or not isinstance(f["data"], h5py.Group):
        raise ValueError(f"{path}: no 'data' group; not an episode file in robomimic's layout")
    return f["data"]


def read_metadata(path: str | Path) -> dict[str, Any]:
    with open_episode_file(path) as f:
        data = _data_group(path, f)
        if "robolearn" not in data.attrs:
            raise ValueError(f"{path}: no robolearn metadata on data/ (import robomimic files with `robolearn data import`)")
        meta = _json_attr(f"{path}: data/", data.attrs, "robolearn")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {meta.get('schema_version')}, this robolearn reads {SCHEMA_VERSION}")
    return meta


def demo_names(path: str | Path) -> list[str]:
    """The committed demos, in order."""
    with open_episode_file(path) as f:
        return _committed(_data_group(path, f))


def image_key(camera: str) -> str:
    """Where a camera's frames live in a demo group (robomimic's obs/<name>_image)."""
    return f"obs/{camera}{IMAGE_SUFFIX}"


def _group_cameras(group: h5py.Group) -> list[str]:
    obs = group.get("obs")
    names = list(obs) if isinstance(obs, h5py.Group) else []
    return sorted(n[:-len(IMAGE_SUFFIX)] for n in names if n.endswith(IMAGE_SUFFIX))


def demo_cameras(path: str | Path, name: str) -> dict[str, tuple[int, int, int]]:
    """The cameras a demo recorded and their frame shapes (H, W, 3), from the file's structure alone."""
    with open_episode_file(path) as f:
        group = _data_group(path, f)[name]
        return {camera: tuple(group[image_key(camera)].shape[1:]) for camera in _group_cameras(group)}


def _check_demo(where: str, group: h5py.Group) -> None:
    for key in ("obs/state", "next_obs/state", "actions", "rewards", "dones", "states"):
        if key not in group or not isinstance(group[key], h5py.Dataset):
            raise ValueError(f"{where}: missing {key}")
    actions, obs = group["actions"], group["obs/state"]
    if actions.ndim != 2 or actions.shape[1] != ACTION_DIM:
        raise ValueError(f"{where}: actions have shape {actions.shape}, expected (T, {ACTION_DIM})")
    if obs.ndim != 2 or obs.shape[1] != STATE_DIM:
        raise ValueError(f"{where}: obs/state has shape {obs.shape}, expected (T, {STATE_DIM})")
    images = tuple(image_key(c) for c in _group_cameras(group))
    for key in images:
        frames = group[key]
        if frames.ndim != 4 or frames.shape[3] != 3 or frames.dtype != np.uint8:
            raise ValueError(f"{where}: {key} has shape {frames.shape} and dtype {frames.dtype}, "
                             "expected (T, H, W, 3) uint8")
    keys = ("obs/state", "next_obs/state", "actions", "rewards", "dones", "states", "action_labels", *images)
    lengths = {k: group[k].shape[0] for k in keys if k in group}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"{where}: datasets disagree on the episode length: {lengths}")
    if not next(iter(lengths.values())):
        raise ValueError(f"{where}: the episode has no steps")
    for key in keys:
        if key in group and group[key].dtype.kind not in "fiub":
            raise ValueError(f"{where}: {key} has dtype {group[key].dtype}, expected numbers")


def _check_finite(where: str, values: dict[str, np.ndarray]) -> None:
    for key, array in values.items():
        bad = ~np.isfinite(array)
        if bad.any():
            step = int(np.argwhere(bad)[0][0])
            raise ValueError(f"{where}: {key} has {int(bad.sum())} non-finite values (first at step {step})")


def read_episode(path: str | Path, name: str, images: bool = False) -> Episode:
    path = Path(path)
    read_metadata(path)
    where = f"{path}: data/{name}"
    with open_episode_file(path) as f:
        data = _data_group(path, f)
        committed = _committed(data)
        if name not in committed:
            raise ValueError(f"{path}: no demo {name!r}; it has {len(committed)} demos (demo_0 ...)")
        g = data[name]
        _check_demo(where, g)
        meta = _json_attr(where, g.attrs, "meta") if "meta" in g.attrs else {}
        try:
            values = {k: g[k][()] for k in FINITE_KEYS if k in g}
            frames = {c: g[image_key(c)][()] for c in _group_cameras(g)} if images else {}
            episode = Episode(values["obs/state"], values["next_obs/state"], values["actions"], values["rewards"],
                              g["dones"][()], values["states"], meta, frames, values.get("action_labels"), name)
        except OSError as err:
            raise ValueError(f"{where} is corrupted ({err})") from None
    _check_finite(where, values)
    return episode


def iter_episodes(path: str | Path, names: list[str] | None = None, images: bool = False,
                  skip_bad: bool = False) -> Iterator[Episode]:
    """The demos `names` (default: all committed), read one at a time, so a file larger than
    memory can be streamed; `skip_bad` leaves out the demos that fail validation, with one
    warning listing them at the end, instead of refusing the file."""
    bad, good = [], 0
    for name in names or demo_names(path):
        try:
            episode = read_episode(path, name, images)
        except ValueError as err:
            if not skip_bad:
                raise
            bad.append(str(err))
            continue
        good += 1
        yield episode
    if bad:
        print(f"warning: {path}: skipped {len(bad)} bad demos:\n  " + "\n  ".join(bad), file=sys.stderr, flush=True)
        if not good:
            raise ValueError(f"{path}: every demo is bad (skip_bad=true left none)")


def read_episodes(path: str | Path, names: list[str] | None = None, images: bool = False,
                  skip_bad: bool = False) -> list[Episode]:
    """`iter_episodes` into a list."""
    return list(iter_episodes(path, names, images, skip_bad))


def demo_lengths(path: str | Path, names: list[str]) -> list[int]:
    """Steps of each demo, from the datasets' shapes alone (nothing is read or validated;
    a broken demo counts 0 here and is refused when it is read)."""
    with open_episode_file(path) as f:
        data = _data_group(path, f)
        return [int(data[n]["actions"].shape[0]) if n in data and "actions" in data[n]
                and isinstance(data[n]["actions"], h5py.Dataset) and data[n]["actions"].ndim else 0 for n in names]


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
