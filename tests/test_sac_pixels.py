"""SAC from camera frames (`robolearn train inputs=image+proprio cameras=[...]`): what the
networks see, how the update trains the encoders, the run end to end, and bad input."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint, make_agent
from robolearn.checkpoint import load_checkpoint
from robolearn.cli import main
from robolearn.config import compose_train, to_dataclass
from robolearn.envs import make_env, run_vocabulary
from robolearn.learners.replay import ReplayBuffer
from robolearn.learners.sac import SACConfig
from robolearn.policies import PolicyConfig
from robolearn.policies.inputs import PROPRIO
from robolearn.spec import ACTION_DIM, STATE_SLICES
from robolearn.train import train

SIZE = 32
TINY = ["tasks=[reach]", "robots=[panda]", "logger=none", "policy.hidden=32", "policy.expert_hidden=16",
        "policy.n_experts=4", "algo.batch_size=16", "algo.warmup_steps=60", "eval_episodes=1", "threads=1",
        "num_envs=1", f"algo.image_size={SIZE}", "algo.keypoints=4"]


def pixel_agent(cameras: tuple[str, ...] = ("front",)):
    vocab = run_vocabulary(["reach"], ["panda"], {})
    cfg = SACConfig(inputs="image+proprio", cameras=list(cameras), image_size=SIZE, keypoints=4, batch_size=8)
    return make_agent(PolicyConfig(hidden=32, expert_hidden=16, n_experts=4), cfg, vocab), vocab


def camera_observation(vocab) -> dict:
    env = make_env("reach", "panda", "mujoco", vocab, {"reach": {"cameras": ("front",), "image_size": SIZE}})
    try:
        obs, _ = env.reset(seed=3)
    finally:
        env.close()
    return obs


def test_a_pixel_policy_sees_the_goal_only_through_its_camera() -> None:
    torch.manual_seed(0)
    agent, vocab = pixel_agent()
    proprio = sum(STATE_SLICES[name].stop - STATE_SLICES[name].start for name in PROPRIO)
    assert agent.cameras == ("front",) and agent.norm.dim == proprio
    obs = camera_observation(vocab)
    state, ids = obs["state"][None], np.array([obs["task_id"]])
    frames = {"front": obs["images"]["front"][None]}
    action = agent.act(state, ids, ids, deterministic=True, images=frames)
    moved = state.copy()
    moved[:, STATE_SLICES["goal_pos"]] += 0.2  # a goal pose the policy must not read
    assert np.array_equal(agent.act(moved, ids, ids, deterministic=True, images=frames), action)
    darker = {"front": frames["front"] // 2}
    assert not np.allclose(agent.act(state, ids, ids, deterministic=True, images=darker), action)
    with pytest.raises(ValueError, match=r"trained with images \(cameras: front, 32x32\)"):
        agent.act(state, ids, ids)


def test_the_critic_trains_the_encoders_and_their_target_follows_by_tau() -> None:
    torch.manual_seed(0)
    agent, vocab = pixel_agent()
    rng = np.random.default_rng(0)
    n = 32
    buffer = ReplayBuffer(n, vocab.obs_dim, ACTION_DIM, ("front",), SIZE)
    frames = lambda: {"front": rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)}  # noqa: E731
    buffer.add(rng.normal(size=(n, vocab.obs_dim)).astype(np.float32), rng.uniform(-1, 1, (n, ACTION_DIM)),
               rng.normal(size=n), rng.normal(size=(n, vocab.obs_dim)).astype(np.float32), np.zeros(n),
               np.zeros(n, int), np.zeros(n, int), frames(), frames())
    batch = buffer.sample(8, rng)
    assert batch.images["front"].shape == (8, SIZE, SIZE, 3) and batch.images["front"].dtype == torch.uint8
    online, target = copy.deepcopy(agent.vision.state_dict()), copy.deepcopy(agent.vision_target.state_dict())
    agent.update(batch)
    trained = agent.vision.state_dict()
    assert any(not torch.equal(trained[k], online[k]) for k in online)
    for key, old in target.items():  # target <- target + tau (online - target), with the updated online weights
        expected = old + agent.cfg.tau * (trained[key] - old)
        torch.testing.assert_close(agent.vision_target.state_dict()[key], expected)
    with pytest.raises(ValueError, match="the buffer keeps camera front; the transitions have no frames of it"):
        buffer.add(*(np.zeros((1,) + a.shape[1:], a.dtype) for a in (buffer.obs, buffer.action)), np.zeros(1),
                   np.zeros((1, vocab.obs_dim)), np.zeros(1), np.zeros(1, int), np.zeros(1, int))


def test_train_from_pixels_end_to_end(tmp_path: Path) -> None:
    """Demos and live steps carry their frames into the replay; the checkpoint reloads as a
    policy that sees, `robolearn eval` renders its camera, and a resume must keep its inputs."""
    overrides = TINY + ["inputs=image+proprio", "cameras=[front]", "algo.demo_episodes=1", "total_steps=120",
                        "eval_every=120", f"out={tmp_path}/run"]
    path = train(to_dataclass(compose_train(overrides)))
    data = load_checkpoint(path)
    agent = agent_from_checkpoint(data)
    assert agent.cameras == ("front",) and agent.updates > 0 and data["config"]["algo"]["inputs"] == "image+proprio"
    obs = camera_observation(agent.vocab)
    ids = np.array([obs["task_id"]])
    frames = {"front": obs["images"]["front"][None]}
    reloaded = agent_from_checkpoint(load_checkpoint(path))
    assert np.array_equal(agent.act(obs["state"][None], ids, ids, True, images=frames),
                          reloaded.act(obs["state"][None], ids, ids, True, images=frames))
    assert main(["eval", f"checkpoint={path}", "episodes=1", f"out={tmp_path}/eval.json"]) == 0
    resume = [o for o in overrides if not o.startswith(("inputs", "cameras", "out"))]
    with pytest.raises(ValueError, match=r"algo.inputs=state \(checkpoint: image\+proprio\)"):
        train(to_dataclass(compose_train(resume + ["total_steps=240", f"resume={path}", f"out={tmp_path}/r"])))


@pytest.mark.parametrize("overrides,message", [
    (["cameras=[front]"], "cameras=\\['front'\\]: only with inputs=image or inputs=image\\+proprio"),
    (["inputs=image"], "inputs=image: name the cameras to see, e.g. cameras=\\[front\\] \\(allowed: front, wrist\\)"),
    (["inputs=image", "cameras=[top]"], "cameras: unknown camera 'top'; allowed: front, wrist"),
    (["inputs=pixels"], "inputs='pixels'; allowed: state, image, image\\+proprio"),
    (["algo.inputs=image"], "algo.inputs, algo.cameras: set by inputs= and cameras=; pass those instead"),
    (["inputs=image", "cameras=[front]", "algo=ppo"], "inputs=image: algo=sac learns from cameras; algo=ppo"),
    (["inputs=image", "cameras=[front]", "tasks=[reach,gym:Pendulum-v1]"], "gym:Pendulum-v1 has no cameras"),
])
def test_pixel_settings_bad_input(tmp_path: Path, overrides: list[str], message: str) -> None:
    base = [o for o in TINY if not o.startswith("algo.")]  # settings every algo has
    cfg = to_dataclass(compose_train(base + overrides + [f"out={tmp_path}/run"]))
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()


def test_a_replay_of_frames_larger_than_memory_is_refused_up_front() -> None:
    with pytest.raises(ValueError, match="algo.buffer_size: the replay's camera frames would take [0-9.]+ GiB of this machine"):
        ReplayBuffer(10**9, 38, ACTION_DIM, ("front",), 84)  # 2 x 21 KB a transition: ~42 TB
