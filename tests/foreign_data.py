"""Synthetic LeRobot v3.0 datasets of robots outside the suite, written as another lab's tools
would (their own state and action sizes and units), for the import and pooling tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# name: (state values, action values, action scale): an SO-100-like arm in joint radians and
# a Koch-like arm in servo ticks around 2048.
ROBOTS = {"so100": (12, 6, 2.5), "koch": (20, 5, 2048.0)}


def write_dataset(root: Path, robot: str, episodes: int = 3, length: int = 30, seed: int = 0,
                  with_stats: bool = False) -> dict[str, np.ndarray]:
    """A v3.0 dataset of `robot` under `root`; returns the values written (state, action, episode_index)."""
    state_dim, action_dim, scale = ROBOTS[robot]
    rng = np.random.default_rng(seed)
    n = episodes * length
    offset = scale if robot == "koch" else 0.0
    state = (rng.normal(offset, scale / 3, (n, state_dim))).astype(np.float32)
    action = (rng.uniform(-scale, scale, (n, action_dim)) + offset).astype(np.float32)
    episode = np.repeat(np.arange(episodes), length)
    frame = np.tile(np.arange(length), episodes)
    (root / "data" / "chunk-000").mkdir(parents=True)
    (root / "meta" / "episodes" / "chunk-000").mkdir(parents=True)
    pq.write_table(pa.table({"observation.state": list(state), "action": list(action),
                             "next.reward": rng.uniform(0, 1, n).astype(np.float32),
                             "episode_index": episode, "frame_index": frame, "index": np.arange(n),
                             "task_index": np.zeros(n, np.int64),
                             "timestamp": (frame / 30).astype(np.float32)}),
                   root / "data" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.table({"episode_index": np.arange(episodes), "length": np.full(episodes, length),
                             "tasks": [["pick up the block"]] * episodes}),
                   root / "meta" / "episodes" / "chunk-000" / "file-000.parquet")
    pq.write_table(pa.table({"task": ["pick up the block"], "task_index": [0]}), root / "meta" / "tasks.parquet")
    features = {"observation.state": {"dtype": "float32", "shape": [state_dim]},
                "action": {"dtype": "float32", "shape": [action_dim]}}
    (root / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "robot_type": robot, "fps": 30,
                                                         "features": features}))
    if with_stats:  # the range the importer should scale by, wider than this sample of it
        (root / "meta" / "stats.json").write_text(json.dumps({"action": {
            "min": [offset - 2 * scale] * action_dim, "max": [offset + 2 * scale] * action_dim}}))
    return {"state": state, "action": action, "episode_index": episode}
