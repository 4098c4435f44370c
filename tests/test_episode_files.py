"""Episode files under stress: kill -9 inside the commit and at random moments, a second
writer, constant-cost appends, and a corpus of broken files run through every reading command."""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import h5py
import numpy as np
import pytest

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import (Episode, EpisodeWriter, demo_names, file_metadata, read_episode, read_episodes,
                                      split_names, write_splits)
from robolearn.demos.recorder import record
from robolearn.cli import main

# Run by the child writer and by the test, so both know every episode's exact contents.
EPISODES = '''
import numpy as np
from robolearn.demos.episodes import Episode

def episode(i):
    rng = np.random.default_rng(i)
    n = 20 + i % 7
    states = rng.normal(size=(n, 38)).astype(np.float32)
    return Episode(states, np.roll(states, -1, 0), rng.uniform(-1, 1, (n, 7)).astype(np.float32),
                   rng.normal(size=n).astype(np.float32), np.eye(1, n, n - 1, dtype=np.uint8)[0],
                   rng.normal(size=(n, 40)), {"seed": i, "success": bool(i % 2)},
                   images={"front": rng.integers(0, 255, (n, 32, 32, 3), dtype=np.uint8),
                           "wrist": rng.integers(0, 255, (n, 24, 24, 3), dtype=np.uint8)})
'''
WRITER = EPISODES + '''
import os, sys, time
import robolearn.demos.episodes as episodes
from robolearn.demos.episodes import EpisodeWriter, file_metadata

path, mode = sys.argv[1], sys.argv[2]
with EpisodeWriter(path, file_metadata("pick_place", "panda", "mujoco", "sim")) as writer:
    if mode == "pause_in_commit":
        for _ in range(3):
            writer.append(episode(writer.count))
        commit_index = episodes._write_index

        def paused(*args):  # the data is written and flushed; the index is not
            open(path + ".paused", "w").close()
            time.sleep(600)
            commit_index(*args)

        episodes._write_index = paused
        writer.append(episode(writer.count))
    elif mode.startswith("die_in_place_write_"):  # killed at the n-th overwrite of old bytes
        for _ in range(3):
            writer.append(episode(writer.count))
        old_length, n, seen, pwrite = os.path.getsize(path), int(mode.rpartition("_")[2]), [0], os.pwrite

        def dying_pwrite(fd, data, offset):
            if offset < old_length:
                seen[0] += 1
                if seen[0] == n:  # half of this write on disk (a torn write), then gone
                    pwrite(fd, bytes(data)[:len(data) // 2], offset)
                    os._exit(9)
            return pwrite(fd, data, offset)

        os.pwrite = dying_pwrite
        writer.append(episode(writer.count))
    else:  # append until killed; each append is reported once it has returned
        while True:
            name = writer.append(episode(writer.count))
            print(name, flush=True)
'''
namespace: dict = {}
exec(EPISODES, namespace)
episode: Callable[[int], Episode] = namespace["episode"]


def start_writer(path: Path, mode: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def assert_identical(path: Path, names: list[str]) -> None:
    for name in names:
        got, want = read_episode(path, name, images=True), episode(int(name.rpartition("_")[2]))
        fields = [(f, getattr(got, f), getattr(want, f))
                  for f in ("states_obs", "next_states_obs", "actions", "rewards", "dones", "sim_states")]
        assert set(got.images) == set(want.images) == {"front", "wrist"}
        fields += [(f"images/{c}", got.images[c], want.images[c]) for c in want.images]
        for field, a, b in fields:
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), (name, field)
        assert {k: got.meta[k] for k in want.meta} == want.meta


def test_kill_inside_the_commit_keeps_every_committed_episode(tmp_path: Path) -> None:
    path = tmp_path / "episodes.hdf5"
    proc = start_writer(path, "pause_in_commit")
    try:
        deadline = time.time() + 120
        while not Path(f"{path}.paused").exists():
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    with h5py.File(path) as f:  # on disk the file is still the one before that append
        assert sorted(f["data"]) == ["demo_0", "demo_1", "demo_2"] and f["data"].attrs["committed"] == 3
    assert (tmp_path / ".episodes.hdf5.journal").exists()
    assert demo_names(path) == ["demo_0", "demo_1", "demo_2"]
    assert_identical(path, demo_names(path))
    with pytest.raises(ValueError, match="no demo 'demo_3'"):
        read_episode(path, "demo_3")
    # The next writer (the lock died with the killed one) reports the lost episode and goes on.
    # Its progress is followed on its reports, not by reading the file: HDF5 (without SWMR) does
    # not support a reader while another process writes, and a read mid-append can fail.
    proc, lines = start_writer(path, "append_forever"), []
    watchdog = threading.Timer(120, proc.kill)
    watchdog.start()
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("demo_5"):
                break
    finally:
        watchdog.cancel()
        proc.kill()
        out = "".join(lines) + proc.communicate()[0]
    assert f"{path}: demo_3 was not committed (its writer stopped while saving it); dropped" in out
    assert len(demo_names(path)) >= 6
    assert_identical(path, demo_names(path))


