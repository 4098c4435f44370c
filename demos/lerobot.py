"""LeRobot's dataset format v3.0 (LeRobot >= 0.4): export episode files to it and import them back.

    <root>/meta/info.json          codebase_version "v3.0", fps, features (dtype, shape, names; a
                                   video's codec and size), totals, file size limits, path templates
    <root>/meta/stats.json         per feature over the dataset: min, max, mean, std, count
    <root>/meta/tasks.parquet      task (the index) -> task_index
    <root>/meta/episodes/chunk-000/file-000.parquet
                                   one row per episode: episode_index, tasks, length, data/chunk_index,
                                   data/file_index, dataset_from_index, dataset_to_index (its rows of
                                   the dataset, to exclusive), videos/<key>/{chunk_index, file_index,
                                   from_timestamp, to_timestamp}, stats/<feature>/{min, max, mean,
                                   std, count}, and robolearn/meta (the demo's metadata, JSON)
    <root>/meta/robolearn.json     the episode file's metadata
    <root>/data/chunk-000/file-000.parquet                         many episodes a file, in order
    <root>/videos/observation.images.<camera>/chunk-000/file-000.mp4   the same episodes back to back

Columns: observation.state (38), action (7), next.observation.state, next.reward, next.done,
observation.environment_state (the simulator state; of varying length when a merged file mixes
robots), timestamp, frame_index, episode_index, index, task_index, and action.expert where every
episode recorded it. A parquet or mp4 file takes episodes until it holds `data_file_mb` (100) or
`video_file_mb` (200), then they go on in the next file, 1000 files a chunk, as in LeRobot.
Videos: one per camera the episodes recorded (obs/<camera>_image, e.g. front and wrist); a
file without recorded cameras gets the front camera rendered from the recorded simulator
states (sim episodes only). Import reads v3.0 with its videos back into the episodes' camera
frames (mp4 is lossy: values come back within a few levels, tests/test_lerobot.py), and v2.1
(one parquet file per episode, meta/episodes.jsonl and meta/tasks.jsonl; its videos are not
read), told apart by meta/info.json's codebase_version.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from robolearn.demos.episodes import (
    DEMO_KEYS, Episode, EpisodeWriter, demo_cameras, file_metadata, imported_episode, read_episode, read_episodes,
    read_metadata,
)
from robolearn.demos.foreign import ForeignLayout
from robolearn.demos.replay import recorded_reset
from robolearn.sims.cameras import DEFAULT_CAMERA
from robolearn.sims.robots import ROBOTS
from robolearn.spec import ACTION_DIM, CONTROL_HZ, STATE_DIM

CODEBASE_VERSION = "v3.0"
CHUNKS_SIZE = 1000  # files per chunk directory
DATA_FILE_MB, VIDEO_FILE_MB = 100, 200  # LeRobot's defaults
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
VIDEO_PREFIX = "observation.images."
VIDEO_CODEC, VIDEO_PIX_FMT = "libsvtav1", "yuv420p"  # AV1, as LeRobot encodes (PyAV's own FFmpeg)
VIDEO_SIZE = 128  # of the front camera rendered from states
LABEL_KEY = "action.expert"  # a scripted expert's noise-free action, where recorded
ENV_STATE = "observation.environment_state"
META_KEY = "robolearn/meta"
MB = 1 << 20

Stats = dict[str, np.ndarray]


def _render_states(episode: Episode) -> np.ndarray:
    """Camera frames (T, H, W, 3) of a sim episode, by restoring each recorded state (no re-simulation)."""
    env = recorded_reset(episode.meta)
    sim = env.unwrapped.sim
    frames = []
    for state in episode.sim_states:
        sim.set_state(state)
        frames.append(sim.render(DEFAULT_CAMERA, VIDEO_SIZE, VIDEO_SIZE))
    env.close()
    return np.stack(frames)


def _shared_cameras(path: str | Path, episodes: list[Episode]) -> dict[str, tuple[int, int, int]]:
    """The cameras every episode recorded, with their frame shapes (one video feature each);
    a camera recorded at different sizes in different episodes is an error."""
    shapes = [demo_cameras(path, ep.name) for ep in episodes]
    shared = {c: shape for c, shape in shapes[0].items() if all(c in s for s in shapes)}
    for camera, shape in shared.items():
        other = next((s[camera] for s in shapes if s[camera] != shape), None)
        if other is not None:
            raise ValueError(f"{path}: camera {camera!r} was recorded at {shape} and at {other}; "
                             "a LeRobot video has one size")
    return shared


def _stats(samples: np.ndarray, count: int, shape: tuple[int, ...], scale: float = 1.0) -> Stats:
    """LeRobot's statistics of one feature over the rows of `samples` (video: pixels / 255, per channel)."""
    return {"min": samples.min(0).reshape(shape) / scale, "max": samples.max(0).reshape(shape) / scale,
            "mean": samples.mean(0, dtype=np.float64).reshape(shape) / scale,
            "std": samples.std(0, dtype=np.float64).reshape(shape) / scale, "count": np.array([count])}


