"""Demonstrations: recording, crash safety, replay fidelity, dataset tools, formats, devices, bad input."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import h5py
import numpy as np
import pytest

from robolearn.demos import datasets
from robolearn.demos.devices import (
    GamepadDevice, KeyboardDevice, ScriptedDevice, SpaceMouseDevice, axes_to_motion, key_to_motion, make_device,
)
from robolearn.demos.episodes import SCHEMA_VERSION, demo_names, read_episode, read_episodes, read_metadata, split_names
from robolearn.demos.recorder import record
from robolearn.demos.replay import replay
from robolearn.demos.robomimic import import_robomimic
from robolearn.cli import main
from robolearn.spec import STATE_SLICES
from robolearn.sims.backend import BACKENDS

ROBOLEARN = str(Path(sys.executable).parent / "robolearn")


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two scripted pick_place episodes per backend (panda), plus one on the KUKA."""
    root = tmp_path_factory.mktemp("demos")
    files = {}
    for backend in BACKENDS:
        files[backend] = root / f"{backend}.hdf5"
        result = record("pick_place", "panda", backend, ScriptedDevice(noise=0.05, seed=1), files[backend], episodes=2,
                        seed=5, source="sim")
        assert result.saved == 2
    files["kuka"] = root / "kuka.hdf5"
    record("pick_place", "kuka", "mujoco", ScriptedDevice(), files["kuka"], episodes=1, source="sim")
    return files


