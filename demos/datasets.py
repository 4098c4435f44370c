"""Dataset tools: summarize, merge (pool robots and tasks), and split episode files."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from robolearn.demos.episodes import (
    DEMO_KEYS, SCHEMA_VERSION, commit, demo_cameras, open_episode_file, read_episodes, read_metadata, write_splits,
)
from robolearn.demos.foreign import ForeignLayout


def info(path: str | Path, skip_bad: bool = False) -> dict[str, Any]:
    meta = read_metadata(path)
    episodes = read_episodes(path, skip_bad=skip_bad)
    groups = Counter(tuple(ep.meta.get(k, "?") for k in DEMO_KEYS) for ep in episodes)
    with open_episode_file(path) as f:
        splits = {k: len(v) for k, v in f["mask"].items()} if "mask" in f else {}
    cameras = Counter((camera, shape) for ep in episodes for camera, shape in demo_cameras(path, ep.name).items())
    own = Counter((ep.meta.get("robot"), layout.state_dim, layout.action_dim) for ep in episodes
                  if (layout := ForeignLayout.of(ep.meta)) is not None)
    return {
        "file": str(path), "schema_version": meta["schema_version"], "demos": len(episodes),
        "samples": int(sum(ep.length for ep in episodes)),
        "success_rate": float(np.mean([bool(ep.meta.get("success", False)) for ep in episodes])) if episodes else 0.0,
        "mean_length": float(np.mean([ep.length for ep in episodes])) if episodes else 0.0,
        "by_task_robot_backend_source": {"/".join(map(str, k)): n for k, n in sorted(groups.items())},
        "splits": splits,
        "cameras": {f"{camera} {'x'.join(map(str, shape))}": n for (camera, shape), n in sorted(cameras.items())},
        "own_conventions": {f"{robot} ({state}-d state, {action}-d action)": n for (robot, state, action), n in
                            sorted(own.items())},
    }


def format_info(summary: dict[str, Any]) -> str:
    lines = [f"{summary['file']}: {summary['demos']} demos, {summary['samples']} samples, "
             f"success {summary['success_rate']:.2f}, mean length {summary['mean_length']:.1f}"]
    lines += [f"  {key}: {n}" for key, n in summary["by_task_robot_backend_source"].items()]
    if summary["cameras"]:
        lines.append("  cameras: " + ", ".join(f"{k} ({n} demos)" for k, n in summary["cameras"].items()))
    if summary["own_conventions"]:
        lines.append("  in their own conventions: " + ", ".join(f"{k} ({n} demos)"
                                                                for k, n in summary["own_conventions"].items()))
    if summary["splits"]:
        lines.append("  splits: " + ", ".join(f"{k}={n}" for k, n in summary["splits"].items()))
    return "\n".join(lines)


def merge(inputs: list[str | Path], out: str | Path, skip_bad: bool = False) -> int:
    """Pool every demo of `inputs` into a new file `out`; each keeps its own task, robot,
    backend and source in its metadata. Every demo is validated first (`skip_bad`: leave the
    bad ones out). Returns the number of demos."""
    if not inputs:
        raise ValueError("merge: inputs is empty")
    out = Path(out)
    if out.exists():
        raise ValueError(f"merge: out={out} exists; choose a new file")
    metas = [read_metadata(p) for p in inputs]
    names = [[ep.name for ep in read_episodes(p, skip_bad=skip_bad)] for p in inputs]

    def build(f: h5py.File) -> None:
        data = f.create_group("data")
        shared = {k: v for k, v in metas[0].items() if all(m.get(k) == v for m in metas)}
        for key in DEMO_KEYS:
            shared.setdefault(key, "mixed")
        data.attrs["robolearn"] = json.dumps(shared | {"schema_version": SCHEMA_VERSION,
                                                        "merged_from": [str(p) for p in inputs]})
        data.attrs["env_args"] = json.dumps({"env_name": shared["task"], "type": "robolearn", "env_kwargs": {}})
        total, index = 0, 0
        for path, meta, demos in zip(inputs, metas, names):
            with open_episode_file(path) as src:
                for name in demos:
                    target = f"demo_{index}"
                    src.copy(src["data"][name], data, name=target)
                    demo_meta = {k: meta[k] for k in DEMO_KEYS if k in meta} | json.loads(src["data"][name].attrs["meta"])
                    data[target].attrs["meta"] = json.dumps(demo_meta | {"merged_from": f"{path}:{name}"})
                    total += int(src["data"][name].attrs["num_samples"])
                    index += 1
        data.attrs["total"] = total
        data.attrs["committed"] = index

    out.parent.mkdir(parents=True, exist_ok=True)
    commit(out, build)
    return sum(len(n) for n in names)


def split(path: str | Path, valid: float = 0.1, seed: int = 0) -> dict[str, list[str]]:
    """robomimic's filter keys: `mask/train` and `mask/valid`, a random split of the demos."""
    if not 0.0 < valid < 1.0:
        raise ValueError(f"valid={valid}: must be in (0, 1)")
    names = [ep.name for ep in read_episodes(path)]  # a split of a bad file is refused, the file untouched
    if len(names) < 2:
        raise ValueError(f"{path}: {len(names)} demos; a split needs at least 2")
    order = np.random.default_rng(seed).permutation(len(names))
    n_valid = max(1, int(round(valid * len(names))))
    splits = {"valid": sorted((names[i] for i in order[:n_valid]), key=names.index),
              "train": sorted((names[i] for i in order[n_valid:]), key=names.index)}
    write_splits(path, splits)
    return splits
