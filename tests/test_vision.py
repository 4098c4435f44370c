"""Policies that see: the keypoint encoder, DrQ's shift, and behaviour cloning from camera frames."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint
from robolearn.bc_train import compose_bc, train_bc
from robolearn.checkpoint import load_checkpoint
from robolearn.cli import main
from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import read_episode
from robolearn.demos.recorder import record
from robolearn.policies.vision import CameraEncoder, ImageEncoders, SpatialSoftmax, random_shift

SIZE = 64
DEMOS = 30
IMAGE_SUCCESS = 0.6  # reach from two cameras and the arm's own state; measured 0.70 and 0.90 for two seeds (docs/benchmarks.md)


def test_spatial_softmax_finds_where_a_map_peaks() -> None:
    keypoints = SpatialSoftmax(channels=1, keypoints=1)
    with torch.no_grad():
        keypoints.to_maps.weight.fill_(1.0)
        keypoints.to_maps.bias.zero_()
        keypoints.log_temperature.fill_(np.log(0.05))  # sharp
    maps = torch.zeros(2, 1, 9, 17)
    maps[0, 0, 0, 16] = 10.0  # top right
    maps[1, 0, 4, 8] = 10.0  # centre
    np.testing.assert_allclose(keypoints(maps).detach().numpy(), [[1.0, -1.0], [0.0, 0.0]], atol=1e-3)


def test_encoder_output_shape_and_gradients() -> None:
    encoder = ImageEncoders(["front", "wrist"], SIZE, keypoints=8)
    frames = {c: torch.randint(0, 256, (5, SIZE, SIZE, 3), dtype=torch.uint8) for c in ("front", "wrist")}
    out = encoder(frames, augment=True)
    assert out.shape == (5, 32) and encoder.dim == 32 and out.abs().max() <= 1.0
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())
    assert CameraEncoder(keypoints=8).dim == 16
    with pytest.raises(ValueError, match=r"camera wrist: frames of shape \(32, 32, 3\); the policy was trained on \(64, 64, 3\)"):
        encoder({"front": frames["front"], "wrist": frames["wrist"][:, :32, :32]})
    with pytest.raises(ValueError, match="no frames of wrist"):
        encoder({"front": frames["front"]})


def test_random_shift_moves_each_frame_by_at_most_pad_pixels() -> None:
    torch.manual_seed(0)
    frames = torch.zeros(64, 20, 20, 3, dtype=torch.uint8)
    frames[:, 10, 10] = 255  # one white pixel in every frame
    shifted = random_shift(frames, pad=3)
    assert shifted.shape == frames.shape and shifted.dtype == torch.uint8
    rows, cols = [], []
    for frame in shifted:
        r, c = np.argwhere(frame[..., 0].numpy() == 255)[0]
        rows.append(r - 10)
        cols.append(c - 10)
    assert max(map(abs, rows + cols)) <= 3 and len(set(zip(rows, cols))) > 10  # random, per frame
    assert torch.equal(random_shift(frames, pad=0), frames)


@pytest.fixture(scope="module")
def camera_demos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vision") / "reach.hdf5"
    record("reach", "panda", "mujoco", ScriptedDevice(noise=0.1, seed=0), path, DEMOS, source="sim",
           cameras=("front", "wrist"), image_size=SIZE)
    return path


def test_bc_from_camera_frames_learns_reach(camera_demos: Path, tmp_path: Path) -> None:
    """The policy sees the goal only in the camera frames (no goal pose): it must find it there,
    in 3-D, from two views (one camera alone leaves the depth along its rays open: 0.05-0.25
    measured with the front camera only). `robolearn eval` renders the cameras it was trained on."""
    path = train_bc(compose_bc([f"data=[{camera_demos}]", "inputs=image+proprio", "labels=expert",
                                "algo.steps=1000", "algo.batch_size=64", "eval_episodes=0", f"out={tmp_path}"]))
    agent = agent_from_checkpoint(load_checkpoint(path))
    assert agent.cameras == ("front", "wrist") and agent.norm.dim == 4  # the arm's own state: tcp_pos, gripper
    assert main(["eval", f"checkpoint={path}", "episodes=20", f"out={tmp_path}/eval.json"]) == 0
    success = json.loads((tmp_path / "eval.json").read_text())["success"]["reach/panda"]
    assert success >= IMAGE_SUCCESS, success


def test_image_inputs_bad_input(camera_demos: Path, tmp_path: Path) -> None:
    no_cameras = tmp_path / "plain.hdf5"
    record("reach", "panda", "mujoco", ScriptedDevice(), no_cameras, 1, source="sim")
    cases = [([f"data=[{no_cameras}]", "inputs=image"], "recorded no camera frames; record with cameras="),
             ([f"data=[{camera_demos}]", "inputs=image", "cameras=[top]"], "unknown camera 'top'; allowed: front, wrist"),
             ([f"data=[{camera_demos}]", "inputs=pixels"], "inputs='pixels'; allowed: state, image, image\\+proprio"),
             ([f"data=[{camera_demos}]", "cameras=[front]"], "only with inputs=image or inputs=image\\+proprio")]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            train_bc(compose_bc(overrides + ["algo.steps=1", "eval_episodes=0", f"out={tmp_path}/run"]))
    assert not (tmp_path / "run").exists()  # nothing written for a refused run
    path = train_bc(compose_bc([f"data=[{camera_demos}]", "inputs=image", "max_demos=2", "algo.steps=2",
                                "eval_episodes=0", f"out={tmp_path}/tiny"]))
    agent = agent_from_checkpoint(load_checkpoint(path))
    episode = read_episode(camera_demos, "demo_0", images=True)
    state, ids = episode.states_obs[:1], np.zeros(1, int)
    with pytest.raises(ValueError, match="trained with images \\(cameras: front, wrist, 64x64\\)"):
        agent.act(state, ids, ids)
    action = agent.act(state, ids, ids, images={c: f[:1] for c, f in episode.images.items()})
    assert action.shape == (1, 7) and np.all(np.abs(action) <= 1)
