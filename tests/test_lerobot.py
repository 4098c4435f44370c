"""LeRobot datasets: v3.0 export checked against LeRobot's documented layout, round trips, v2.1 import, bad input."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from robolearn.demos import datasets
from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.demos.lerobot import export_lerobot, import_lerobot
from robolearn.demos.recorder import record
from robolearn.demos.replay import replay
from robolearn.cli import main

VIDEO = "observation.images.front"  # rendered from the states: these files recorded no camera
FIELDS = ("states_obs", "next_states_obs", "actions", "action_labels", "rewards", "dones", "sim_states")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two noisy scripted pick_place episodes on the Panda (with expert labels), and one on the xArm6."""
    root = tmp_path_factory.mktemp("lerobot")
    files = {"panda": root / "panda.hdf5", "xarm6": root / "xarm6.hdf5"}
    record("pick_place", "panda", "mujoco", ScriptedDevice(noise=0.05, seed=1), files["panda"], episodes=2, seed=5,
           source="sim")
    record("pick_place", "xarm6", "mujoco", ScriptedDevice(), files["xarm6"], episodes=1, source="sim")
    return files


def _assert_same_demos(original: Path, back: Path) -> None:
    a, b = read_episodes(original), read_episodes(back)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=f"{x.name}: {field}")
        assert x.meta == y.meta
    assert {k: read_metadata(back)[k] for k in ("task", "robot", "backend", "source")} == \
        {k: read_metadata(original)[k] for k in ("task", "robot", "backend", "source")}


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    """A parquet column in its own dtype; vectors must be fixed-size lists, as LeRobot writes them."""
    column = column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        return column.flatten().to_numpy(zero_copy_only=False).reshape(len(column), column.type.list_size)
    assert not pa.types.is_list(column.type)
    return column.to_numpy(zero_copy_only=False)


def _frames(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_round_trip_through_the_cli_keeps_every_value(recorded: dict[str, Path], tmp_path: Path) -> None:
    root, back = tmp_path / "lr", tmp_path / "back.hdf5"
    assert main(["data", "export", f"file={recorded['panda']}", f"out={root}"]) == 0
    assert '"codebase_version": "v3.0"' in (root / "meta" / "info.json").read_text()
    # Both episodes share one parquet file and one mp4, back to back.
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet", "meta/info.json",
        "meta/robolearn.json", "meta/stats.json", "meta/tasks.parquet", f"videos/{VIDEO}/chunk-000/file-000.mp4"]
    lengths = [ep.length for ep in read_episodes(recorded["panda"])]
    assert _frames(root / "videos" / VIDEO / "chunk-000" / "file-000.mp4") == sum(lengths)
    episodes = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    assert episodes[1][f"videos/{VIDEO}/from_timestamp"] == pytest.approx(lengths[0] / 20)
    assert main(["data", "import", f"src={root}", f"out={back}", "format=lerobot"]) == 0
    _assert_same_demos(recorded["panda"], back)
    assert replay(back, "demo_0").max_state_error < 1e-9
    with pytest.raises(ValueError, match="already holds a LeRobot dataset"):
        export_lerobot(recorded["panda"], root)


