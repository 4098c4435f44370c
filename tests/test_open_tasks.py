"""An open task space: vocabularies from the run, Meta-World tasks and gymnasium envs of any
state size next to the suite's tasks in one model, and the errors for what does not fit."""
from __future__ import annotations

import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint, checkpoint_payload, make_agent
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.envs import ExternalTaskEnv, check_names, expand_tasks, make_env, run_vocabulary
from robolearn.learners.replay import ReplayBatch
from robolearn.metaworld_tasks import N_GOALS, benchmark_tasks
from robolearn.sims.tasks import TASKS
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.train import train

SMALL = ["logger=none", "policy.hidden=32", "policy.expert_hidden=16", "algo.batch_size=32", "algo.warmup_steps=100",
         "eval_episodes=1", "threads=1"]


def test_external_env_keeps_its_state_and_scales_its_action() -> None:
    vocab = run_vocabulary(["reach", "gym:Pendulum-v1"], ["panda"], {"gym:Pendulum-v1": {"g": 5.0}})
    assert vocab.robots == ("panda", "gym") and vocab.obs_dim == STATE_DIM
    env = make_env("gym:Pendulum-v1", "gym", "mujoco", vocab, {"gym:Pendulum-v1": {"g": 5.0}})
    assert isinstance(env.env, ExternalTaskEnv) and env.unwrapped.g == 5.0
    obs, info = env.reset(seed=0)
    assert obs["state"].shape == (STATE_DIM,) and np.all(obs["state"][3:] == 0) and info["success"] is False
    assert (obs["task_id"], obs["robot_id"]) == (1, 1)
    env.step(np.ones(ACTION_DIM, np.float32))
    assert env.unwrapped.last_u == pytest.approx(2.0)  # +1 maps to the env's upper torque bound