def _aggregate(parts: list[Stats]) -> Stats:
    """Dataset statistics from episode statistics: count-weighted mean, pooled variance (as LeRobot merges)."""
    counts = np.array([p["count"][0] for p in parts], np.float64)
    weights = (counts / counts.sum()).reshape(-1, *[1] * parts[0]["mean"].ndim)
    means = np.stack([p["mean"] for p in parts])
    mean = (weights * means).sum(0)
    variance = (weights * (np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2)).sum(0)
    return {"min": np.min([p["min"] for p in parts], 0), "max": np.max([p["max"] for p in parts], 0), "mean": mean,
            "std": np.sqrt(variance), "count": np.array([int(counts.sum())])}


class _Files:
    """Where episodes go, as in LeRobot: each joins the current chunk-XXX/file-YYY unless that already
    holds `limit_mb`, when it starts the next file (CHUNKS_SIZE files a chunk)."""

    def __init__(self, root: Path, limit_mb: float):
        self.root, self.limit_mb, self.chunk, self.file, self.size_mb = root, limit_mb, 0, 0, 0.0

    def _roll(self) -> None:
        if self.size_mb and self.size_mb >= self.limit_mb:
            self.close()
            self.chunk, self.file = (self.chunk + 1, 0) if self.file == CHUNKS_SIZE - 1 else (self.chunk, self.file + 1)
            self.size_mb = 0.0

    def close(self) -> None:
        raise NotImplementedError


class _DataFiles(_Files):
    """Parquet files of many episodes (sized by their in-memory tables)."""

    def __init__(self, root: Path, limit_mb: float):
        super().__init__(root, limit_mb)
        self.tables: list[pa.Table] = []

    def add(self, table: pa.Table) -> dict[str, int]:
        self._roll()
        self.tables.append(table)
        self.size_mb += table.nbytes / MB
        return {"data/chunk_index": self.chunk, "data/file_index": self.file}

    def close(self) -> None:
        if self.tables:
            path = self.root / DATA_PATH.format(chunk_index=self.chunk, file_index=self.file)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.concat_tables(self.tables), path)
            self.tables = []


def _open_video(target: Path | io.BytesIO, width: int, height: int) -> tuple[Any, Any]:
    """An mp4 container and its AV1 stream in LeRobot's default encoding (libsvtav1, yuv420p, g=2, crf=30)."""
    import av

    os.environ.setdefault("SVT_LOG", "2")  # SVT-AV1 prints its configuration at info level; errors only
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    container = av.open(target if isinstance(target, io.BytesIO) else str(target), "w", format="mp4")
    stream = container.add_stream(VIDEO_CODEC, rate=CONTROL_HZ, options={"g": "2", "crf": "30"})
    stream.width, stream.height, stream.pix_fmt = width, height, VIDEO_PIX_FMT
    return container, stream