def test_layout_follows_lerobot_v30_field_by_field(recorded: dict[str, Path], tmp_path: Path) -> None:
    # Tiny file limits put each episode in a file of its own: chunk/file indices and offsets must agree.
    root = export_lerobot(recorded["panda"], tmp_path / "lr", data_file_mb=0.01, video_file_mb=0.01)
    source = read_episodes(recorded["panda"])
    info = json.loads((root / "meta" / "info.json").read_text())
    assert set(info) == {"codebase_version", "robot_type", "total_episodes", "total_frames", "total_tasks",
                         "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb", "fps", "splits",
                         "data_path", "video_path", "features"}
    assert (info["codebase_version"], info["robot_type"], info["fps"], info["chunks_size"]) == \
        ("v3.0", "panda", 20, 1000)
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == \
        (2, sum(ep.length for ep in source), 1)
    assert (info["data_files_size_in_mb"], info["video_files_size_in_mb"], info["splits"]) == \
        (0.01, 0.01, {"train": "0:2"})
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"

    data_files = sorted((root / "data").rglob("*.parquet"))
    assert [p.relative_to(root).as_posix() for p in data_files] == \
        ["data/chunk-000/file-000.parquet", "data/chunk-000/file-001.parquet"]
    data = pa.concat_tables([pq.read_table(p) for p in data_files])
    features = info["features"]
    assert set(features) == set(data.column_names) | {VIDEO}
    assert {"observation.state", "action", "next.observation.state", "next.reward", "next.done",
            "observation.environment_state", "timestamp", "frame_index", "episode_index", "index", "task_index",
            "action.expert"} == set(data.column_names)
    columns = {k: _numpy(data.column(k)) for k in data.column_names}
    for key, column in columns.items():
        assert set(features[key]) == {"dtype", "shape", "names"}
        assert features[key]["dtype"] == column.dtype.name and features[key]["shape"] == [column[0].size], key
    assert features["observation.state"]["shape"] == [38] and features["action"]["shape"] == [7]
    assert features[VIDEO] == {"dtype": "video", "shape": [128, 128, 3], "names": ["height", "width", "channels"],
                               "info": {"video.height": 128, "video.width": 128, "video.codec": "av1",
                                        "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": 20,
                                        "video.channels": 3, "has_audio": False}}
    np.testing.assert_array_equal(columns["index"], np.arange(info["total_frames"]))

    episodes = pq.read_table(root / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    stats_names = {f"stats/{k}/{s}" for k in features for s in ("min", "max", "mean", "std", "count")}
    video_names = {f"videos/{VIDEO}/{k}" for k in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")}
    for i, (row, ep) in enumerate(zip(episodes, source)):
        assert set(row) == {"episode_index", "tasks", "length", "data/chunk_index", "data/file_index",
                            "dataset_from_index", "dataset_to_index", "meta/episodes/chunk_index",
                            "meta/episodes/file_index", "robolearn/meta"} | video_names | stats_names
        assert (row["episode_index"], row["tasks"], row["length"]) == (i, ["pick_place"], ep.length)
        assert (row["data/chunk_index"], row["data/file_index"]) == (0, i)
        assert row["dataset_to_index"] - row["dataset_from_index"] == ep.length
        assert row["dataset_from_index"] == sum(e.length for e in source[:i])
        rows = pq.read_table(root / info["data_path"].format(chunk_index=0, file_index=i)).to_pylist()
        assert [r["index"] for r in rows] == list(range(row["dataset_from_index"], row["dataset_to_index"]))
        assert {r["episode_index"] for r in rows} == {i} and [r["frame_index"] for r in rows] == list(range(ep.length))
        np.testing.assert_allclose([r["timestamp"] for r in rows], np.arange(ep.length) / 20, atol=1e-6)
        video = root / info["video_path"].format(video_key=VIDEO, chunk_index=0, file_index=i)
        assert (row[f"videos/{VIDEO}/chunk_index"], row[f"videos/{VIDEO}/file_index"]) == (0, i)
        assert _frames(video) == ep.length
        assert (row[f"videos/{VIDEO}/from_timestamp"], row[f"videos/{VIDEO}/to_timestamp"]) == (0.0, ep.length / 20)
        assert json.loads(row["robolearn/meta"]) == ep.meta
        mask = columns["episode_index"] == i
        for key, column in columns.items():  # per-episode statistics
            values = column[mask].reshape(ep.length, -1).astype(np.float64)
            np.testing.assert_allclose(row[f"stats/{key}/mean"], values.mean(0), rtol=1e-9, atol=1e-12, err_msg=key)
            assert row[f"stats/{key}/count"] == [ep.length]

    tasks = pq.read_table(root / "meta" / "tasks.parquet")
    assert tasks.to_pylist() == [{"task_index": 0, "task": "pick_place"}]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]  # LeRobot reads it with pandas

    stats = json.loads((root / "meta" / "stats.json").read_text())
    assert set(stats) == set(features)
    for key, column in columns.items():
        values = column.reshape(len(column), -1).astype(np.float64)
        for name, expected in (("min", values.min(0)), ("max", values.max(0)), ("mean", values.mean(0)),
                               ("std", values.std(0))):
            np.testing.assert_allclose(stats[key][name], expected, rtol=1e-9, atol=1e-12, err_msg=f"{key} {name}")
        assert stats[key]["count"] == [info["total_frames"]]
    image = {k: np.array(v) for k, v in stats[VIDEO].items()}
    assert image["mean"].shape == (3, 1, 1) and 0 <= image["min"].min() < image["mean"].min() < image["max"].max() <= 1
    assert image["count"].tolist() == [info["total_frames"]]


def test_recorded_cameras_become_one_video_each_and_come_back(tmp_path: Path) -> None:
    """Every recorded camera is an mp4 feature of its own; import decodes them into the same
    frames within the codec's loss (AV1 at crf 30, yuv420p: a mean error under 3 levels of 255)."""
    original, root, back = tmp_path / "cams.hdf5", tmp_path / "lr", tmp_path / "back.hdf5"
    record("reach", "kuka", "pybullet", ScriptedDevice(), original, episodes=2, source="sim",
           cameras=("front", "wrist"), image_size=64)
    export_lerobot(original, root)
    info = json.loads((root / "meta" / "info.json").read_text())
    keys = {"observation.images.front", "observation.images.wrist"}
    assert keys <= set(info["features"]) and all(info["features"][k]["shape"] == [64, 64, 3] for k in keys)
    assert set(json.loads((root / "meta" / "stats.json").read_text())) >= keys
    import_lerobot(root, back)
    _assert_same_demos(original, back)
    for a, b in zip(read_episodes(original, images=True), read_episodes(back, images=True)):
        assert set(a.images) == set(b.images) == {"front", "wrist"}
        for camera in a.images:
            assert a.images[camera].shape == b.images[camera].shape
            error = np.abs(a.images[camera].astype(int) - b.images[camera])
            assert error.mean() < 3.0, (a.name, camera, error.mean())


def test_mixed_robots_and_no_video(recorded: dict[str, Path], tmp_path: Path) -> None:
    merged = tmp_path / "merged.hdf5"
    datasets.merge([recorded["panda"], recorded["xarm6"]], merged)
    root = export_lerobot(merged, tmp_path / "lr", videos=False)
    info = json.loads((root / "meta" / "info.json").read_text())
    # Simulator states of different sizes: a variable-length column, left out of the dataset statistics.
    assert info["features"]["observation.environment_state"]["shape"] == [-1] and info["robot_type"] == "mixed"
    assert info["video_path"] is None and not (root / "videos").exists() and VIDEO not in info["features"]
    assert "observation.environment_state" not in json.loads((root / "meta" / "stats.json").read_text())
    import_lerobot(root, tmp_path / "back.hdf5")
    _assert_same_demos(merged, tmp_path / "back.hdf5")


def _write_v21(v30: Path, out: Path, robolearn: bool = True) -> Path:
    """The same dataset in LeRobot's v2.1 layout (one parquet per episode, JSON-lines metadata), as robolearn
    wrote it before v3.0 when `robolearn`."""
    info = json.loads((v30 / "meta" / "info.json").read_text())
    episodes = pq.read_table(v30 / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    data = pa.concat_tables([pq.read_table(p) for p in sorted((v30 / "data").rglob("*.parquet"))])
    lines = []
    for row in episodes:
        e = row["episode_index"]
        (out / "data" / "chunk-000").mkdir(parents=True, exist_ok=True)
        pq.write_table(data.filter(pc.equal(data.column("episode_index"), e)),
                       out / "data" / "chunk-000" / f"episode_{e:06d}.parquet")
        lines.append({"episode_index": e, "tasks": row["tasks"], "length": row["length"]}
                     | ({"robolearn": json.loads(row["robolearn/meta"])} if robolearn else {}))
    info |= {"codebase_version": "v2.1", "total_chunks": 1, "total_videos": 0, "video_path": None,
             "data_path": "data/chunk-{episode_chunk:03d}/episode_{episode_index:06d}.parquet"}
    info["features"].pop(VIDEO, None)
    if robolearn:
        info["robolearn"] = json.loads((v30 / "meta" / "robolearn.json").read_text())
    (out / "meta").mkdir(parents=True)
    (out / "meta" / "info.json").write_text(json.dumps(info))
    (out / "meta" / "episodes.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (out / "meta" / "tasks.jsonl").write_text(json.dumps({"task_index": 0, "task": "pick_place"}) + "\n")
    return out


def test_v21_datasets_and_foreign_datasets_still_import(recorded: dict[str, Path], tmp_path: Path) -> None:
    v30 = export_lerobot(recorded["panda"], tmp_path / "v30", videos=False)
    assert import_lerobot(_write_v21(v30, tmp_path / "v21"), tmp_path / "v21.hdf5") == 2
    _assert_same_demos(recorded["panda"], tmp_path / "v21.hdf5")
    # Datasets made elsewhere carry no robolearn metadata: tasks and robot type come from LeRobot's own files.
    (v30 / "meta" / "robolearn.json").unlink()
    episodes = v30 / "meta" / "episodes" / "chunk-000" / "file-000.parquet"
    pq.write_table(pq.read_table(episodes).drop_columns(["robolearn/meta"]), episodes)
    for src in (v30, _write_v21(v30, tmp_path / "v21_foreign", robolearn=False)):
        out = tmp_path / f"{src.name}.hdf5"
        assert import_lerobot(src, out) == 2
        meta = read_metadata(out)
        assert (meta["task"], meta["robot"], meta["source"]) == ("pick_place", "panda", "sim")
        back = read_episodes(out)
        assert [ep.meta["task"] for ep in back] == ["pick_place"] * 2
        np.testing.assert_array_equal(back[1].actions, read_episodes(recorded["panda"])[1].actions)


def test_bad_datasets_give_one_line_errors(recorded: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    good = export_lerobot(recorded["panda"], tmp_path / "good", videos=False)

    def broken(name: str, edit) -> Path:
        root = tmp_path / name
        shutil.copytree(good, root)
        edit(root)
        return root

    def set_version(version: str):
        def edit(root: Path) -> None:
            info = json.loads((root / "meta" / "info.json").read_text())
            (root / "meta" / "info.json").write_text(json.dumps(info | {"codebase_version": version}))
        return edit

    def narrow_actions(root: Path) -> None:
        path = root / "data" / "chunk-000" / "file-000.parquet"
        table = pq.read_table(path)
        actions = np.array(table.column("action").to_pylist())[:, :6]
        pq.write_table(table.set_column(table.column_names.index("action"), "action", pa.array(list(actions))), path)

    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (empty, f"{empty}: not a LeRobot dataset \\(no meta/info.json\\)"),
        (broken("v16", set_version("v1.6")), "info.json: codebase_version 'v1.6'; this robolearn reads v3.0, v2.1"),
        (broken("garbled", lambda r: (r / "meta" / "info.json").write_text("{")), "meta/info.json: not valid JSON"),
        (broken("no_episodes", lambda r: shutil.rmtree(r / "meta" / "episodes")), "no meta/episodes/chunk-"),
        (broken("no_tasks", lambda r: (r / "meta" / "tasks.parquet").unlink()), "no meta/tasks.parquet"),
        (broken("no_data", lambda r: shutil.rmtree(r / "data")), "no parquet files under data/"),
        (broken("truncated", lambda r: (r / "data" / "chunk-000" / "file-000.parquet").write_bytes(b"PAR1")),
         "file-000.parquet: not a readable parquet file"),
        (broken("narrow", narrow_actions), "action 6; robot 'panda' is one of the suite's, whose data has 38 and 7"),
        (broken("v21_no_jsonl", set_version("v2.1")), "no meta/episodes.jsonl"),
    ]
    before = recorded["xarm6"].read_bytes()
    for src, message in cases:
        with pytest.raises(ValueError, match=message) as err:
            import_lerobot(src, recorded["xarm6"])
        assert "\n" not in str(err.value), str(err.value)
    assert recorded["xarm6"].read_bytes() == before  # a failed import writes nothing over an existing file
    capsys.readouterr()
    assert main(["data", "import", f"src={tmp_path / 'v16'}", f"out={tmp_path / 'x.hdf5'}", "format=lerobot"]) == 1
    assert "codebase_version 'v1.6'" in capsys.readouterr().err and not (tmp_path / "x.hdf5").exists()
