"""The device option: auto resolves to what exists, bad names are refused, checkpoints load on any device."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint, checkpoint_payload, make_agent
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.device import resolve_device
from robolearn.envs import run_vocabulary


def test_auto_picks_cuda_only_when_there_is_one() -> None:
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("gpu", "cuda:x", "cpu:0"):
        with pytest.raises(ValueError, match="allowed: auto, cpu, cuda"):
            resolve_device(bad)


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_a_checkpoint_loads_onto_the_cpu_whatever_device_saved_it(tmp_path: Path, algo: str) -> None:
    cfg = to_dataclass(compose_train([f"algo={algo}", "policy.hidden=32", "policy.expert_hidden=16"]))
    saver = "cuda" if torch.cuda.is_available() else "cpu"
    agent = make_agent(cfg.policy, cfg.algo, run_vocabulary(["reach"], ["panda"]), saver)
    path = save_checkpoint(tmp_path / "c.pt", checkpoint_payload({"algo": {"name": algo, **vars(cfg.algo)},
                                                                    "policy": vars(cfg.policy)}, agent, ["reach"],
                                                                   ["panda"], "mujoco", 0, {}))
    loaded = agent_from_checkpoint(load_checkpoint(path), "cpu")
    assert all(p.device.type == "cpu" for p in loaded.actor.parameters())
    obs, ids = np.random.default_rng(0).normal(size=(3, 38)).astype(np.float32), np.zeros(3, np.int64)
    assert np.allclose(agent.act(obs, ids, ids, deterministic=True), loaded.act(obs, ids, ids, deterministic=True),
                       atol=1e-5)