def _encode(stream: Any, container: Any, frames: np.ndarray | None) -> None:
    """Encode `frames` into `stream` (None: flush the encoder) and mux the packets."""
    import av

    for frame in ([None] if frames is None else frames):
        picture = None if frame is None else av.VideoFrame.from_ndarray(frame, format="rgb24")
        for packet in stream.encode(picture):
            container.mux(packet)


def _encoded_mb(frames: np.ndarray) -> float:
    """The size of an episode's frames encoded on their own (the encoder holds frames back, so
    the shared file's size shows only once it is closed)."""
    buffer = io.BytesIO()
    container, stream = _open_video(buffer, frames.shape[2], frames.shape[1])
    _encode(stream, container, frames)
    _encode(stream, container, None)
    container.close()
    return len(buffer.getvalue()) / MB


class _VideoFiles(_Files):
    """mp4 files of one camera holding episodes back to back."""

    def __init__(self, root: Path, key: str, limit_mb: float):
        super().__init__(root, limit_mb)
        self.key, self.container, self.stream, self.frames = key, None, None, 0  # frames: in the current file

    def add(self, frames: np.ndarray) -> dict[str, int | float]:
        self._roll()
        if self.container is None:
            path = self.root / VIDEO_PATH.format(video_key=self.key, chunk_index=self.chunk, file_index=self.file)
            self.container, self.stream = _open_video(path, frames.shape[2], frames.shape[1])
            self.frames = 0
        _encode(self.stream, self.container, frames)
        self.size_mb += _encoded_mb(frames)
        prefix, start = f"videos/{self.key}/", self.frames
        self.frames += len(frames)
        return {prefix + "chunk_index": self.chunk, prefix + "file_index": self.file,
                prefix + "from_timestamp": start / CONTROL_HZ, prefix + "to_timestamp": self.frames / CONTROL_HZ}

    def close(self) -> None:
        if self.container is not None:
            _encode(self.stream, self.container, None)
            self.container.close()
            self.container = None


def _arrow(values: np.ndarray, ragged: bool = False) -> pa.Array:
    """A column: scalars, or per-row vectors as fixed-size lists (as LeRobot writes them) unless their sizes vary."""
    if values.ndim == 1:
        return pa.array(values)
    if ragged:
        return pa.array(list(values))
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def _tasks_table(tasks: list[str]) -> pa.Table:
    """meta/tasks.parquet with the pandas metadata that makes `task` the index, which is how LeRobot reads it."""
    columns = [{"name": name, "field_name": name, "pandas_type": kind, "numpy_type": dtype, "metadata": None}
               for name, kind, dtype in (("task_index", "int64", "int64"), ("task", "unicode", "object"))]
    pandas = {"index_columns": ["task"], "column_indexes": [], "columns": columns, "pandas_version": "2.2.3",
              "creator": {"library": "pyarrow", "version": pa.__version__}}
    table = pa.table({"task_index": pa.array(range(len(tasks)), pa.int64()), "task": pa.array(tasks, pa.string())})
    return table.replace_schema_metadata({"pandas": json.dumps(pandas)})


