"""The fleet on a local Ray: several robot actors feed one learner, survive a killed actor,
resume from a checkpoint, and pool recorded episodes; every sample is accounted for."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import ray
import torch

from foreign_data import write_dataset

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.demos.lerobot import import_lerobot
from robolearn.demos.recorder import record
from robolearn.checkpoint import load_checkpoint
from robolearn.config import to_dataclass
from robolearn.evaluate import evaluate
from robolearn.fleet.config import compose_fleet
from robolearn.fleet.learner import REPLAY_NAME, actor_layout, run_fleet
from robolearn.fleet.pool import load_pooled
from robolearn.learners.replay import mixed_batch
from robolearn.learners.ppo import gae, vtrace
from robolearn.agents import agent_from_checkpoint
from robolearn.envs import run_vocabulary

SMALL = ["tasks=[reach]", "logger=none", "eval_episodes=2", "chunk_steps=50", "policy.hidden=64"]
SMALL_SAC = ["algo.warmup_steps=500", "algo.batch_size=64", "algo.updates_per_step=0.5"]  # the pacing these were set with


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> None:
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    yield
    ray.shutdown()


def fleet_run(out: Path, *overrides: str) -> dict:
    algo = [] if "algo=ppo" in overrides else SMALL_SAC
    return load_checkpoint(run_fleet(to_dataclass(compose_fleet([*SMALL, f"out={out}", *overrides, *algo]))))


def assert_consistent(counters: dict) -> None:
    """Produced is counted by the actors as they step (the ledger), received by the learner."""
    assert counters["calls_miscounted"] == 0  # every delivered batch holds what its call produced
    assert counters["samples_produced"] == (counters["samples_received"] + counters["samples_lost_in_flight"]
                                            + counters["samples_abandoned"])
    assert counters["samples_received"] > 0 and counters["episodes_received"] > 0
    assert counters["samples_received"] == counters["samples_trained"] + counters["samples_dropped_stale"]
    assert counters["episodes_produced"] >= counters["episodes_received"]


def test_three_robot_actors_feed_one_learner(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = fleet_run(tmp_path, "actors=3", "robots=[panda,kuka,xarm6]", "total_steps=1500", "eval_every=1500")
    out = capsys.readouterr().out
    counters = data["fleet"]["counters"]
    assert_consistent(counters)
    assert counters["samples_received"] >= 1500 and counters["actor_restarts"] == 0
    staleness = data["fleet"]["staleness"]  # samples per policy-version lag; beyond the bound they are dropped
    assert counters["samples_dropped_stale"] == sum(n for lag, n in staleness.items() if lag > 8)
    for robot in ("panda", "kuka", "xarm6"):
        assert f"actor {['panda', 'kuka', 'xarm6'].index(robot)}:" in out
    assert "samples/s" in out and "updates/s" in out and "staleness" in out
    table = evaluate(agent_from_checkpoint(data), ["reach"], ["panda"], "mujoco", 1)  # the checkpoint evaluates
    assert set(table) == {("reach", "panda")}


def test_a_killed_actor_is_restarted_and_nothing_is_lost_or_counted_twice(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture) -> None:
    data = fleet_run(tmp_path, "actors=2", "robots=[panda,kuka]", "total_steps=2000", "eval_every=2000",
                     "kill_actor_at=600")
    out = capsys.readouterr().out
    counters = data["fleet"]["counters"]
    assert counters["actor_restarts"] == 1, out
    assert_consistent(counters)
    assert counters["samples_lost_in_flight"] > 0  # killed mid-call: its batch in flight is counted, not delivered
    assert data["env_steps"] >= 2000
    assert counters["failed_calls"] >= 1 and "fault injection: killing actor 0" in out and "Ray restarts it" in out


def test_a_restarted_learner_resumes_from_its_checkpoint_and_replay(tmp_path: Path) -> None:
    first = fleet_run(tmp_path / "a", "actors=2", "robots=[panda,kuka]", "total_steps=1000", "eval_every=1000",
                      "save_replay=true")
    replay = tmp_path / "a" / REPLAY_NAME
    assert replay.is_file() and len(np.load(replay)["obs"]) == first["env_steps"]
    second = fleet_run(tmp_path / "b", "actors=2", "robots=[panda,kuka]", "total_steps=1600", "eval_every=1600",
                       f"resume={tmp_path / 'a' / 'checkpoint.pt'}")
    assert second["env_steps"] >= 1600
    before, after = first["fleet"]["counters"], second["fleet"]["counters"]
    assert after["samples_received"] == before["samples_received"] + (second["env_steps"] - first["env_steps"])
    assert second["learner"]["updates"] > first["learner"]["updates"]


def test_recorded_episodes_of_suite_and_other_robots_mix_into_every_batch(tmp_path: Path) -> None:
    demos = tmp_path / "kuka_reach.hdf5"
    record("reach", "kuka", "pybullet", ScriptedDevice(noise=0.1, seed=0), demos, 5, source="sim")
    write_dataset(tmp_path / "so100", "so100")
    other = tmp_path / "so100_reach.hdf5"
    import_lerobot(tmp_path / "so100", other, task="reach")
    vocab = run_vocabulary(["reach"], ["panda", "kuka"])
    pooled = load_pooled([str(demos)], ["reach"], vocab)
    assert pooled.size > 0 and set(pooled.robot[:pooled.size]) == {vocab.robot_id("kuka")}
    rng = np.random.default_rng(0)
    batch = mixed_batch(pooled, pooled, 0.25, 64, rng)
    assert len(batch.obs) == 64
    datasets = f"datasets=[{demos},{other}]"
    with pytest.raises(ValueError, match="robot 'so100' in its own conventions; pooling it needs "
                                         "algo.per_robot_norm=true"):
        fleet_run(tmp_path / "refused", "actors=1", "robots=[panda]", datasets, "dataset_ratio=0.25")
    assert not (tmp_path / "refused").exists()
    data = fleet_run(tmp_path / "run", "actors=1", "robots=[panda]", "total_steps=800", "eval_every=800",
                     datasets, "dataset_ratio=0.25", "algo.per_robot_norm=true")
    robots = data["vocab"]["robots"]
    assert robots[-1] == "so100"
    # Each robot's normalizer row has seen its own data: the datasets' robots only theirs.
    count = data["learner"]["norm"]["count"]
    assert torch.allclose(count[robots.index("kuka")], torch.tensor(pooled.size + 1e-4))
    assert torch.allclose(count[robots.index("so100")], torch.tensor(90 + 1e-4))  # 3 episodes x 30 steps
    assert count[robots.index("panda")] >= 800 and count[robots.index("xarm6")] == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="not one of the run's tasks"):
        load_pooled([str(demos)], ["push"], vocab)


def test_the_learner_owns_one_adr_state_fed_by_every_actor(tmp_path: Path) -> None:
    # Every episode pinned at a boundary, and queues too long to move: each episode result an
    # actor produced must sit in the learner's ADR queues, and nowhere else.
    data = fleet_run(tmp_path, "actors=2", "robots=[panda,kuka]", "total_steps=1500", "eval_every=1500", "adr=adr",
                     "adr.p_boundary=1.0", "adr.queue=100000")
    counters = data["fleet"]["counters"]
    assert_consistent(counters)
    merged = sum(len(queue) for queue in data["adr"]["queues"].values())
    assert merged == counters["episodes_received"] > 0
    assert len({b for b, q in data["adr"]["queues"].items() if q}) > 1  # several boundaries were visited
    assert (tmp_path / "adr.jsonl").is_file()


def test_merged_results_move_the_learners_ranges_and_reach_the_actors(tmp_path: Path) -> None:
    from robolearn.fleet.actor import ExperienceActor
    from robolearn.fleet.learner import Fleet
    from robolearn.sims.randomization import DR_PARAMS

    cfg = to_dataclass(compose_fleet([*SMALL, *SMALL_SAC, f"out={tmp_path}", "adr=adr", "adr.queue=3",
                                      "adr.params=[object_mass]", "adr.p_boundary=1.0"]))
    fleet = Fleet(cfg)
    fleet._merge_adr({"object_mass:high": [True, True, True]}, 10)
    nominal, step = DR_PARAMS["object_mass"].nominal, DR_PARAMS["object_mass"].step
    assert fleet.adr.ranges["object_mass"] == pytest.approx([nominal, nominal + step])
    actor = ExperienceActor(0, "panda", "mujoco", cfg, fleet.agent.vocab, seed=0)
    handed = {"object_mass": [1.5, 1.7]}  # away from nominal: the envs can only get it from the learner
    batch = actor.collect(None, 0, 200, True, handed)  # reach: 50-step episodes, so the envs reset
    assert actor.adr.ranges == handed
    assert 1.5 <= actor.runner.envs.envs[0].unwrapped.dr_params["object_mass"] <= 1.7
    assert sum(map(len, batch["adr_results"].values())) == len(batch["episodes"])  # p_boundary=1: every episode
    assert all(not queue for queue in actor.adr.queues.values())  # handed over once


def test_actor_layout_and_config_errors() -> None:
    cfg = to_dataclass(compose_fleet(["actors=4", "robots=[panda,kuka,xarm6]", "backends=[mujoco,pybullet]"]))
    assert actor_layout(cfg) == [("panda", "mujoco"), ("kuka", "mujoco"), ("xarm6", "mujoco"), ("panda", "pybullet")]
    with pytest.raises(ValueError, match="use algo=sac"):
        run_fleet(to_dataclass(compose_fleet(["algo=ppo", "logger=none", "ros_actors=[{robot:panda}]"])))
    with pytest.raises(ValueError, match="backends: unknown"):
        run_fleet(to_dataclass(compose_fleet(["backends=[gazebo]", "logger=none"])))
    with pytest.raises(ValueError, match="dataset_ratio"):
        run_fleet(to_dataclass(compose_fleet(["dataset_ratio=0.5", "logger=none"])))
    with pytest.raises(ValueError, match="top-level keys"):
        compose_fleet(["actorz=2"])


def test_fleet_ros_actor_drives_the_twin_and_logs_real_episodes(ros_master: str, start_twin: Callable,
                                                                tmp_path: Path) -> None:
    """A KUKA reached through ROS (the twin) is the learner's only actor: two whole episodes."""
    start_twin("kuka", "reach")
    data = fleet_run(tmp_path, "actors=0", "robots=[kuka]", "total_steps=100", "eval_every=100",
                     "ros_actors=[{robot:kuka,task:reach,transport:rospy}]")
    counters = data["fleet"]["counters"]
    assert_consistent(counters)
    assert counters["samples_trained"] == 100
    real = tmp_path / "real_0_kuka" / "episodes.hdf5"
    assert read_metadata(real)["source"] == "real"
    episodes = read_episodes(real)
    assert episodes and all(ep.length == 50 for ep in episodes)  # whole reach episodes, recorded
    rewards = np.concatenate([ep.rewards for ep in episodes])
    assert np.any((rewards > 0) & (rewards < 1))  # the twin's shaped reward came through, not success flags


