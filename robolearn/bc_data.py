"""Behaviour-cloning data from episode files, held in memory within a budget.

A dataset that fits in `max_memory_gb` is read once and kept whole. A larger one is read in
chunks: one streaming pass validates every demo and accumulates the normalizers' moments,
then training cycles over random chunks of demos, each read from disk, trained on for its
share of the updates and dropped before the next is read. Only the fields BC uses are kept
(state, action labels, and the frames of the cameras a policy sees); simulator states never
enter the budget.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from robolearn.demos.episodes import Episode, demo_lengths, demo_names, read_episode, split_names
from robolearn.envs import suite_vocabulary
from robolearn.learners.bc import BCData
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.sims.robots import ROBOTS
from robolearn.sims.tasks import TASKS

LABELS = ("executed", "expert")
# Of the budget, the share for the chunk itself; the rest covers the episode being read,
# the model and the optimizer.
CHUNK_SHARE = 0.5


@dataclass(frozen=True)
class DemoRef:
    path: str
    name: str
    length: int


def bytes_per_step(horizon: int, image_bytes: int = 0) -> int:
    """Memory one step takes in `BCData` (float32 values, int64 ids, `image_bytes` of uint8 frames)."""
    return 4 * (STATE_DIM + horizon * ACTION_DIM + horizon) + 2 * 8 + image_bytes


@dataclass(frozen=True)
class Frames:
    """The cameras a policy sees and their frame size: what every demo must have recorded."""
    cameras: tuple[str, ...] = ()
    size: int = 0

    @property
    def bytes(self) -> int:
        return len(self.cameras) * self.size * self.size * 3

    def check(self, episode: Episode) -> None:
        for camera in self.cameras:
            frames = episode.images.get(camera)
            if frames is None:
                raise ValueError(f"{episode.name}: no frames of camera {camera!r} (recorded: "
                                 f"{', '.join(episode.images) or 'none'}); record with cameras=[{camera},...]")
            if frames.shape[1:] != (self.size, self.size, 3):
                raise ValueError(f"{episode.name}: camera {camera} has frames of shape {frames.shape[1:]}, "
                                 f"expected ({self.size}, {self.size}, 3)")


def check_suite(episode: Episode) -> None:
    task, robot = episode.meta.get("task"), episode.meta.get("robot")
    if task not in TASKS or robot not in ROBOTS:
        raise ValueError(f"{episode.name}: task {task!r} / robot {robot!r} is not in this suite "
                         f"(tasks: {', '.join(TASKS)}; robots: {', '.join(ROBOTS)})")


def label_actions(episode: Episode, labels: str) -> np.ndarray:
    if labels not in LABELS:
        raise ValueError(f"labels={labels!r}; allowed: {', '.join(LABELS)}")
    target = episode.actions if labels == "executed" else episode.action_labels
    if target is None:
        raise ValueError(f"labels=expert: {episode.meta.get('task')}/{episode.meta.get('robot')} {episode.name} has no "
                         "action_labels (only the scripted device records them)")
    return target


def build_dataset(episodes: Iterable[Episode], horizon: int, labels: str = "executed", steps: int | None = None,
                  frames: Frames = Frames()) -> BCData:
    """`steps`: an upper bound on the episodes' total length, so the arrays are allocated
    once and filled episode by episode (no second copy); by default the episodes are listed."""
    episodes = list(episodes) if steps is None else episodes
    steps = sum(ep.length for ep in episodes) if steps is None else steps  # type: ignore[union-attr]
    vocab = suite_vocabulary()
    images = {c: np.empty((steps, frames.size, frames.size, 3), np.uint8) for c in frames.cameras}
    obs = np.empty((steps, STATE_DIM), np.float32)
    actions = np.empty((steps, horizon, ACTION_DIM), np.float32)
    mask = np.empty((steps, horizon), np.float32)
    task, robot = np.empty(steps, np.int64), np.empty(steps, np.int64)
    at = 0
    for ep in episodes:
        n, target = ep.length, label_actions(ep, labels)
        padded = np.concatenate([target, np.repeat(target[-1:], horizon - 1, axis=0)])
        index = np.arange(n)[:, None] + np.arange(horizon)[None]
        obs[at:at + n], actions[at:at + n], mask[at:at + n] = ep.states_obs, padded[index], index < n
        task[at:at + n], robot[at:at + n] = vocab.task_id(ep.meta["task"]), vocab.robot_id(ep.meta["robot"])
        for camera, array in images.items():
            array[at:at + n] = ep.images[camera]
        at += n
    return BCData(*(torch.from_numpy(a[:at]) for a in (obs, actions, mask, task, robot)),
                  {c: torch.from_numpy(a[:at]) for c, a in images.items()})


class Moments:
    """Per-dimension count, mean and variance accumulated over batches (float64 sums)."""

    def __init__(self) -> None:
        self.count, self.total, self.squares = 0, 0.0, 0.0

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, np.float64)
        self.count += len(values)
        self.total = self.total + values.sum(0)
        self.squares = self.squares + (values ** 2).sum(0)

    @property
    def mean(self) -> np.ndarray:
        return np.asarray(self.total / self.count)

    @property
    def var(self) -> np.ndarray:
        return np.maximum(np.asarray(self.squares / self.count) - self.mean ** 2, 0.0)

    @property
    def std(self) -> np.ndarray:
        """Sample standard deviation (Bessel-corrected, as torch.std)."""
        return np.sqrt(self.var * self.count / max(self.count - 1, 1))


def index_demos(paths: list[str], split: str | None = None, max_demos: int = 0) -> list[DemoRef]:
    """The demos to train on, with their lengths, from the files' structure alone."""
    if not paths:
        raise ValueError("data=[file.hdf5,...] is required")
    refs = []
    for path in paths:
        names = split_names(path, split) if split else demo_names(path)
        names = names[:max_demos] if max_demos > 0 else names
        refs += [DemoRef(str(path), n, length) for n, length in zip(names, demo_lengths(path, names))]
    return refs


