"""The named cameras: the same pinhole at the same pose on both backends, in the env's observation."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import robolearn.sims  # noqa: F401  (registers the envs)
from robolearn.sims.backend import BACKENDS
from robolearn.sims.cameras import CAMERAS, look_at, project, world_pose
from robolearn.sims.robots import ROBOTS

SIZE = 128


def red_centroid(image: np.ndarray, near: np.ndarray, window: float = 10.0) -> np.ndarray:
    """Pixel centroid (column, row) of the red pixels within `window` of `near`: the cube,
    not an orange arm link elsewhere in the image."""
    img = image.astype(int)
    red = (img[..., 0] > 60) & (img[..., 0] > 2 * img[..., 1]) & (img[..., 0] > 2 * img[..., 2])
    rows, cols = np.mgrid[:SIZE, :SIZE] + 0.5
    red &= (np.abs(rows - near[1]) < window) & (np.abs(cols - near[0]) < window)
    assert red.sum() >= 20, "the cube is not in view"
    return np.array([cols[red].mean(), rows[red].mean()])


@pytest.mark.parametrize("robot", ROBOTS)
def test_a_point_lands_on_the_same_pixel_on_both_backends(robot: str) -> None:
    """The cube's image centroid in every camera: within 2 pixels across backends and of
    the pinhole projection of its centre (same intrinsics, same pose), also after the hand
    has moved and turned (the wrist camera rides on it)."""
    seen: dict[str, dict[str, np.ndarray]] = {}
    for backend in BACKENDS:
        env = gym.make("robolearn/PickPlace-v0", robot=robot, backend=backend, cameras=list(CAMERAS), image_size=SIZE)
        obs, _ = env.reset(seed=0)
        seen[backend] = {name: centroid_at_projection(env, obs, name) for name in CAMERAS}
        for _ in range(4):
            obs = env.step(np.array([0.3, 0.5, 0.0, 0.0, 0.0, 0.6, -1.0]))[0]
        centroid_at_projection(env, obs, "wrist")
        env.close()
    for name in CAMERAS:
        assert np.abs(seen["mujoco"][name] - seen["pybullet"][name]).max() < 2.0, (name, seen)


def centroid_at_projection(env: gym.Env, obs: dict, name: str) -> np.ndarray:
    """The cube's centroid in camera `name`, checked to lie within 2 pixels of its centre's projection."""
    sim, camera = env.unwrapped.sim, CAMERAS[name]
    eye, target, up = world_pose(camera, *sim.tcp_pose())
    pixel = project(sim.object_pose("cube")[0], eye, look_at(eye, target, up), camera, SIZE, SIZE)
    centroid = red_centroid(obs["images"][name], pixel)
    assert np.abs(centroid - pixel).max() < 2.0, (sim.name, name, centroid, pixel)
    return centroid


@pytest.mark.parametrize("backend", BACKENDS)
def test_images_in_the_observation_and_render(backend: str) -> None:
    env = gym.make("robolearn/PickPlace-v0", robot="kuka", backend=backend, render_mode="rgb_array",
                   cameras=["front", "wrist"], image_size=64, render_size=64)
    obs, _ = env.reset(seed=0)
    assert set(obs["images"]) == {"front", "wrist"} and env.observation_space["images"]["wrist"].shape == (64, 64, 3)
    for image in obs["images"].values():
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8 and image.std() > 5
    assert not np.array_equal(obs["images"]["front"], obs["images"]["wrist"])
    np.testing.assert_array_equal(env.render(), obs["images"]["front"])
    env.close()


@pytest.mark.parametrize("kwargs, message", [({"cameras": ["top"]}, "unknown camera 'top'; allowed: front, wrist"),
                                             ({"cameras": ["front", "front"]}, "front listed more than once"),
                                             ({"cameras": ["front"], "image_size": 4}, "image_size=4")])
def test_bad_camera_settings_name_the_field(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gym.make("robolearn/Reach-v0", backend="mujoco", **kwargs)