def export_lerobot(path: str | Path, out: str | Path, videos: bool = True, data_file_mb: float = DATA_FILE_MB,
                   video_file_mb: float = VIDEO_FILE_MB, skip_bad: bool = False) -> Path:
    file_meta = read_metadata(path)
    episodes = read_episodes(path, skip_bad=skip_bad)
    if not episodes:
        raise ValueError(f"{path}: no demos to export")
    root = Path(out)
    if (root / "meta" / "info.json").exists():
        raise ValueError(f"out={root}: already holds a LeRobot dataset; choose a new directory")
    tasks = list(dict.fromkeys(ep.meta["task"] for ep in episodes))
    layouts = {ForeignLayout.of(ep.meta) for ep in episodes}
    if len(layouts) > 1:
        raise ValueError(f"{path}: mixes robots of other state or action sizes; export each robot's demos on its own")
    layout = layouts.pop()  # another robot's: its own values go out (demos/foreign.py)
    state_dims = {ep.sim_states.shape[1] for ep in episodes}
    ragged = len(state_dims) > 1  # merged files may mix robots with different simulator states
    labels = all(ep.action_labels is not None for ep in episodes)  # one schema for every file
    cameras = _shared_cameras(path, episodes) if videos else {}
    rendered = videos and not cameras and all(ep.meta.get("source") != "real" and ep.sim_states.shape[1]
                                              for ep in episodes)
    if rendered:
        cameras = {DEFAULT_CAMERA: (VIDEO_SIZE, VIDEO_SIZE, 3)}
    data = _DataFiles(root, data_file_mb)
    video = {camera: _VideoFiles(root, VIDEO_PREFIX + camera, video_file_mb) for camera in cameras}
    rows, episode_stats = [], []
    index = 0
    for i, ep in enumerate(episodes):
        n = ep.length
        states, actions, next_states = ep.states_obs, ep.actions, ep.next_states_obs
        if layout is not None:
            states, actions = layout.state_to_native(states), layout.action_to_native(actions)
            next_states = layout.state_to_native(next_states)
        columns = {
            "observation.state": states.astype(np.float32), "action": actions.astype(np.float32),
            "next.observation.state": next_states.astype(np.float32),
            "next.reward": ep.rewards.astype(np.float32), "next.done": ep.dones.astype(bool),
        } | ({ENV_STATE: ep.sim_states.astype(np.float64)} if max(state_dims) else {}) | {
            "timestamp": (np.arange(n) / CONTROL_HZ).astype(np.float32),
            "frame_index": np.arange(n, dtype=np.int64), "episode_index": np.full(n, i, dtype=np.int64),
            "index": np.arange(index, index + n, dtype=np.int64),
            "task_index": np.full(n, tasks.index(ep.meta["task"]), dtype=np.int64),
        } | ({LABEL_KEY: ep.action_labels.astype(np.float32)} if labels else {})
        table = pa.table({k: _arrow(v, ragged and k == ENV_STATE) for k, v in columns.items()})
        row = {"episode_index": i, "tasks": [ep.meta["task"]], "length": n, **data.add(table),
               "dataset_from_index": index, "dataset_to_index": index + n}
        stats = {k: _stats(v.reshape(n, -1), n, (-1,)) for k, v in columns.items()}
        recorded = read_episode(path, ep.name, images=True).images if cameras and not rendered else {}
        for camera, files in video.items():
            frames = _render_states(ep) if rendered else recorded[camera]
            row |= files.add(frames)
            stats[VIDEO_PREFIX + camera] = _stats(frames.reshape(-1, 3), n, (3, 1, 1), scale=255.0)
        row |= {"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0}
        row |= {f"stats/{k}/{s}": v.tolist() for k, feature in stats.items() for s, v in feature.items()}
        rows.append(row | {META_KEY: json.dumps(ep.meta)})
        episode_stats.append(stats)
        index += n
    data.close()
    for files in video.values():
        files.close()

    features = {k: {"dtype": v.dtype.name, "shape": [v.shape[1] if v.ndim == 2 else 1], "names": None}
                for k, v in columns.items()}
    if ragged:
        features[ENV_STATE]["shape"] = [-1]
    for camera, (height, width, _) in cameras.items():
        features[VIDEO_PREFIX + camera] = {
            "dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"],
            "info": {"video.height": height, "video.width": width, "video.codec": "av1",
                     "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": CONTROL_HZ,
                     "video.channels": 3, "has_audio": False}}
    robots = {ep.meta.get("robot") for ep in episodes}
    info = {"codebase_version": CODEBASE_VERSION, "robot_type": robots.pop() if len(robots) == 1 else "mixed",
            "total_episodes": len(episodes), "total_frames": index, "total_tasks": len(tasks),
            "chunks_size": CHUNKS_SIZE, "data_files_size_in_mb": data_file_mb, "video_files_size_in_mb": video_file_mb,
            "fps": CONTROL_HZ,
            "splits": {"train": f"0:{len(episodes)}"}, "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if cameras else None, "features": features}
    # Dataset statistics of the features whose shape every episode shares.
    stats = {k: {s: v.tolist() for s, v in _aggregate([e[k] for e in episode_stats]).items()}
             for k in episode_stats[0] if len({e[k]["mean"].shape for e in episode_stats}) == 1}
    meta = root / "meta"
    (meta / "episodes" / "chunk-000").mkdir(parents=True, exist_ok=True)
    (meta / "info.json").write_text(json.dumps(info, indent=2))
    (meta / "stats.json").write_text(json.dumps(stats, indent=2))
    (meta / "robolearn.json").write_text(json.dumps(file_meta, indent=2))
    pq.write_table(_tasks_table(tasks), meta / "tasks.parquet")
    pq.write_table(pa.Table.from_pylist(rows), root / EPISODES_PATH)
    return root


# ---------------------------------------------------------------------------- import
def _parse_json(text: str, where: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err})") from None


