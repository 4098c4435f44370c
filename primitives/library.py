"""A library of primitives learned from demonstrations: one JSON file, versioned.

    robolearn primitives learn data=[demos.hdf5,...] out=lib/    # segment, label, learn, save
    robolearn primitives list library=lib/

Motion labels (reach, lift, move, place, tilt, push) become DMPs learned from the
segments pooled across every demo and robot, or closed-loop BC primitives for the labels
named in `closed_loop=[...]`; grasp and release become gripper
primitives (their duration from the demos); `return` is always the scripted turn back,
and a scripted `release` is added when the demos never open the hand. Motions that fewer
than half of the demos show (recoveries, situational steps) are left out.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from robolearn.demos.episodes import demo_lengths, demo_names, iter_episodes, read_metadata
from robolearn.demos.foreign import refuse_foreign
from robolearn.primitives.base import Primitive
from robolearn.primitives.dmp import DMPPrimitive
from robolearn.primitives.learned import BCPrimitive
from robolearn.primitives.scripted import GripperPrimitive, ReturnPrimitive
from robolearn.primitives.segment import segment_episode
from robolearn.spec import ACTION_DIM, STATE_DIM

# The library keeps the motions most demos share. One seen in fewer is a recovery (a
# re-grasp, a nudge) or a situational step, and a primitive fit to a handful of such
# segments breaks the skills that pick it: an optional `lift` learned from 2 of 50 pours
# failed every run, one from 2 of 10 pick_places cut the BC-primitive skill to 0.6.
MIN_SUPPORT = 0.5
LIBRARY_FILE = "library.json"
FORMAT, VERSION = "robolearn-primitives", 1
KINDS = {cls.kind: cls for cls in (DMPPrimitive, BCPrimitive, GripperPrimitive, ReturnPrimitive)}
# label -> (precondition, postcondition)
CONDITIONS_BY_LABEL = {
    "reach": ("open", "at_goal"), "grasp": ("open", "holding"), "lift": ("holding", "holding_at_goal"),
    "move": ("holding", "holding_at_goal"), "place": ("holding", "at_goal"), "tilt": ("holding", "poured"),
    "return": ("always", "rotated"), "release": ("always", "open"), "push": ("always", "at_goal"),
}


class Library:
    def __init__(self, primitives: dict[str, Primitive], meta: dict[str, Any]):
        self.primitives, self.meta = primitives, meta

    def get(self, name: str) -> Primitive:
        if name not in self.primitives:
            raise KeyError(f"no primitive {name!r} in the library; it has: {', '.join(self.primitives)}")
        return self.primitives[name]

    def __contains__(self, name: str) -> bool:
        return name in self.primitives

    def save(self, directory: str | Path) -> Path:
        path = Path(directory) / LIBRARY_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": FORMAT, "version": VERSION, **self.meta,
                "primitives": {name: p.to_dict() for name, p in self.primitives.items()}}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "Library":
        path = Path(directory) / LIBRARY_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no primitive library (make one with `robolearn primitives learn`)")
        data = json.loads(path.read_text())
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"{path}: format {data.get('format')!r} version {data.get('version')}, "
                             f"this robolearn reads {FORMAT!r} version {VERSION}")
        primitives = {}
        for name, d in data.pop("primitives").items():
            if d.get("kind") not in KINDS:
                raise ValueError(f"{path}: primitive {name!r} has unknown kind {d.get('kind')!r}; allowed: {', '.join(KINDS)}")
            primitives[name] = KINDS[d["kind"]].from_dict(d)
        return cls(primitives, {k: v for k, v in data.items() if k not in ("format", "version")})

    def describe(self) -> str:
        lines = [f"library: {len(self.primitives)} primitives from {self.meta.get('episodes', '?')} demos "
                 f"({', '.join(self.meta.get('robots', []))}; {', '.join(self.meta.get('tasks', []))})"]
        for name, p in self.primitives.items():
            d = p.to_dict()
            detail = f"anchor={d['anchor']} segments={d['segments']}" if "anchor" in d else ""
            if d["kind"] == "dmp":
                detail += f" duration={d['duration']:.2f}s"
            lines.append(f"  {name:8s} {d['kind']:8s} pre={d['pre']:12s} post={d['post']:16s} {detail}")
        for label, demos in self.meta.get("dropped_rare", {}).items():
            lines.append(f"  ({label}: in only {demos} of {self.meta['episodes']} demos, left out: most demos do without it)")
        return "\n".join(lines)


def learn_library(paths: list[str], closed_loop: list[str] | None = None, max_demos: int = 0,
                  skip_bad: bool = False, max_memory_gb: float = 4.0, seed: int = 0) -> Library:
    """`closed_loop`: motion labels to learn as BC primitives instead of DMPs; `max_demos`:
    the first N demos of each file (0: all), as `robolearn bc max_demos=`. Demos are read
    one at a time; when their segments would not fit in `max_memory_gb`, a uniform random
    sample of the demos that fits is learned from (and said so)."""
    if max_demos < 0:
        raise ValueError(f"max_demos must be >= 0 (0: all), got {max_demos}")
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)
    support: dict[str, int] = defaultdict(int)  # demos in which each label occurs
    robots, tasks, count = set(), set(), 0
    chosen = sample_within(paths, max_demos, max_memory_gb, seed)
    for path in paths:
        meta = read_metadata(path)
        refuse_foreign(path, meta, "primitives learn")
        for episode in iter_episodes(path, chosen[path], skip_bad=skip_bad) if chosen[path] else ():
            robots.add(episode.meta.get("robot", meta["robot"]))
            tasks.add(episode.meta.get("task", meta["task"]))
            states = np.vstack([episode.states_obs, episode.next_states_obs[-1:]])
            segments = segment_episode(states, episode.actions)
            for seg in segments:
                groups[seg.label].append((states[seg.start:seg.end + 1], episode.actions[seg.start:seg.end]))
            for label in {seg.label for seg in segments}:
                support[label] += 1
            count += 1
    if not count:
        raise ValueError(f"data: no episodes in {paths}")
    rare = rare_labels(support, count)
    primitives: dict[str, Primitive] = {}
    for label, segments in groups.items():
        if label in rare:
            continue
        pre, post = CONDITIONS_BY_LABEL[label]
        if label in ("grasp", "release"):
            steps = int(np.median([len(a) for _, a in segments]))
            primitives[label] = GripperPrimitive(label, label == "grasp", pre, post, min_steps=max(2, steps - 2))
        elif label in (closed_loop or []):
            primitives[label] = BCPrimitive.learn(label, segments, pre, post)
        elif label != "return":
            primitives[label] = DMPPrimitive.learn(label, segments, pre, post)
    # Always there, learned or not: fallbacks open the hand, and pours turn the cup back.
    primitives.setdefault("release", GripperPrimitive("release", False, *CONDITIONS_BY_LABEL["release"]))
    primitives["return"] = ReturnPrimitive("return", *CONDITIONS_BY_LABEL["return"])
    meta = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "sources": [str(p) for p in paths], "episodes": count,
            "robots": sorted(robots), "tasks": sorted(tasks),
            "segments": {label: len(segs) for label, segs in groups.items()},
            "dropped_rare": {label: support[label] for label in sorted(rare)}}
    return Library(primitives, meta)


def sample_within(paths: list[str], max_demos: int, max_memory_gb: float, seed: int) -> dict[str, list[str]]:
    """The demos of each file to learn from: all of them (the first `max_demos`) when the
    states and actions their segments keep fit in `max_memory_gb`, else a random sample that does."""
    if max_memory_gb <= 0:
        raise ValueError(f"max_memory_gb={max_memory_gb}: must be > 0")
    demos = []
    for path in paths:
        names = demo_names(path)
        names = names[:max_demos] if max_demos else names
        demos += [(path, name, length) for name, length in zip(names, demo_lengths(path, names))]
    kept_bytes = 4 * (STATE_DIM + ACTION_DIM)  # per step: the state and the action
    budget_steps = max_memory_gb * 1e9 / kept_bytes
    order = range(len(demos))
    if sum(length for _, _, length in demos) > budget_steps:
        order, total, fits = np.random.default_rng(seed).permutation(len(demos)), 0, []
        for i in order:
            if total + demos[i][2] <= budget_steps:
                fits.append(i)
                total += demos[i][2]
        print(f"primitives: learning from {len(fits)} of {len(demos)} demos, a random sample that fits "
              f"max_memory_gb={max_memory_gb}", flush=True)
        order = sorted(fits)
    chosen: dict[str, list[str]] = {path: [] for path in paths}
    for i in order:
        chosen[demos[i][0]].append(demos[i][1])
    return chosen


def rare_labels(support: dict[str, int], episodes: int, min_support: float = MIN_SUPPORT) -> set[str]:
    """Motion labels that occur in fewer than `min_support` of the `episodes` demos
    (`support`: label -> demos it occurs in). Gripper labels are never rare: their
    primitives are scripted, only their durations come from the demos."""
    return {label for label, n in support.items()
            if label not in ("grasp", "release", "return") and n < min_support * episodes}