class WideEnv(gym.Env):
    """A 60-d state and a 2-d action: wider than the suite's state."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (60,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def __init__(self, render_mode: str | None = None):
        self.render_mode = render_mode

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return np.ones(60, np.float32), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return np.ones(60, np.float32), 0.0, False, False, {}


gym.register("robolearn-test/Wide-v0", entry_point=WideEnv, max_episode_steps=20)


def test_a_larger_state_widens_the_model_and_the_others_are_padded() -> None:
    vocab = run_vocabulary(["reach", "gym:robolearn-test/Wide-v0"], ["panda"])
    assert vocab.obs_dim == 60
    obs, _ = make_env("reach", "panda", "mujoco", vocab).reset(seed=0)
    assert obs["state"].shape == (60,) and np.all(obs["state"][STATE_DIM:] == 0)
    wide, _ = make_env("gym:robolearn-test/Wide-v0", "gym", "mujoco", vocab).reset(seed=0)
    assert np.all(wide["state"] == 1.0)
    agent = make_agent(*_policy_and_algo(), vocab)
    states = np.stack([obs["state"], wide["state"]])
    assert agent.act(states, np.array([0, 1]), np.array([0, 1])).shape == (2, ACTION_DIM)


def test_the_same_env_with_other_arguments_is_another_task() -> None:
    kwargs = {"gym:Pendulum-v1": {"g": 5.0}, "gym:Pendulum-v1@heavy": {"g": 15.0}}
    vocab = run_vocabulary(["gym:Pendulum-v1", "gym:Pendulum-v1@heavy"], ["panda"], kwargs)
    light, heavy = (make_env(t, "gym", "mujoco", vocab, kwargs) for t in vocab.tasks)
    assert (light.unwrapped.g, heavy.unwrapped.g) == (5.0, 15.0)
    assert light.reset(seed=0)[0]["task_id"] == 0 and heavy.reset(seed=0)[0]["task_id"] == 1


def test_env_kwargs_as_a_user_types_them() -> None:
    """Task names as keys (Hydra's grammar wants their colon escaped) and namespaced ids."""
    cfg = compose_train(["env_kwargs={gym:Pendulum-v1@heavy: {g: 15}, gym:metaworld:Meta-World/MT1@reach: "
                         "{env_name: reach-v3}}"])
    assert dict(cfg.env_kwargs) == {"gym:Pendulum-v1@heavy": {"g": 15},
                                    "gym:metaworld:Meta-World/MT1@reach": {"env_name": "reach-v3"}}
    assert dict(compose_train(["env_kwargs={gym\\:Pendulum-v1: {g: 5}}"]).env_kwargs) == {"gym:Pendulum-v1": {"g": 5}}
    quoted = compose_train(["env_kwargs={gym:Pendulum-v1: {render_mode: 'a:b'}}"]).env_kwargs
    assert dict(quoted) == {"gym:Pendulum-v1": {"render_mode": "a:b"}}


def test_spaces_that_do_not_fit_are_named() -> None:
    with pytest.raises(ValueError, match="must be Boxes"):
        run_vocabulary(["gym:CartPole-v1"], ["panda"])
    with pytest.raises(ValueError, match=r"Humanoid-v5: action space \(17,\) has 17 values; at most 7"):
        run_vocabulary(["gym:Humanoid-v5"], ["panda"])
    with pytest.raises(ValueError, match="cannot make external env"):
        run_vocabulary(["gym:NoSuchEnv-v0"], ["panda"])


def test_meta_world_tasks_by_name_and_by_benchmark(monkeypatch: pytest.MonkeyPatch) -> None:
    assert expand_tasks(["reach", "mt10"])[1:] == benchmark_tasks("mt10") and len(benchmark_tasks("mt10")) == 10
    assert len(expand_tasks(["mt50"])) == 50 and "mw:reach-v3" in benchmark_tasks("mt10")
    cfg = to_dataclass(compose_train(["tasks=mt10"]))  # a shorthand needs no brackets
    assert cfg.tasks == ["mt10"]
    with pytest.raises(ValueError, match="unknown Meta-World task 'mw:no-such-v3'; allowed: .*mw:reach-v3"):
        train(to_dataclass(compose_train(["tasks=[mw:no-such-v3]", "logger=none"])))
    monkeypatch.setitem(sys.modules, "metaworld", None)  # as if it were not installed
    with pytest.raises(ValueError, match=r"Meta-World is not installed: pip install -e '.\[metaworld\]'"):
        check_names(["mw:reach-v3"], ["panda"], "mujoco")


def test_meta_world_state_is_in_the_suite_layout() -> None:
    from robolearn.spec import STATE_SLICES

    vocab = run_vocabulary(["mw:push-v3"], ["panda"])
    assert vocab.robots == ("sawyer",) and vocab.obs_dim == STATE_DIM
    env = make_env("mw:push-v3", "sawyer", "mujoco", vocab)
    obs, info = env.reset(seed=7)
    raw = env.unwrapped.raw
    state = obs["state"]
    np.testing.assert_allclose(state[STATE_SLICES["tcp_pos"]], raw[0:3], rtol=1e-6)
    np.testing.assert_allclose(state[STATE_SLICES["obj0_pos"]], raw[4:7], rtol=1e-6)
    np.testing.assert_allclose(state[STATE_SLICES["goal_pos"]], raw[36:39], rtol=1e-6)
    assert info["goal"] == 7 and np.all(state[STATE_SLICES["joint_pos"]] == 0)
    assert np.all(state[STATE_SLICES["tcp_vel"]] == 0)  # at reset the previous frame is this one
    # The suite's +x hand action moves Meta-World's hand along +x.
    before = raw[0]
    for _ in range(5):
        obs, *_ = env.step(np.array([1, 0, 0, 0, 0, 0, -1], np.float32))
    assert env.unwrapped.raw[0] > before + 0.01 and obs["state"][STATE_SLICES["tcp_vel"]][0] > 0


def test_meta_world_protocol_plays_every_goal_once_and_its_expert_succeeds() -> None:
    """50 episodes on consecutive seeds: each of the task's 50 goals once, success at any
    step, horizon 500. Meta-World's scripted policy for reach-v3 succeeds on every goal here."""
    vocab = run_vocabulary(["mw:reach-v3"], ["panda"])
    env = make_env("mw:reach-v3", "sawyer", "mujoco", vocab)
    expert, goals, wins, lengths = env.unwrapped.expert(), [], 0, set()
    for episode in range(N_GOALS):
        obs, info = env.reset(seed=10_000 + episode)
        goals.append(info["goal"])
        success, steps, done = False, 0, False
        while not done:
            obs, _, terminated, truncated, info = env.step(expert(obs))
            success, steps, done = success or info["success"], steps + 1, terminated or truncated
        wins += success
        lengths.add(steps)
    assert sorted(goals) == list(range(N_GOALS)) and lengths == {500}
    assert wins / N_GOALS == 1.0


def test_twenty_tasks_one_model(tmp_path: Path) -> None:
    """More than the 18 ids the first generation had: vocabularies have no cap."""
    tasks = list(TASKS) + benchmark_tasks("mt10")
    vocab = run_vocabulary(tasks, ["panda", "kuka"])
    assert len(vocab.tasks) == 20 and vocab.robots == ("panda", "kuka", "sawyer")
    policy, algo = _policy_and_algo()
    agent = make_agent(policy, algo, vocab)
    assert agent.actor.cond.task.num_embeddings == 20 and agent.log_alpha.shape == (20,)
    n, generator = 64, torch.Generator().manual_seed(0)
    batch = ReplayBatch(obs=torch.randn(n, STATE_DIM, generator=generator), action=torch.rand(n, ACTION_DIM) * 2 - 1,
                        reward=torch.randn(n), next_obs=torch.randn(n, STATE_DIM, generator=generator),
                        terminal=torch.zeros(n), task=torch.arange(n) % 20, robot=torch.arange(n) % 3,
                        extra=torch.zeros(n, dtype=torch.bool))
    before = agent.actor.cond.task.weight.detach().clone()
    for _ in range(3):
        metrics = agent.update(batch)
    assert all(np.isfinite(v) for v in metrics.values())
    assert not torch.equal(before[19], agent.actor.cond.task.weight[19])  # the 20th task's row trained
    path = save_checkpoint(tmp_path / "c.pt", checkpoint_payload({"policy": vars(policy), "algo": vars(algo)}, agent,
                                                                  tasks, ["panda", "kuka"], "mujoco", 0, {}))
    loaded = agent_from_checkpoint(load_checkpoint(path))
    assert loaded.vocab == vocab
    states = batch.obs.numpy()
    np.testing.assert_array_equal(loaded.act(states, batch.task.numpy(), batch.robot.numpy(), True),
                                  agent.act(states, batch.task.numpy(), batch.robot.numpy(), True))


def test_suite_meta_world_and_external_tasks_train_in_one_model(tmp_path: Path) -> None:
    cfg = to_dataclass(compose_train([*SMALL, "tasks=[reach,mw:reach-v3,gym:Pendulum-v1]", "robots=[panda]",
                                      "total_steps=600", "eval_every=600", f"out={tmp_path}"]))
    data = load_checkpoint(train(cfg))
    assert data["vocab"] == {"tasks": ["reach", "mw:reach-v3", "gym:Pendulum-v1"], "robots": ["panda", "sawyer", "gym"],
                             "obs_dim": STATE_DIM}
    assert set(data["eval"]) == {"reach/panda", "mw:reach-v3/sawyer", "gym:Pendulum-v1/gym"}


def test_an_external_task_alone_trains_with_the_default_settings(tmp_path: Path) -> None:
    """Its 3-d state has no suite layout to derive relative inputs from, and no scripted expert."""
    path = train(to_dataclass(compose_train([*SMALL, "tasks=[gym:Pendulum-v1]", "robots=[panda]", "total_steps=300",
                                             "eval_every=300", f"out={tmp_path}"])))
    assert load_checkpoint(path)["vocab"]["obs_dim"] == 3


def test_an_old_checkpoint_is_a_schema_error(tmp_path: Path) -> None:
    torch.save({"schema_version": 2, "config": {}, "learner": {}, "tasks": [], "robots": [], "backend": "mujoco",
                "env_steps": 0}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="schema_version 2, this robolearn reads 3 .*global.*retrain"):
        load_checkpoint(tmp_path / "old.pt")


def _policy_and_algo() -> tuple:
    cfg = to_dataclass(compose_train(["policy.hidden=32", "policy.expert_hidden=16", "policy.n_experts=4"]))
    return cfg.policy, cfg.algo


def test_adding_a_meta_world_task_grows_tasks_and_robots_and_keeps_old_tasks_exact(tmp_path: Path) -> None:
    tiny = [*SMALL, "robots=[panda]", "policy.n_experts=4"]
    base = train(to_dataclass(compose_train([*tiny, "tasks=[reach]", "total_steps=150", "eval_every=150",
                                             f"out={tmp_path}/base"])))
    adapted = train(to_dataclass(compose_train([*tiny, "tasks=[mw:reach-v3]", "total_steps=400", "eval_every=400",
                                                f"adapt_from={base}", f"out={tmp_path}/adapted"])))
    before, after = load_checkpoint(base), load_checkpoint(adapted)
    assert after["vocab"]["tasks"] == ["reach", "mw:reach-v3"] and after["vocab"]["robots"] == ["panda", "sawyer"]
    assert after["adaptation"]["new_task_ids"] == [1] and after["adaptation"]["new_robot_ids"] == [1]
    old, new = agent_from_checkpoint(before), agent_from_checkpoint(after)
    obs = np.random.default_rng(0).normal(size=(16, STATE_DIM)).astype(np.float32)
    zeros = np.zeros(16, np.int64)
    assert np.array_equal(old.act(obs, zeros, zeros, True), new.act(obs, zeros, zeros, True))
    # The old robot's embedding row is frozen (the new robot's row is the one that may train).
    torch.testing.assert_close(old.actor.cond.robot.weight[0], new.actor.cond.robot.weight[0], rtol=0, atol=0)
    assert set(after["eval"]) == {"reach/panda", "mw:reach-v3/sawyer"}