def _read_parquet(path: Path) -> pa.Table:
    try:
        return pq.read_table(path)
    except Exception as err:  # pyarrow raises several types for damaged files
        raise ValueError(f"{path}: not a readable parquet file ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else ''})") from None


def _records(root: Path, name: str, keys: tuple[str, ...]) -> list[dict]:
    """The rows of a metadata file (JSON lines or parquet), each checked for `keys`."""
    path = root / name
    if not path.is_file():
        raise ValueError(f"{root}: not a LeRobot dataset (no {name})")
    if path.suffix == ".parquet":
        rows = _read_parquet(path).to_pylist()
    else:
        rows = [_parse_json(line, path) for line in path.read_text().splitlines() if line.strip()]
    for i, row in enumerate(rows):
        missing = [k for k in keys if not isinstance(row, dict) or k not in row]
        if missing:
            raise ValueError(f"{path}: row {i} has no {missing[0]!r}")
    return rows


def _v30_meta(root: Path, info: dict) -> tuple[dict[int, dict], dict[int, str], dict]:
    """Per-episode robolearn metadata, task names and file metadata of a v3.0 dataset."""
    files = sorted((root / "meta" / "episodes").glob("*/*.parquet"))
    if not files:
        raise ValueError(f"{root}: not a LeRobot v3.0 dataset (no meta/episodes/chunk-*/file-*.parquet)")
    episodes = {row["episode_index"]: _parse_json(row.get(META_KEY) or "{}", file)
                for file in files for row in _records(root, file.relative_to(root).as_posix(), ("episode_index",))}
    tasks = {row["task_index"]: row["task"] for row in _records(root, "meta/tasks.parquet", ("task_index", "task"))}
    own = root / "meta" / "robolearn.json"
    return episodes, tasks, _parse_json(own.read_text(), own) if own.is_file() else {}


def _v21_meta(root: Path, info: dict) -> tuple[dict[int, dict], dict[int, str], dict]:
    """The same of a v2.1 dataset (robolearn's own v2.1 exports kept them in episodes.jsonl and info.json)."""
    episodes = {row["episode_index"]: row.get("robolearn") or {}
                for row in _records(root, "meta/episodes.jsonl", ("episode_index",))}
    tasks = {row["task_index"]: row["task"] for row in _records(root, "meta/tasks.jsonl", ("task_index", "task"))}
    return episodes, tasks, info.get("robolearn") or {}


_READERS = {"v3.0": _v30_meta, "v2.1": _v21_meta}