@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_writer_dying_while_hdf5_rewrites_old_metadata_loses_nothing_committed(tmp_path: Path, n: int) -> None:
    """HDF5 rewrites a group's link heap, B-tree and object header in place when a demo is
    added; a writer dying between (or inside) those writes left files whose committed demos
    no longer read. Now they are applied after their old bytes are journaled, and put back."""
    path = tmp_path / "episodes.hdf5"
    proc = start_writer(path, f"die_in_place_write_{n}")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 9, err
    assert (tmp_path / ".episodes.hdf5.journal").exists()
    assert demo_names(path) == ["demo_0", "demo_1", "demo_2"]  # readers see the file as it was
    assert_identical(path, demo_names(path))
    with EpisodeWriter(path, file_metadata("pick_place", "panda", "mujoco", "sim")) as writer:
        assert writer.count == 3 and not (tmp_path / ".episodes.hdf5.journal").exists()  # rolled back
        writer.append(episode(3))
    assert demo_names(path) == ["demo_0", "demo_1", "demo_2", "demo_3"]
    assert_identical(path, demo_names(path))


def test_a_whole_file_edit_rolls_back_a_cut_short_append_first(tmp_path: Path) -> None:
    path = tmp_path / "episodes.hdf5"
    start_writer(path, "die_in_place_write_2").communicate(timeout=120)
    write_splits(path, {"train": ["demo_0", "demo_1"]})
    assert not (tmp_path / ".episodes.hdf5.journal").exists()
    assert demo_names(path) == ["demo_0", "demo_1", "demo_2"] and split_names(path, "train") == ["demo_0", "demo_1"]
    assert_identical(path, demo_names(path))


def test_random_kills_never_lose_a_committed_episode(tmp_path: Path) -> None:
    path, rng, reported = tmp_path / "episodes.hdf5", random.Random(0), []
    for kills in range(1, 9):
        proc = start_writer(path, "append_forever")
        time.sleep(1.0 + rng.uniform(0.0, 1.0))  # past the imports, into the appends
        proc.send_signal(signal.SIGKILL)
        reported += [line for line in proc.communicate()[0].splitlines() if line.startswith("demo_")]
        committed = demo_names(path)
        # All that was reported is there, in order; at most one more per kill (killed after its
        # commit, before its report).
        assert committed == [f"demo_{i}" for i in range(len(committed))]
        assert set(reported) <= set(committed) and len(committed) <= len(set(reported)) + kills
    assert len(committed) >= 8
    assert_identical(path, committed)


def test_appends_write_in_place_and_one_writer_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "episodes.hdf5"
    with EpisodeWriter(path, file_metadata("reach", "panda", "mujoco", "sim")) as writer:
        writer.append(episode(0))
        inode, size = path.stat().st_ino, path.stat().st_size
        with pytest.raises(ValueError, match="another writer has it open"):
            EpisodeWriter(path, file_metadata("reach", "panda", "mujoco", "sim"))
        writer.append(episode(1))
        assert path.stat().st_ino == inode  # not a copy renamed over the original
        assert path.stat().st_size > size
    with EpisodeWriter(path, file_metadata("reach", "panda", "mujoco", "sim")) as writer:  # the lock was released
        writer.append(episode(2))
    assert demo_names(path) == ["demo_0", "demo_1", "demo_2"]
    assert_identical(path, demo_names(path))


# ------------------------------------------------------------------------ a corpus of broken files
@pytest.fixture(scope="module")
def good_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("good") / "good.hdf5"
    record("pick_place", "panda", "mujoco", ScriptedDevice(), path, episodes=2, source="sim")
    return path