def test_recorded_file_has_robomimic_layout_and_metadata(recorded: dict[str, Path]) -> None:
    with h5py.File(recorded["mujoco"], "r") as f:
        assert sorted(f["data"].keys()) == ["demo_0", "demo_1"]
        demo = f["data/demo_0"]
        n = demo.attrs["num_samples"]
        assert demo["actions"].shape == (n, 7) and demo["obs/state"].shape == (n, 38)
        assert demo["next_obs/state"].shape == (n, 38) and demo["rewards"].shape == (n,) and demo["dones"][-1] == 1
        assert demo["states"].shape[0] == n
        assert f["data"].attrs["total"] == sum(f["data"][k].attrs["num_samples"] for k in f["data"])
        env_args = json.loads(f["data"].attrs["env_args"])
        assert env_args["env_name"] == "pick_place"
    meta = read_metadata(recorded["mujoco"])
    assert meta["schema_version"] == SCHEMA_VERSION and meta["robot"] == "panda" and meta["source"] == "sim"
    episode = read_episode(recorded["mujoco"], "demo_0")
    assert episode.meta["success"] and episode.meta["seed"] == 5 and episode.meta["task"] == "pick_place"
    # The scripted device's noise-free actions ride along as labels; the executed ones carry the noise.
    noise = episode.actions - episode.action_labels
    assert 0.02 < np.std(noise[np.abs(episode.action_labels) < 0.9]) < 0.08
    # The observation recorded before each action is the previous step's next observation.
    np.testing.assert_array_equal(episode.states_obs[1:], episode.next_states_obs[:-1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_replay_reproduces_the_trajectory(recorded: dict[str, Path], backend: str) -> None:
    report = replay(recorded[backend], "demo_1")
    assert report.initial_error == 0.0
    assert report.max_state_error < 1e-9, report
    assert report.replayed_success and report.recorded_success


def test_replay_cli_and_wrong_backend(recorded: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    assert main(["replay", f"file={recorded['mujoco']}", "demo=0"]) == 0
    assert "max state error" in capsys.readouterr().out
    with pytest.raises(ValueError, match="recorded on mujoco"):
        replay(recorded["mujoco"], "demo_0", backend="pybullet")
    with pytest.raises(ValueError, match="no demo 'demo_9'"):
        replay(recorded["mujoco"], "demo_9")


def test_randomized_recording_replays_exactly_and_writes_video(tmp_path: Path) -> None:
    path = tmp_path / "dr.hdf5"
    record("push", "xarm6", "mujoco", ScriptedDevice(), path, episodes=1, dr="uniform", source="sim", keep="all",
           video=True)
    episode = read_episode(path, "demo_0")
    assert episode.meta["dr_params"]["object_mass"] != 1.0
    assert replay(path, "demo_0").max_state_error < 1e-9
    import cv2

    capture = cv2.VideoCapture(str(tmp_path / "dr" / "demo_0.mp4"))  # the optional camera video
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == episode.length


def test_killed_recorder_leaves_finished_episodes_readable(tmp_path: Path) -> None:
    path = tmp_path / "killed.hdf5"
    proc = subprocess.Popen([ROBOLEARN, "record", "task=lift", "robot=panda", "backend=mujoco", "device=scripted",
                             "episodes=200", f"out={path}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            if path.exists() and len(demo_names(path)) >= 2:
                break
            time.sleep(0.2)
        time.sleep(0.3)  # most likely mid-episode now
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        proc.kill()
    episodes = read_episodes(path)
    assert len(episodes) >= 2 and all(ep.length > 0 for ep in episodes)
    # Recording goes on into the same file after the crash.
    before = len(episodes)
    record("lift", "panda", "mujoco", ScriptedDevice(), path, episodes=1, seed=999, source="sim")
    assert len(demo_names(path)) == before + 1


def test_merge_pools_robots_and_split_writes_masks(recorded: dict[str, Path], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    merged = tmp_path / "merged.hdf5"
    assert main(["data", "merge", f"inputs=[{recorded['mujoco']},{recorded['kuka']},{recorded['pybullet']}]",
                 f"out={merged}"]) == 0
    episodes = read_episodes(merged)
    assert [(ep.meta["robot"], ep.meta["backend"]) for ep in episodes] == \
        [("panda", "mujoco")] * 2 + [("kuka", "mujoco")] + [("panda", "pybullet")] * 2
    assert read_metadata(merged)["robot"] == "mixed"
    np.testing.assert_array_equal(episodes[2].actions, read_episode(recorded["kuka"], "demo_0").actions)
    summary = datasets.info(merged)
    assert summary["demos"] == 5 and summary["by_task_robot_backend_source"]["pick_place/kuka/mujoco/sim"] == 1
    splits = datasets.split(merged, valid=0.4, seed=0)
    assert len(splits["valid"]) == 2 and sorted(splits["train"] + splits["valid"]) == sorted(demo_names(merged))
    assert split_names(merged, "valid") == splits["valid"]
    capsys.readouterr()
    assert main(["data", "info", f"file={merged}"]) == 0
    assert "5 demos" in capsys.readouterr().out
    assert replay(merged, "demo_2").max_state_error < 1e-9  # merged demos still replay
    with pytest.raises(ValueError, match="exists"):
        datasets.merge([recorded["mujoco"]], merged)


def _robomimic_file(path: Path, action_dim: int = 7) -> None:
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        data = f.create_group("data")
        data.attrs["env_args"] = json.dumps({"env_name": "Lift", "type": 1, "env_kwargs": {"robots": ["Panda"]}})
        for i in range(2):
            g = data.create_group(f"demo_{i}")
            n = 10 + i
            for obs in ("obs", "next_obs"):
                g[f"{obs}/robot0_eef_pos"] = rng.normal(size=(n, 3))
                g[f"{obs}/robot0_eef_quat"] = np.tile([-1.0, 0.0, 0.0, 0.0], (n, 1))  # palm down
                g[f"{obs}/robot0_gripper_qpos"] = np.tile([0.02, -0.02], (n, 1))
                g[f"{obs}/object"] = rng.normal(size=(n, 10))
            g["actions"] = rng.uniform(-1, 1, (n, action_dim))
            g["rewards"] = np.eye(1, n, n - 1)[0]
            g["dones"] = np.eye(1, n, n - 1)[0]
            g["states"] = rng.normal(size=(n, 32))


def test_robomimic_import_maps_observations_and_actions(tmp_path: Path) -> None:
    src, out = tmp_path / "robomimic.hdf5", tmp_path / "imported.hdf5"
    _robomimic_file(src)
    assert main(["data", "import", f"src={src}", f"out={out}", "format=robomimic"]) == 0
    meta = read_metadata(out)
    assert (meta["task"], meta["robot"], meta["backend"]) == ("lift", "panda", "robosuite")
    episode = read_episode(out, "demo_1")
    with h5py.File(src, "r") as f:
        np.testing.assert_allclose(episode.actions, f["data/demo_1/actions"][()], rtol=1e-6)
        np.testing.assert_allclose(episode.states_obs[:, STATE_SLICES["tcp_pos"]], f["data/demo_1/obs/robot0_eef_pos"][()],
                                   rtol=1e-6)
    np.testing.assert_array_equal(episode.states_obs[0, STATE_SLICES["tcp_quat"]], [0.0, 1, 0, 0])  # xyzw -> wxyz, canonical sign
    assert episode.states_obs[0, STATE_SLICES["gripper"]][0] == pytest.approx(0.04)
    bad = tmp_path / "bimanual.hdf5"
    _robomimic_file(bad, action_dim=14)
    with pytest.raises(ValueError, match="demo_0: actions have shape \\(10, 14\\)"):
        import_robomimic(bad, tmp_path / "x.hdf5")


def test_bad_files_give_clear_errors(recorded: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    truncated = tmp_path / "truncated.hdf5"
    truncated.write_bytes(recorded["mujoco"].read_bytes()[:2000])
    with pytest.raises(ValueError, match=f"{truncated}: not a readable HDF5 episode file \\(truncated or corrupted"):
        read_episodes(truncated)
    assert main(["data", "info", f"file={truncated}"]) == 1
    assert "truncated or corrupted" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="no such episode file"):
        read_episodes(tmp_path / "missing.hdf5")

    def edited(name: str, edit) -> Path:
        path = tmp_path / name
        shutil.copyfile(recorded["mujoco"], path)
        with h5py.File(path, "a") as f:
            edit(f)
        return path

    def old_schema(f: h5py.File) -> None:
        f["data"].attrs["robolearn"] = json.dumps(json.loads(f["data"].attrs["robolearn"]) | {"schema_version": 0})

    with pytest.raises(ValueError, match="schema_version 0, this robolearn reads 1"):
        read_episodes(edited("old.hdf5", old_schema))

    def replaced(demo: str, key: str, shape: Callable[[int], tuple]) -> Callable[[h5py.File], None]:
        def edit(f: h5py.File) -> None:
            n = f[f"data/{demo}"].attrs["num_samples"]
            del f[f"data/{demo}/{key}"]
            f[f"data/{demo}/{key}"] = np.zeros(shape(n), np.float32)
        return edit

    cases = [(replaced("demo_1", "actions", lambda n: (n, 6)), "data/demo_1: actions have shape \\(\\d+, 6\\), expected \\(T, 7\\)"),
             (replaced("demo_0", "obs/state", lambda n: (n, 30)),
              "data/demo_0: obs/state has shape \\(\\d+, 30\\), expected \\(T, 38\\)"),
             (replaced("demo_0", "rewards", lambda n: (3,)), "disagree on the episode length")]
    for i, (edit, message) in enumerate(cases):
        with pytest.raises(ValueError, match=message):
            read_episodes(edited(f"bad{i}.hdf5", edit))


def test_device_maps() -> None:
    np.testing.assert_array_equal(key_to_motion(ord("w")), [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(key_to_motion(ord("c")), [0, 0, 0, 0, 0, -1])
    np.testing.assert_array_equal(key_to_motion(ord("q")), np.zeros(6))
    keyboard = KeyboardDevice()
    keyboard.on_key(ord(" "))
    keyboard.on_key(ord("r"))
    assert keyboard.action({}).tolist() == [0, 0, 1, 0, 0, 0, 1]
    assert keyboard.action({}).tolist() == [0, 0, 0, 0, 0, 0, 1]  # one step per key event
    keyboard.on_key(13)
    assert keyboard.events() == {"save"} and keyboard.events() == set()
    np.testing.assert_allclose(axes_to_motion([0.05, 0.55, -1.0, 0, 0, 0.1], deadzone=0.1), [0, 0.5, -1, 0, 0, 0])
    readings = iter([SimpleNamespace(x=0.0, y=1.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.5, buttons=[1, 0]),
                     SimpleNamespace(x=0.0, y=0.0, z=0.0, roll=0.0, pitch=0.0, yaw=0.0, buttons=[1, 1])])
    mouse = SpaceMouseDevice(deadzone=0.0, reader=lambda: next(readings))
    assert mouse.action({}).tolist() == [1, 0, 0, 0, 0, -0.5, 1]  # button 0: gripper closes
    assert mouse.action({}).tolist()[6] == 1 and mouse.events() == {"save"}  # held button 0 fires once
    pad = SimpleNamespace(get_axis=lambda i: {0: 0.0, 1: -1.0, 3: 0.0, 4: 0.5}.get(i, 0.0), get_numbuttons=lambda: 8,
                          get_button=lambda i: int(i in (0, 7)))
    gamepad = GamepadDevice(deadzone=0.0, joystick=pad)
    assert gamepad.action({}).tolist() == [1, 0, -0.5, 0, 0, 0, 1] and gamepad.events() == {"save"}
    with pytest.raises(ValueError, match="device='joystick'; allowed"):
        make_device("joystick")


@pytest.fixture
def display() -> str:
    """A virtual X display for the keyboard's live window."""
    number = 90 + os.getpid() % 100
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "800x600x24"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    yield f":{number}"
    server.terminate()
    server.wait()


def test_keyboard_session_is_recorded_and_replays(display: str, tmp_path: Path) -> None:
    path = tmp_path / "keyboard.hdf5"
    env = os.environ | {"DISPLAY": display, "QT_LOGGING_RULES": "*=false"}
    proc = subprocess.Popen([ROBOLEARN, "record", "task=reach", "robot=panda", "backend=mujoco", "device=keyboard",
                             "episodes=1", f"out={path}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    xdo = ["xdotool"]
    window = ""
    for _ in range(100):
        found = subprocess.run(xdo + ["search", "--name", "robolearn record"], env=env, capture_output=True, text=True)
        window = found.stdout.split()[0] if found.stdout.split() else ""
        if window:
            break
        time.sleep(0.1)
    assert window, "no recorder window appeared"
    time.sleep(0.3)
    subprocess.run(xdo + ["windowfocus", "--sync", window], env=env, check=False)
    # Keys arrive one control step each: forward (w) several times, then close the gripper and save.
    subprocess.run(xdo + ["key", "--delay", "60"] + ["w"] * 8 + ["space", "Return"], env=env, check=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out.decode()
    episode = read_episode(path, "demo_0")
    assert read_metadata(path)["source"] == "human"
    assert np.sum(episode.actions[:, 0] == 1.0) >= 4  # the w presses moved the hand forward
    assert episode.actions[-1, 6] == 1.0  # gripper closed by space
    assert replay(path, "demo_0").max_state_error < 1e-9


def test_record_rejects_unknown_names_before_creating_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="task='fly'; allowed: reach"):
        record("fly", "panda", "mujoco", ScriptedDevice(), tmp_path / "x.hdf5", episodes=1)
    with pytest.raises(ValueError, match="keep='maybe'"):
        record("reach", "panda", "mujoco", ScriptedDevice(), tmp_path / "x.hdf5", episodes=1, keep="maybe")
    assert not (tmp_path / "x.hdf5").exists()