class _VideoReader:
    """Frames of one camera's mp4 files, read in order: consecutive episodes of a file are
    decoded without seeking (a file is reopened only to go back)."""

    def __init__(self, root: Path, key: str, fps: float):
        self.root, self.key, self.fps = root, key, fps
        self.container, self.decoded, self.file, self.position = None, None, (-1, -1), 0

    def read(self, row: dict, length: int) -> np.ndarray:
        import av

        prefix = f"videos/{self.key}/"
        file = (int(row[prefix + "chunk_index"]), int(row[prefix + "file_index"]))
        start = int(round(float(row[prefix + "from_timestamp"]) * self.fps))
        path = self.root / VIDEO_PATH.format(video_key=self.key, chunk_index=file[0], file_index=file[1])
        if self.container is None or file != self.file or start < self.position:
            if not path.is_file():
                raise ValueError(f"{self.root}: episode {row['episode_index']} names {path.relative_to(self.root)}, "
                                 "which does not exist")
            self.close()
            try:
                self.container = av.open(str(path))
            except av.error.FFmpegError as err:
                raise ValueError(f"{path}: not a readable video ({err})") from None
            self.decoded, self.file, self.position = self.container.decode(video=0), file, 0
        frames = []
        while self.position < start + length:
            frame = next(self.decoded, None)
            if frame is None:
                raise ValueError(f"{path}: ends at frame {self.position}; episode {row['episode_index']} needs "
                                 f"frames {start} to {start + length}")
            if self.position >= start:
                frames.append(frame.to_ndarray(format="rgb24"))
            self.position += 1
        return np.stack(frames)

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None


def _video_rows(root: Path, info: dict) -> tuple[dict[str, _VideoReader], dict[int, dict]]:
    """A reader per camera of a v3.0 dataset, and each episode's row of meta/episodes (where its frames are)."""
    keys = [k for k, f in (info.get("features") or {}).items()
            if isinstance(f, dict) and f.get("dtype") == "video" and k.startswith(VIDEO_PREFIX)]
    if not keys:
        return {}, {}
    rows = {}
    for file in sorted((root / "meta" / "episodes").glob("*/*.parquet")):
        fields = ("episode_index", *(f"videos/{k}/{f}" for k in keys for f in ("chunk_index", "file_index",
                                                                                   "from_timestamp")))
        rows |= {row["episode_index"]: row for row in _records(root, file.relative_to(root).as_posix(), fields)}
    fps = float(info.get("fps") or CONTROL_HZ)
    return {k[len(VIDEO_PREFIX):]: _VideoReader(root, k, fps) for k in keys}, rows


def _column(table: pa.Table, name: str, where: Path, dim: int | None = None) -> np.ndarray:
    if name not in table.column_names:
        raise ValueError(f"{where}: no column {name!r}; columns: {', '.join(table.column_names)}")
    values = np.array(table.column(name).to_pylist())
    if dim is not None and (values.ndim != 2 or values.shape[1] != dim):
        raise ValueError(f"{where}: column {name!r} has shape {values.shape}, expected (T, {dim})")
    return values


def _width(table: pa.Table, name: str, where: Path) -> int:
    """How many values each row of a vector column holds."""
    values = _column(table, name, where)
    if values.ndim != 2:
        raise ValueError(f"{where}: column {name!r} has shape {values.shape}, expected (T, values per step)")
    return values.shape[1]


