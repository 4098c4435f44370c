"""LeRobot's dataset layout (v2.1): export episode files to it and import them back.

    <root>/meta/info.json                 fps, features, totals, path templates
    <root>/meta/episodes.jsonl            per episode: index, tasks, length, robolearn metadata
    <root>/meta/tasks.jsonl               task_index -> task name
    <root>/data/chunk-000/episode_000000.parquet
    <root>/videos/chunk-000/observation.images.main/episode_000000.mp4

Columns: observation.state (38), action (7), next.observation.state, next.reward,
next.done, observation.environment_state (the simulator state), timestamp,
frame_index, episode_index, index, task_index, and action.expert where recorded. Videos are rendered from the recorded
simulator states (sim episodes only). Import reads every parquet file under data/ and
groups rows by episode, so LeRobot v3.0's multi-episode files load the same way.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from demos.episodes import (
    DEMO_KEYS, Episode, EpisodeWriter, file_metadata, imported_episode, read_episodes, read_metadata,
)
from demos.replay import recorded_reset
from robolearn.evaluate import write_video
from robolearn.spec import ACTION_DIM, CONTROL_HZ, STATE_DIM

CODEBASE_VERSION = "v2.1"
CHUNKS_SIZE = 1000
DATA_PATH = "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"
VIDEO_PATH = "videos/chunk-{episode_chunk:03d}/{video_key}/episode_{episode_index:06d}.mp4"
VIDEO_KEY = "observation.images.main"
VIDEO_SIZE = 128
LABEL_KEY = "action.expert"  # a scripted expert's noise-free action, where recorded


def _vector_feature(dim: int, dtype: str = "float32") -> dict:
    return {"dtype": dtype, "shape": [dim], "names": None}


def _render_states(episode: Episode) -> list[np.ndarray]:
    """Camera frames of a sim episode, by restoring each recorded state (no re-simulation)."""
    env = recorded_reset(episode.meta)
    sim = env.unwrapped.sim
    frames = []
    for state in episode.sim_states:
        sim.set_state(state)
        frames.append(sim.render(VIDEO_SIZE, VIDEO_SIZE))
    env.close()
    return frames


def export_lerobot(path: str | Path, out: str | Path, videos: bool = True) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    read_metadata(path)
    episodes = read_episodes(path)
    root = Path(out)
    if (root / "meta" / "info.json").exists():
        raise ValueError(f"out={root}: already holds a LeRobot dataset; choose a new directory")
    (root / "meta").mkdir(parents=True, exist_ok=True)
    tasks = list(dict.fromkeys(ep.meta["task"] for ep in episodes))
    with_video = videos and all(ep.meta.get("source") != "real" for ep in episodes)
    state_dims = {ep.sim_states.shape[1] for ep in episodes}
    index = 0
    episode_lines, stats_lines = [], []
    for i, ep in enumerate(episodes):
        n = ep.length
        table = pa.table({
            "observation.state": list(ep.states_obs.astype(np.float32)),
            "action": list(ep.actions.astype(np.float32)),
            "next.observation.state": list(ep.next_states_obs.astype(np.float32)),
            "next.reward": ep.rewards.astype(np.float32),
            "next.done": ep.dones.astype(bool),
            "observation.environment_state": list(ep.sim_states.astype(np.float64)),
            "timestamp": (np.arange(n) / CONTROL_HZ).astype(np.float32),
            "frame_index": np.arange(n, dtype=np.int64),
            "episode_index": np.full(n, i, dtype=np.int64),
            "index": np.arange(index, index + n, dtype=np.int64),
            "task_index": np.full(n, tasks.index(ep.meta["task"]), dtype=np.int64),
        } | ({LABEL_KEY: list(ep.action_labels.astype(np.float32))} if ep.action_labels is not None else {}))
        file = root / DATA_PATH.format(episode_chunk=i // CHUNKS_SIZE, episode_index=i)
        file.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, file)
        if with_video:
            video = root / VIDEO_PATH.format(episode_chunk=i // CHUNKS_SIZE, video_key=VIDEO_KEY, episode_index=i)
            write_video(video, _render_states(ep), CONTROL_HZ)
        episode_lines.append({"episode_index": i, "tasks": [ep.meta["task"]], "length": n, "robolearn": ep.meta})
        stats_lines.append({"episode_index": i, "stats": {
            key: {"min": v.min(0).tolist(), "max": v.max(0).tolist(), "mean": v.mean(0).tolist(), "std": v.std(0).tolist(),
                  "count": [n]} for key, v in (("observation.state", ep.states_obs), ("action", ep.actions))}})
        index += n
    features = {
        "observation.state": _vector_feature(STATE_DIM), "action": _vector_feature(ACTION_DIM),
        "next.observation.state": _vector_feature(STATE_DIM), "next.reward": _vector_feature(1),
        "next.done": _vector_feature(1, "bool"),
        "observation.environment_state": _vector_feature(max(state_dims) if len(state_dims) == 1 else -1, "float64"),
        "timestamp": _vector_feature(1), "frame_index": _vector_feature(1, "int64"),
        "episode_index": _vector_feature(1, "int64"), "index": _vector_feature(1, "int64"),
        "task_index": _vector_feature(1, "int64"),
    }
    if any(ep.action_labels is not None for ep in episodes):
        features[LABEL_KEY] = _vector_feature(ACTION_DIM)
    if with_video:
        features[VIDEO_KEY] = {"dtype": "video", "shape": [VIDEO_SIZE, VIDEO_SIZE, 3], "names": ["height", "width", "channels"],
                               "info": {"video.fps": CONTROL_HZ, "video.codec": "mp4v", "video.pix_fmt": "yuv420p",
                                        "video.is_depth_map": False, "has_audio": False}}
    robots = {ep.meta.get("robot") for ep in episodes}
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robots.pop() if len(robots) == 1 else "mixed",
            "total_episodes": len(episodes), "total_frames": index, "total_tasks": len(tasks),
            "total_videos": len(episodes) if with_video else 0, "total_chunks": (len(episodes) - 1) // CHUNKS_SIZE + 1,
            "chunks_size": CHUNKS_SIZE, "fps": CONTROL_HZ, "splits": {"train": f"0:{len(episodes)}"},
            "data_path": DATA_PATH, "video_path": VIDEO_PATH if with_video else None, "features": features,
            "robolearn": read_metadata(path)}
    (root / "meta" / "info.json").write_text(json.dumps(info, indent=2))
    _write_jsonl(root / "meta" / "episodes.jsonl", episode_lines)
    _write_jsonl(root / "meta" / "episodes_stats.jsonl", stats_lines)
    _write_jsonl(root / "meta" / "tasks.jsonl", [{"task_index": i, "task": t} for i, t in enumerate(tasks)])
    return root


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _read_json(path: Path) -> object:
    if not path.is_file():
        raise ValueError(f"{path.parent.parent}: not a LeRobot dataset (no meta/{path.name})")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def _column(table, name: str, where: Path, dim: int | None = None) -> np.ndarray:
    if name not in table.column_names:
        raise ValueError(f"{where}: no column {name!r}; columns: {', '.join(table.column_names)}")
    values = np.array(table.column(name).to_pylist())
    if dim is not None and (values.ndim != 2 or values.shape[1] != dim):
        raise ValueError(f"{where}: column {name!r} has shape {values.shape}, expected (T, {dim})")
    return values


def import_lerobot(src: str | Path, out: str | Path) -> int:
    """A LeRobot dataset (state and action in this suite's conventions) -> an episode file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    root = Path(src)
    info = _read_json(root / "meta" / "info.json")
    episode_meta = {row["episode_index"]: row for row in _read_json(root / "meta" / "episodes.jsonl")}
    tasks = {row["task_index"]: row["task"] for row in _read_json(root / "meta" / "tasks.jsonl")}
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise ValueError(f"{root}: no parquet files under data/")
    rows: dict[int, list] = {}
    for file in files:
        try:
            table = pq.read_table(file)
        except Exception as err:  # pyarrow raises several types for damaged files
            raise ValueError(f"{file}: not a readable parquet file ({type(err).__name__}: {err})") from None
        episode_index = _column(table, "episode_index", file)
        for e in np.unique(episode_index):
            rows.setdefault(int(e), []).append((file, table.filter(np.asarray(episode_index == e))))
    base = info.get("robolearn") or {}
    first = next(iter(episode_meta.values()), {}).get("robolearn", {})
    meta = file_metadata(base.get("task", first.get("task", tasks.get(0, "unknown"))),
                         base.get("robot", info.get("robot_type") or "unknown"), base.get("backend", "unknown"),
                         base.get("source", "sim"), imported_from=str(root))
    writer = EpisodeWriter(out, meta)
    for e in sorted(rows):
        parts = rows[e]
        where = parts[0][0]
        table = pa.concat_tables([t for _, t in parts])
        order = np.argsort(_column(table, "frame_index", where))
        state = _column(table, "observation.state", where, STATE_DIM)[order]
        action = _column(table, "action", where, ACTION_DIM)[order]
        has = table.column_names

        def optional(name: str, dim: int | None = None) -> np.ndarray | None:
            return _column(table, name, where, dim)[order] if name in has else None

        ep_meta = dict(episode_meta.get(e, {}).get("robolearn") or {})
        ep_meta.setdefault("task", tasks.get(int(_column(table, "task_index", where)[0]), meta["task"])
                           if "task_index" in has else meta["task"])
        for key in DEMO_KEYS:
            ep_meta.setdefault(key, meta[key])
        writer.append(imported_episode(state, action, ep_meta, optional("next.observation.state", STATE_DIM),
                                       optional("next.reward"), optional("next.done"),
                                       optional("observation.environment_state"), optional(LABEL_KEY, ACTION_DIM)))
    return len(rows)