def read_refs(refs: list[DemoRef], skip_bad: bool, frames: Frames = Frames()) -> Iterator[tuple[DemoRef, Episode]]:
    """The episodes of `refs` in their order, one at a time, each validated (with the frames of
    `frames.cameras`, checked)."""
    for ref in refs:
        try:
            episode = read_episode(ref.path, ref.name, images=bool(frames.cameras))
            check_suite(episode)
            frames.check(episode)
        except ValueError as err:
            if not skip_bad:
                raise
            print(f"warning: skipped a bad demo: {err}", file=sys.stderr, flush=True)
            continue
        yield ref, episode


class DemoChunks:
    """The demos of `refs` as `BCData` chunks of at most `capacity` steps each (a demo longer
    than that is a chunk of its own).

    `scan` reads every demo once: it validates it, accumulates the moments of the policy's
    inputs and of the first action label, and keeps the data when it all fits; `chunks` then
    yields that one chunk on every pass, reading nothing."""

    def __init__(self, refs: list[DemoRef], horizon: int, labels: str, max_memory_gb: float, skip_bad: bool = False,
                 frames: Frames = Frames()):
        if max_memory_gb <= 0:
            raise ValueError(f"max_memory_gb={max_memory_gb}: must be > 0")
        self.horizon, self.labels, self.skip_bad, self.frames = horizon, labels, skip_bad, frames
        self.capacity = max(1, int(max_memory_gb * 1e9 * CHUNK_SHARE / bytes_per_step(horizon, frames.bytes)))
        self.refs = refs
        self.sources: list[dict[str, str]] = []  # task, robot, backend of each demo in `refs`
        self.whole: BCData | None = None
        self.obs_moments, self.action_moments = Moments(), Moments()

    @property
    def steps(self) -> int:
        return sum(ref.length for ref in self.refs)

    @property
    def fits(self) -> bool:
        return self.steps <= self.capacity

    @property
    def chunks_per_pass(self) -> int:
        return -(-self.steps // self.capacity)

    def scan(self, inputs: Callable[[np.ndarray], np.ndarray]) -> None:
        """One pass over every demo: validation (`skip_bad` drops the bad ones from `refs`)
        and the moments of `inputs(states)` and of the action labels."""
        good: list[DemoRef] = []

        def measured() -> Iterator[Episode]:
            for ref, episode in read_refs(self.refs, self.skip_bad, self.frames):
                self.obs_moments.add(inputs(episode.states_obs))
                self.action_moments.add(label_actions(episode, self.labels))
                good.append(DemoRef(ref.path, ref.name, episode.length))
                self.sources.append({k: str(episode.meta.get(k)) for k in ("task", "robot", "backend")})
                yield episode

        if self.fits:  # kept as it is read: the arrays BC uses, never the whole episodes
            self.whole = build_dataset(measured(), self.horizon, self.labels, steps=self.steps, frames=self.frames)
        else:
            for _ in measured():
                pass
        if not good:
            raise ValueError(f"data: no demos in {sorted({r.path for r in self.refs})}")
        self.refs = good

    def chunks(self, rng: np.random.Generator) -> Iterator[BCData]:
        """One pass over the data: the demos in a random order, cut into chunks read from disk."""
        if self.whole is not None:
            yield self.whole
            return
        group: list[DemoRef] = []
        size = 0
        for i in rng.permutation(len(self.refs)):
            ref = self.refs[i]
            if group and size + ref.length > self.capacity:
                yield self._read(group)
                group, size = [], 0
            group.append(ref)
            size += ref.length
        if group:
            yield self._read(group)

    def _read(self, group: list[DemoRef]) -> BCData:
        episodes = (episode for _, episode in read_refs(group, False, self.frames))  # validated by `scan`
        return build_dataset(episodes, self.horizon, self.labels, sum(r.length for r in group), self.frames)
