"""External gymnasium tasks join the task list through the suite's interface."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.envs import ExternalTaskEnv, make_env, task_ids
from robolearn.spec import ACTION_DIM, STATE_DIM
from robolearn.train import train
from robolearn.sims.tasks import TASKS


def test_external_env_is_padded_and_scaled() -> None:
    tasks = ["reach", "gym:Pendulum-v1"]
    env = make_env("gym:Pendulum-v1", "gym", "mujoco", tasks, {"gym:Pendulum-v1": {"g": 5.0}})
    assert isinstance(env, ExternalTaskEnv) and env.unwrapped.g == 5.0
    obs, info = env.reset(seed=0)
    assert obs["state"].shape == (STATE_DIM,) and np.all(obs["state"][3:] == 0) and info["success"] is False
    assert obs["task_id"] == len(TASKS) == task_ids(tasks)["gym:Pendulum-v1"]
    env.step(np.ones(ACTION_DIM, np.float32))
    assert env.unwrapped.last_u == pytest.approx(2.0)  # +1 maps to the env's upper torque bound


def test_external_env_with_discrete_actions_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be Boxes"):
        make_env("gym:CartPole-v1", "gym", "mujoco", ["gym:CartPole-v1"])
    with pytest.raises(ValueError, match="cannot make external env"):
        make_env("gym:NoSuchEnv-v0", "gym", "mujoco", ["gym:NoSuchEnv-v0"])


def test_training_mixes_suite_and_external_tasks(tmp_path: Path) -> None:
    cfg = to_dataclass(compose_train(["tasks=[reach,gym:Pendulum-v1]", "robots=[panda]", "logger=none",
                                      "policy.hidden=32", "policy.expert_hidden=16", "algo.batch_size=32",
                                      "algo.warmup_steps=100", "eval_episodes=1", "threads=1", "total_steps=400",
                                      "eval_every=400", f"out={tmp_path}"]))
    data = load_checkpoint(train(cfg))
    assert data["tasks"] == ["reach", "gym:Pendulum-v1"]
    assert set(data["eval"]) == {"reach/panda", "gym:Pendulum-v1/gym"}