def _stats_range(root: Path, key: str, dim: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The (min, max) of `key` in meta/stats.json, where it has them for `dim` values."""
    path = root / "meta" / "stats.json"
    stats = _parse_json(path.read_text(), path) if path.is_file() else {}
    feature = stats.get(key) if isinstance(stats, dict) else None
    try:
        low, high = (np.asarray(feature[s], np.float64).reshape(-1) for s in ("min", "max"))
    except (KeyError, TypeError, ValueError):
        return None, None
    return (low, high) if len(low) == len(high) == dim else (None, None)


def _is_foreign(where: Path, robot: str, state_dim: int, action_dim: int) -> bool:
    """Whether data of these sizes is another robot's (in its own conventions), or the suite's."""
    if (state_dim, action_dim) == (STATE_DIM, ACTION_DIM):
        return False
    shapes = f"observation.state has {state_dim} values and action {action_dim}"
    if robot in ROBOTS:
        raise ValueError(f"{where}: {shapes}; robot {robot!r} is one of the suite's, whose data has {STATE_DIM} and "
                         f"{ACTION_DIM}: name the dataset's own robot with robot=<name>")
    if robot == "unknown":
        raise ValueError(f"{where}: {shapes} (another robot's conventions) and no robot_type: name it with robot=<name>")
    return True


def import_lerobot(src: str | Path, out: str | Path, robot: str = "", task: str = "") -> int:
    """A LeRobot dataset, v3.0 or v2.1 -> an episode file. Data in the suite's conventions (38-d
    state, 7-d action) comes in as it is; another robot's (other sizes: `robot` names it where
    info.json's robot_type does not) is mapped into them (demos/foreign.py). `task` names the
    task of every episode (e.g. a suite task for a dataset whose tasks are sentences)."""
    root = Path(src)
    info_path = root / "meta" / "info.json"
    if not info_path.is_file():
        raise ValueError(f"{root}: not a LeRobot dataset (no meta/info.json)")
    info = _parse_json(info_path.read_text(), info_path)
    version = info.get("codebase_version") if isinstance(info, dict) else None
    if version not in _READERS:
        raise ValueError(f"{info_path}: codebase_version {version!r}; this robolearn reads {', '.join(_READERS)}")
    episode_meta, tasks, base = _READERS[version](root, info)
    videos, video_rows = _video_rows(root, info) if version == "v3.0" else ({}, {})
    files = sorted((root / "data").rglob("*.parquet"))
    if not files:
        raise ValueError(f"{root}: no parquet files under data/")
    rows: dict[int, list] = {}
    for file in files:
        table = _read_parquet(file)
        episode_index = _column(table, "episode_index", file)
        for e in np.unique(episode_index):
            rows.setdefault(int(e), []).append((file, table.filter(pa.array(episode_index == e))))
    first = next(iter(episode_meta.values()), {})
    meta = file_metadata(task or base.get("task", first.get("task", tasks.get(0, "unknown"))),
                         robot or base.get("robot", info.get("robot_type") or "unknown"), base.get("backend", "unknown"),
                         base.get("source", "sim"), imported_from=str(root))
    dims: tuple[int, int] | None = None
    foreign = False
    read = []
    for e in sorted(rows):
        parts = rows[e]
        where = parts[0][0]
        table = pa.concat_tables([t for _, t in parts])
        if dims is None:  # the first episode sets the sizes; every other must have them
            dims = _width(table, "observation.state", where), _width(table, "action", where)
            foreign = _is_foreign(where, meta["robot"], *dims)
        order = np.argsort(_column(table, "frame_index", where), kind="stable")
        has = table.column_names

        def optional(name: str, dim: int | None = None) -> np.ndarray | None:
            return _column(table, name, where, dim)[order] if name in has else None

        ep_meta = dict(episode_meta.get(e) or {})
        ep_meta.setdefault("task", tasks.get(int(_column(table, "task_index", where)[0]), meta["task"])
                           if "task_index" in has else meta["task"])
        ep_meta |= {"task": task} if task else {}
        ep_meta |= {"robot": robot} if robot else {}
        for key in DEMO_KEYS:
            ep_meta.setdefault(key, meta[key])
        read.append(dict(states=_column(table, "observation.state", where, dims[0])[order],
                         actions=_column(table, "action", where, dims[1])[order], meta=ep_meta,
                         next_states=optional("next.observation.state", dims[0]), rewards=optional("next.reward"),
                         dones=optional("next.done"), sim_states=optional(ENV_STATE),
                         labels=optional(LABEL_KEY, dims[1]),
                         images={camera: reader.read(video_rows[e], len(order)) for camera, reader in videos.items()}))
    for reader in videos.values():
        reader.close()
    if dims and foreign:  # the robot's own values, mapped; its simulator state and labels mean nothing here
        layout = ForeignLayout.fitted(dims[0], np.concatenate([r["actions"] for r in read]),
                                      *_stats_range(root, "action", dims[1]))
        meta |= layout.as_meta()
        for r in read:
            r |= {"states": layout.state_to_suite(r["states"]), "actions": layout.action_to_suite(r["actions"]),
                  "sim_states": None, "labels": None, "meta": r["meta"] | layout.as_meta()}
            if r["next_states"] is not None:
                r["next_states"] = layout.state_to_suite(r["next_states"])
    with EpisodeWriter(out, meta) as writer:  # only once everything read: a bad dataset leaves `out` untouched
        for r in read:
            writer.append(imported_episode(**r))
    return len(read)