def test_vtrace_on_policy_equals_the_lambda_one_returns_and_truncates_off_policy() -> None:
    rng = np.random.default_rng(0)
    reward, value = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    done = np.zeros((6, 3))
    done[2, 1] = 1.0
    last = rng.normal(size=3)
    adv, targets = vtrace(reward, value, done, last, np.zeros((6, 3)), 0.9)
    gae_adv, gae_returns = gae(reward, value, done, last, 0.9, 1.0)
    np.testing.assert_allclose(targets, gae_returns, atol=1e-9)  # V-trace is n-step TD on-policy
    more_likely = vtrace(reward, value, done, last, np.full((6, 3), np.log(2.0)), 0.9)
    np.testing.assert_allclose(more_likely[0], adv, atol=1e-9)  # ratios above 1 are truncated
    never, never_targets = vtrace(reward, value, done, last, np.full((6, 3), -50.0), 0.9)
    assert np.abs(never).max() < 1e-12 and np.allclose(never_targets, value)  # what pi would not do teaches nothing


def test_ppo_fleet_trains_on_corrected_rollouts(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = fleet_run(tmp_path, "algo=ppo", "algo.rollout_steps=64", "algo.minibatch_size=64", "algo.epochs=2",
                     "actors=2", "tasks=[reach,push]", "robots=[panda,kuka]", "total_steps=1024", "eval_every=1024",
                     "eval_episodes=1")
    counters = data["fleet"]["counters"]
    assert_consistent(counters)
    # each rollout: 64 steps x 2 tasks; env steps count every sample of every env
    assert data["tasks"] == ["reach", "push"] and counters["samples_received"] == data["env_steps"]
    assert counters["batches"] * 128 == counters["samples_received"]
    assert counters["samples_trained"] >= 512 and data["learner"]["updates"] > 0
    assert agent_from_checkpoint(data).__class__.__name__ == "PPO"
    assert "staleness" in capsys.readouterr().out
