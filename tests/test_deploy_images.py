"""Deploy with cameras: image messages both ways, malformed or stale frames hold the arm, and
on the twin the deploy loop sees the frames the simulator renders.

The in-process tests drive the deploy loop through a recording transport; the twin tests
run `robolearn twin` as a process on the tests' roscore, as a lab would.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

import numpy as np
import pytest
from omegaconf import OmegaConf

from robolearn.demos.episodes import read_episodes
from robolearn.deploy import messages as msgs
from robolearn.deploy.config import load_deploy_config
from robolearn.deploy.images import compressed_image, image, read_compressed, read_frame, read_raw, to_policy_frame
from robolearn.envs import make_env, suite_vocabulary
from deploy_fakes import RecordingTransport, StillAgent, loop_with_arm

ROBOT = "panda"
CAMERAS = ("front", "wrist")
SIZE = 64


def test_raw_and_png_frames_round_trip_exactly_and_jpeg_closely() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    assert np.array_equal(read_raw(image(frame)), frame)
    bgr = dict(image(frame[..., ::-1]), encoding="bgr8")
    assert np.array_equal(read_raw(bgr), frame)
    assert np.array_equal(read_compressed(compressed_image(frame, "png")), frame)
    smooth = np.repeat(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], 48, 0).repeat(3, 2)
    assert np.abs(read_compressed(compressed_image(smooth, "jpeg")).astype(int) - smooth).mean() < 3


def test_a_frame_of_the_policy_size_passes_unchanged_and_others_are_cropped_and_resized() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    assert np.array_equal(to_policy_frame(frame, SIZE), frame)
    wide = np.zeros((120, 160, 3), np.uint8)
    wide[:, 20:140] = 200  # the centred square; the side bands are cropped away
    out = read_frame(image(wide), "raw", SIZE)
    assert out.shape == (SIZE, SIZE, 3) and out.min() == 200


def _raw(**change: object) -> msgs.Message:
    return image(np.zeros((8, 8, 3), np.uint8)) | change


@pytest.mark.parametrize("message, transport, field", [
    (_raw(encoding="mono8"), "raw", "encoding"),
    (_raw(height=0), "raw", "height"),
    (_raw(step=25), "raw", "step"),
    (_raw(data=base64.b64encode(bytes(10)).decode()), "raw", "data"),
    (_raw(data="not base64!"), "raw", "data"),
    (_raw(data=3.5), "raw", "data"),
    (compressed_image(np.zeros((8, 8, 3), np.uint8)) | {"format": "h264"}, "compressed", "format"),
    ({"format": "png", "data": base64.b64encode(b"garbage").decode()}, "compressed", "data"),
])
def test_malformed_image_messages_name_the_field(message: msgs.Message, transport: str, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        read_frame(message, transport, SIZE)


class CameraAgent(StillAgent):
    """A still policy that sees the front and wrist cameras and keeps the frames it was given."""
    vision = SimpleNamespace(cameras=CAMERAS, size=SIZE)

    def __init__(self) -> None:
        self.seen: list[dict[str, np.ndarray]] = []

    def act(self, states: np.ndarray, *args: object, images: dict | None = None, **kwargs: object) -> np.ndarray:
        self.seen.append({camera: frames[0].copy() for camera, frames in images.items()})
        return super().act(states)


def camera_loop(tmp_path: Path, agent: CameraAgent, frames: dict[str, msgs.Message], **overrides: object):
    """A deploy loop for `agent` on a recording transport that has had a still arm, a goal and `frames`."""
    cfg = load_deploy_config(ROBOT, **overrides)
    loop, transport = loop_with_arm(cfg, agent, tmp_path)
    for camera, message in frames.items():
        transport.deliver(cfg.cameras[camera], message)
    return loop, transport


def test_the_policy_sees_the_delivered_frames_and_a_malformed_one_holds_the_arm(tmp_path: Path) -> None:
    agent = CameraAgent()
    frames = {c: np.full((SIZE, SIZE, 3), 40 * (i + 1), np.uint8) for i, c in enumerate(CAMERAS)}
    loop, _ = camera_loop(tmp_path, agent, {c: image(f) for c, f in frames.items()})
    assert loop.run_episode(0, 2, 0).steps == 2
    assert all(np.array_equal(seen[c], frames[c]) for seen in agent.seen for c in CAMERAS)
    loop.close()
    episode = read_episodes(tmp_path / "episodes.hdf5", images=True)[0]  # the frames the policy saw are recorded
    assert np.array_equal(episode.images["wrist"][0], frames["wrist"])

    loop, transport = camera_loop(tmp_path / "bad", CameraAgent(), {c: image(f) for c, f in frames.items()})
    transport.deliver(load_deploy_config(ROBOT).cameras["wrist"], _raw(step=7))
    report = loop.run_episode(0, 3, 0)
    loop.close()
    assert report.interventions.get("invalid_input") == 3
    faults = [row for row in _rows(tmp_path / "bad" / "safety.jsonl") if row.get("input") == "wrist_image"]
    assert faults and "step" in faults[0]["fault"]


def test_a_silent_camera_holds_the_arm(tmp_path: Path) -> None:
    frame = image(np.zeros((SIZE, SIZE, 3), np.uint8))
    loop, transport = camera_loop(tmp_path, CameraAgent(), {c: frame for c in CAMERAS},
                                  safety={"input_timeout": 0.1, "state_timeout": 5.0})
    cfg = load_deploy_config(ROBOT)
    stop = threading.Event()

    def front_only() -> None:  # the front camera and the poses keep coming; the wrist camera went quiet
        while not stop.is_set():
            transport.deliver(cfg.cameras["front"], frame)
            transport.deliver(cfg.topics.object_poses, msgs.pose_array({"goal_pos": np.array([0.5, 0.0, 0.3])}))
            time.sleep(0.02)

    feeder = threading.Thread(target=front_only)
    feeder.start()
    time.sleep(0.2)
    report = loop.run_episode(0, 3, 0)
    stop.set()
    feeder.join()
    loop.close()
    assert report.interventions.get("stale_state") == 3
    assert any(row.get("input") == "wrist_image" and row["fault"].startswith("stale")
               for row in _rows(tmp_path / "safety.jsonl"))


def test_a_policy_that_sees_needs_camera_topics(tmp_path: Path) -> None:
    from robolearn.deploy.loop import DeployLoop

    cfg = load_deploy_config(ROBOT)
    cfg.cameras.pop("wrist")
    with pytest.raises(ValueError, match="no topic for wrist"):
        DeployLoop(cfg, CameraAgent(), "reach", RecordingTransport(), tmp_path)


def test_the_twin_refuses_a_camera_without_a_topic() -> None:
    from robolearn.deploy.twin import Twin, TwinConfig

    cfg = load_deploy_config(ROBOT)
    cfg.cameras.pop("wrist")
    with pytest.raises(ValueError, match="no topic for wrist"):
        Twin(TwinConfig(cameras=["front", "wrist"]), cfg, RecordingTransport())


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("image_transport", ["raw", "compressed"])
def test_on_the_twin_the_loop_sees_what_the_simulator_renders(ros_master: str, tmp_path: Path, start_twin: Callable,
                                                             image_transport: str) -> None:
    from robolearn.deploy.loop import DeployLoop
    from robolearn.deploy.rospy_transport import RospyTransport

    config = tmp_path / "panda.yaml"
    cfg = load_deploy_config(ROBOT, image_transport=image_transport)
    if image_transport == "compressed":  # ROS's image_transport convention; one topic carries one type
        cfg.cameras = {camera: f"{topic}/compressed" for camera, topic in cfg.cameras.items()}
    OmegaConf.save(OmegaConf.structured(cfg), config)
    start_twin(ROBOT, "reach", f"cameras=[{','.join(CAMERAS)}]", f"image_size={SIZE}", f"config={config}")
    agent = CameraAgent()
    loop = DeployLoop(load_deploy_config(ROBOT, config, reset="topic"), agent, "reach",
                      RospyTransport("test_deploy_images"), tmp_path / "deploy")
    seed = 7
    assert loop.reset_scene(seed, timeout=30)
    loop.run_episode(seed, 1, 0)
    loop.close()
    env = make_env("reach", ROBOT, "mujoco", suite_vocabulary(), {"reach": {"cameras": CAMERAS, "image_size": SIZE}})
    obs, _ = env.reset(seed=seed)
    held = env.step(np.array([0, 0, 0, 0, 0, 0, -1], np.float32))[0]  # the twin steps a still arm until the loop reads
    env.close()
    assert np.abs(agent.seen[0]["front"].astype(int) - agent.seen[0]["wrist"]).mean() > 20  # two real views
    for camera in CAMERAS:
        seen = agent.seen[0][camera].astype(int)
        other = make_env("reach", ROBOT, "mujoco", suite_vocabulary(), {"reach": {"cameras": [camera], "image_size": SIZE}})
        elsewhere = other.reset(seed=seed + 1)[0]["images"][camera]  # another scene: the comparison can fail
        other.close()
        # The loop's frame is the simulator's to within 0.1 levels on average (measured: 0.003), while
        # another scene differs by 5x that at least (measured 0.8 in the flat-lit wrist view, where
        # only the goal marker moves; 2.4 in the front view).
        assert np.abs(seen - elsewhere).mean() > 0.5, camera
        assert min(np.abs(seen - obs["images"][camera]).mean(), np.abs(seen - held["images"][camera]).mean()) < 0.1, camera