def broken_corpus(good: Path, root: Path) -> dict[str, Path]:
    """Files broken in every way a disk, a tool or a person breaks them; the faults sit in
    demo_1, the demo `replay` is asked for."""
    corpus: dict[str, Path] = {}
    raw = good.read_bytes()

    def written(name: str, data: bytes) -> None:
        corpus[name] = root / f"{name}.hdf5"
        corpus[name].write_bytes(data)

    def edited(name: str, edit: Callable[[h5py.File], None]) -> None:
        corpus[name] = root / f"{name}.hdf5"
        shutil.copyfile(good, corpus[name])
        with h5py.File(corpus[name], "a") as f:
            edit(f)

    def replace(key: str, value: np.ndarray) -> Callable[[h5py.File], None]:
        def edit(f: h5py.File) -> None:
            if key in f["data/demo_1"]:
                del f[f"data/demo_1/{key}"]
            f[f"data/demo_1/{key}"] = value
        return edit

    n = read_episode(good, "demo_1").length
    written("truncated", raw[:len(raw) // 2])
    written("empty", b"")
    written("not_hdf5", b"task,robot\npick_place,panda\n")
    with h5py.File(good) as f:
        chunk = f["data/demo_1/actions"].id.get_chunk_info(0)
    flipped = bytearray(raw)
    flipped[chunk.byte_offset + chunk.size // 2] ^= 0x10
    written("bit_flipped", bytes(flipped))
    edited("missing_actions", lambda f: f["data/demo_1"].__delitem__("actions"))
    edited("missing_data_group", lambda f: f.__delitem__("data"))
    edited("wrong_action_shape", replace("actions", np.zeros((n, 6), np.float32)))
    edited("wrong_length", replace("rewards", np.zeros(3, np.float32)))
    edited("nan_actions", replace("actions", np.full((n, 7), np.nan, np.float32)))
    edited("inf_states", replace("obs/state", np.full((n, 38), np.inf, np.float32)))
    edited("text_actions", replace("actions", np.array([["a"] * 7] * n, dtype="S1")))
    edited("four_channel_frames", replace("obs/front_image", np.zeros((n, 8, 8, 4), np.uint8)))
    edited("frames_short_of_steps", replace("obs/front_image", np.zeros((n - 1, 8, 8, 3), np.uint8)))
    edited("garbled_file_metadata", lambda f: f["data"].attrs.__setitem__("robolearn", '{"task": "pick'))
    edited("garbled_demo_metadata", lambda f: f["data/demo_1"].attrs.__setitem__("meta", "not json"))
    edited("future_schema", lambda f: f["data"].attrs.__setitem__(
        "robolearn", json.dumps(json.loads(f["data"].attrs["robolearn"]) | {"schema_version": 99})))
    corpus["directory"] = root / "a_directory.hdf5"
    corpus["directory"].mkdir()
    corpus["missing"] = root / "missing.hdf5"
    return corpus


def reading_commands(path: Path, out: Path) -> dict[str, list[str]]:
    return {
        "data info": ["data", "info", f"file={path}"],
        "data merge": ["data", "merge", f"inputs=[{path}]", f"out={out}/merged.hdf5"],
        "data split": ["data", "split", f"file={path}"],
        "data export": ["data", "export", f"file={path}", f"out={out}/lerobot"],
        "replay": ["replay", f"file={path}", "demo=1"],
        "bc": ["bc", f"data=[{path}]", f"out={out}/bc", "logger=none"],
        "primitives learn": ["primitives", "learn", f"data=[{path}]", f"out={out}/library"],
        "fleet datasets=": ["fleet", f"datasets=[{path}]", "dataset_ratio=0.25", "logger=none", f"out={out}/fleet"],
    }


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def test_every_reading_command_refuses_every_broken_file(good_file: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture) -> None:
    corpus = broken_corpus(good_file, tmp_path)
    accepted = []
    for fault, path in corpus.items():
        before = digest(path)
        for command, argv in reading_commands(path, tmp_path / f"out_{fault}").items():
            code = main(argv)
            err = capsys.readouterr().err.strip()
            if code != 1 or str(path) not in err or len(err.splitlines()) != 1:
                accepted.append(f"{command} on {fault}: exit {code}, {err[-300:]!r}")
            assert not (tmp_path / f"out_{fault}").exists() or not any((tmp_path / f"out_{fault}").iterdir()), \
                f"{command} on {fault} wrote output"
        assert digest(path) == before, f"{fault}: a reading command changed its input"
    assert not accepted, "\n".join(accepted)


def test_skip_bad_leaves_out_bad_demos_with_a_warning(good_file: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    corpus = broken_corpus(good_file, tmp_path)
    path = corpus["nan_actions"]
    episodes = read_episodes(path, skip_bad=True)
    assert [ep.name for ep in episodes] == ["demo_0"]
    warning = capsys.readouterr().err
    assert "skipped 1 bad demos" in warning and f"{path}: data/demo_1: actions has" in warning
    assert main(["data", "merge", f"inputs=[{path}]", f"out={tmp_path}/kept.hdf5", "skip_bad=true"]) == 0
    assert demo_names(tmp_path / "kept.hdf5") == ["demo_0"]
    with pytest.raises(ValueError, match="every demo is bad"):
        read_episodes(corpus["inf_states"], ["demo_1"], skip_bad=True)
