"""Training plumbing: config validation, checkpoint round trip, resume, eval CLI, bad input."""
from __future__ import annotations

from dataclasses import fields, is_dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from robolearn.agents import agent_from_checkpoint
from robolearn.checkpoint import load_checkpoint, save_checkpoint
from robolearn.cli import main
from robolearn.config import TrainConfig, compose_train, to_dataclass
from robolearn.learners.ppo import PPOConfig
from robolearn.learners.sac import SACConfig
from robolearn.train import train

TINY = ["tasks=[reach]", "robots=[panda]", "logger=none", "policy.hidden=32", "policy.expert_hidden=16",
        "policy.n_experts=4", "algo.batch_size=32", "algo.warmup_steps=100", "eval_episodes=1", "threads=1"]


def test_config_rejects_unknown_keys_and_bad_types() -> None:
    with pytest.raises(ValueError, match="bogus"):
        compose_train(["bogus=1"])
    with pytest.raises(ValueError, match="total_steps"):
        compose_train(["total_steps=many"])
    cfg = to_dataclass(compose_train(["policy=multihead", "tasks=[reach,lift]"]))
    assert cfg.policy.kind == "multihead" and cfg.tasks == ["reach", "lift"]


def test_unknown_task_names_the_allowed_ones(tmp_path: Path) -> None:
    cfg = to_dataclass(compose_train(TINY + ["tasks=[fly]", f"out={tmp_path}"]))
    with pytest.raises(ValueError, match="allowed: reach"):
        train(cfg)


@pytest.mark.parametrize("names,needle", [("tasks=[reach,lift,reach]", "tasks: reach listed more than once"),
                                          ("robots=[kuka,kuka]", "robots: kuka listed more than once")])
def test_a_name_listed_twice_is_refused_before_anything_runs(tmp_path: Path, names: str, needle: str) -> None:
    cfg = to_dataclass(compose_train(TINY + [names, f"out={tmp_path}/run"]))
    with pytest.raises(ValueError, match=needle):
        train(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("policy", ["moe", "mlp", "multihead", "dense_params"])
def test_checkpoint_round_trip_and_resume(tmp_path: Path, policy: str) -> None:
    cfg = to_dataclass(compose_train(TINY + [f"policy={policy}", "total_steps=200", "eval_every=200",
                                             f"out={tmp_path}/a"]))
    path = train(cfg)
    data = load_checkpoint(path)
    assert data["env_steps"] == 200 and data["tasks"] == ["reach"]
    agent = agent_from_checkpoint(data)
    obs = np.random.default_rng(0).normal(size=(4, 38)).astype(np.float32)
    ids = np.zeros(4, np.int64)
    reloaded = agent_from_checkpoint(load_checkpoint(path))
    assert np.allclose(agent.act(obs, ids, ids, deterministic=True), reloaded.act(obs, ids, ids, deterministic=True))
    assert torch.equal(agent.norm.mean, data["learner"]["norm"]["mean"])
    # Resume continues from the saved step count with the saved weights.
    resumed = to_dataclass(compose_train(TINY + [f"policy={policy}", "total_steps=300", "eval_every=100",
                                                 f"resume={path}", f"out={tmp_path}/b"]))
    data_b = load_checkpoint(train(resumed))
    assert data_b["env_steps"] == 300
    assert data_b["learner"]["updates"] > data["learner"]["updates"]


def test_resume_refuses_learner_settings_that_differ_from_the_checkpoint(tmp_path: Path) -> None:
    path = train(to_dataclass(compose_train(TINY + ["total_steps=150", "eval_every=150", f"out={tmp_path}/a"])))
    sac_keys = [arg for arg in TINY if not arg.startswith("algo.")]  # algo=ppo has no SAC keys
    conflicting = {"algo.batch_size=64": "algo.batch_size=64", "algo.updates_per_step=2": "algo.updates_per_step=2.0",
                   "algo=ppo": "trained with algo=sac", "deploy_limits=": "deploy_limits='' \\(checkpoint: 'shipped'"}
    for override, message in conflicting.items():
        base = sac_keys if override == "algo=ppo" else TINY
        cfg = to_dataclass(compose_train(base + ["total_steps=300", f"resume={path}", f"out={tmp_path}/b", override]))
        with pytest.raises(ValueError, match=message.replace(".", r"\.")):
            train(cfg)
        assert not (tmp_path / "b").exists()  # refused before any run folder


@pytest.mark.parametrize("override, message", [
    ("num_envs=0", "num_envs=0: must be >= 1"),
    ("algo.updates_per_step=0", r"algo\.updates_per_step=0\.0: must be in \(0, 64\]"),
    ("algo.updates_per_step=100", r"algo\.updates_per_step=100\.0"),
    ("algo.batch_size=0", r"algo\.batch_size=0: must be in 1\.\.algo\.buffer_size"),
    ("device=tpu", "device='tpu'; allowed: auto, cpu, cuda"),
    ("deploy_limits=nowhere.yaml", "deploy_limits=nowhere.yaml: no such file nowhere.yaml"),
])
def test_bad_training_settings_name_the_setting_and_leave_no_run_folder(tmp_path: Path, override: str,
                                                                        message: str) -> None:
    cfg = to_dataclass(compose_train(TINY + override.split() + [f"out={tmp_path}/run"]))
    with pytest.raises(ValueError, match=message):
        train(cfg)
    assert not (tmp_path / "run").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without a GPU")
def test_cuda_without_a_gpu_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["train", "device=cuda", "total_steps=10", "logger=none", f"out={tmp_path}/run"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: device=cuda: no CUDA GPU") and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_eval_cli_prints_table_and_rejects_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = train(to_dataclass(compose_train(TINY + ["total_steps=100", "eval_every=100", f"out={tmp_path}"])))
    capsys.readouterr()
    assert main(["eval", f"checkpoint={path}", "episodes=1", "disable_experts=0.5", f"video={tmp_path}/videos"]) == 0
    out = capsys.readouterr().out
    assert "reach" in out and "50% experts disabled" in out
    video = tmp_path / "videos" / "reach_panda_mujoco.mp4"
    import cv2

    capture = cv2.VideoCapture(str(video))
    assert capture.isOpened() and int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 50  # reach's horizon
    broken = tmp_path / "broken.pt"
    broken.write_bytes(path.read_bytes()[:100])
    assert main(["eval", f"checkpoint={broken}"]) == 1
    assert "not a readable robolearn checkpoint" in capsys.readouterr().err
    save_checkpoint(tmp_path / "old.pt", {"config": {}, "learner": {}, "tasks": [], "robots": [], "backend": "mujoco",
                                          "env_steps": 0} | {"schema_version": 0})
    assert main(["eval", f"checkpoint={tmp_path / 'old.pt'}"]) == 1
    assert "schema_version" in capsys.readouterr().err


def test_check_passes_against_itself_and_fails_on_a_regression(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    path = train(to_dataclass(compose_train(TINY + ["total_steps=100", "eval_every=100", f"out={tmp_path}"])))
    results = tmp_path / "baseline.json"
    assert main(["eval", f"checkpoint={path}", "episodes=2", f"out={results}"]) == 0
    assert main(["check", f"checkpoint={path}", f"baseline={results}", "episodes=2", "tolerance=0.0"]) == 0
    assert "check passed" in capsys.readouterr().out
    # A baseline that claims better success than the checkpoint has must fail with exit 3.
    recorded = json.loads(results.read_text())
    recorded["success"] = {key: value + 0.5 for key, value in recorded["success"].items()}
    better = tmp_path / "better.json"
    better.write_text(json.dumps(recorded))
    assert main(["check", f"checkpoint={path}", f"baseline={better}", "episodes=2", "tolerance=0.1"]) == 3
    assert "REGRESSION reach/panda" in capsys.readouterr().out


@pytest.mark.parametrize("task_heads", [False, True])
def test_adapting_to_a_new_task_leaves_old_tasks_untouched(tmp_path: Path, task_heads: bool) -> None:
    heads = [f"policy.task_heads={str(task_heads).lower()}"]
    base = train(to_dataclass(compose_train(TINY + heads + ["total_steps=150", "eval_every=150",
                                                            f"out={tmp_path}/base"])))
    adapted = train(to_dataclass(compose_train(TINY + heads + ["tasks=[push]", "total_steps=300", "eval_every=300",
                                                               f"adapt_from={base}", "add_experts=2",
                                                               f"out={tmp_path}/adapted"])))
    before, after = load_checkpoint(base), load_checkpoint(adapted)
    assert after["tasks"] == ["reach", "push"] == after["vocab"]["tasks"]
    assert after["config"]["policy"]["n_experts"] == before["config"]["policy"]["n_experts"] + 2
    old_agent, new_agent = agent_from_checkpoint(before), agent_from_checkpoint(after)
    assert new_agent.updates > old_agent.updates
    # The vocabulary grew by one row: the task embedding and the per-task temperatures.
    assert (old_agent.actor.cond.task.num_embeddings, new_agent.actor.cond.task.num_embeddings) == (1, 2)
    assert new_agent.log_alpha.shape == (2,)
    obs = np.random.default_rng(0).normal(size=(16, 38)).astype(np.float32)
    reach, robot = np.zeros(16, np.int64), np.zeros(16, np.int64)
    # Reach (an old task) acts exactly as before; push (the new one) may use the new experts.
    assert np.array_equal(old_agent.act(obs, reach, robot, True), new_agent.act(obs, reach, robot, True))
    routes = new_agent.routes(obs, reach, robot)[0]
    assert int(routes.max()) < before["config"]["policy"]["n_experts"]
    assert new_agent.actor.net.task_experts[1].all()
    # Resuming the adapted run keeps the old tasks frozen and evaluates every task.
    resumed = load_checkpoint(train(to_dataclass(compose_train(
        TINY + heads + ["tasks=[push]", "total_steps=400", "eval_every=400", f"resume={adapted}", f"out={tmp_path}/resumed"]))))
    resumed_agent = agent_from_checkpoint(resumed)
    assert resumed_agent.updates > new_agent.updates and resumed["tasks"] == ["reach", "push"]
    assert resumed["adaptation"] == after["adaptation"]
    assert np.array_equal(old_agent.act(obs, reach, robot, True), resumed_agent.act(obs, reach, robot, True))


def test_adapting_to_a_new_robot_gives_it_new_experts_and_leaves_old_cells_untouched(tmp_path: Path) -> None:
    base = train(to_dataclass(compose_train(TINY + ["total_steps=150", "eval_every=150", f"out={tmp_path}/base"])))
    with pytest.raises(ValueError, match="add_experts must be >= 1"):
        train(to_dataclass(compose_train(TINY + ["robots=[kuka]", f"adapt_from={base}", "add_experts=0",
                                                 f"out={tmp_path}/refused"])))
    adapted = train(to_dataclass(compose_train(TINY + ["robots=[kuka]", "total_steps=300", "eval_every=300",
                                                       f"adapt_from={base}", "add_experts=2",
                                                       f"out={tmp_path}/adapted"])))
    before, after = load_checkpoint(base), load_checkpoint(adapted)
    assert after["vocab"]["robots"] == ["panda", "kuka"] == after["robots"] and after["tasks"] == ["reach"]
    assert set(after["eval"]) == {"reach/panda", "reach/kuka"}  # the old cells are evaluated too
    assert after["eval"]["reach/panda"] == before["eval"]["reach/panda"]
    n_old = before["config"]["policy"]["n_experts"]
    assert after["config"]["policy"]["n_experts"] == n_old + 2
    old_agent, new_agent = agent_from_checkpoint(before), agent_from_checkpoint(after)
    assert new_agent.updates > old_agent.updates
    obs = np.random.default_rng(0).normal(size=(64, 38)).astype(np.float32)
    reach = np.zeros(64, np.int64)
    panda, kuka = np.zeros(64, np.int64), np.ones(64, np.int64)
    assert np.array_equal(old_agent.act(obs, reach, panda, True), new_agent.act(obs, reach, panda, True))
    # The old arm routes over the old experts only; the new arm has its own (upcycled) copies.
    assert int(new_agent.routes(obs, reach, panda)[0].max()) < n_old
    assert int(new_agent.routes(obs, reach, kuka)[0].max()) >= n_old
    net = new_agent.actor.net
    assert net.robot_experts[1, n_old:].all() and not net.robot_experts[0].any()
    # Everything the old cell had is untouched: every tensor's old part (the old experts, their
    # gate rows, panda's embedding row, the old grants) equals the base's; only new parts grew.
    old_actor, new_actor = old_agent.actor.state_dict(), new_agent.actor.state_dict()
    changed = [key for key, old in old_actor.items()
               if not torch.equal(old, new_actor[key][tuple(slice(0, n) for n in old.shape)])]
    assert changed == []
    for param, old_rows in ((new_agent.actor.cond.robot.weight, 1), (net.layers[0].w1, n_old)):
        moments = new_agent.actor_opt.state[param]["exp_avg"]  # kuka's row and the new experts got gradients
        assert not moments[:old_rows].any() and moments[old_rows:].abs().sum() > 0
    assert not np.array_equal(new_agent.act(obs, reach, kuka, True), new_agent.act(obs, reach, panda, True))


def test_adapting_needs_a_new_task_or_robot(tmp_path: Path) -> None:
    base = train(to_dataclass(compose_train(TINY + ["total_steps=100", "eval_every=100", f"out={tmp_path}/base"])))
    with pytest.raises(ValueError, match="already in the checkpoint"):
        train(to_dataclass(compose_train(TINY + [f"adapt_from={base}", f"out={tmp_path}/again"])))


def test_wandb_logger_writes_an_offline_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = to_dataclass(compose_train([arg for arg in TINY if arg != "logger=none"]
                                     + ["logger=wandb", "total_steps=200", "eval_every=200", f"out={tmp_path}"]))
    train(cfg)
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))


def test_adr_state_is_logged_checkpointed_and_resumed(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import json

    adr = ["adr=adr", "adr.queue=2", "adr.params=[object_mass,table_height]"]
    path = train(to_dataclass(compose_train(TINY + adr + ["total_steps=1000", "eval_every=1000", f"out={tmp_path}/a"])))
    data = load_checkpoint(path)
    assert set(data["adr"]["ranges"]) == {"object_mass", "table_height"}
    history = [json.loads(line) for line in (tmp_path / "a" / "adr.jsonl").read_text().splitlines()]
    assert history[-1]["step"] == 1000 and history[-1]["ranges"] == data["adr"]["ranges"]
    # Resume picks up the checkpoint's ranges, not fresh nominal ones.
    data["adr"]["ranges"]["object_mass"] = [0.6, 1.7]
    save_checkpoint(path, data)
    resumed = train(to_dataclass(compose_train(TINY + adr + ["total_steps=1100", "eval_every=1000", f"resume={path}",
                                                             f"out={tmp_path}/b"])))
    assert load_checkpoint(resumed)["adr"]["ranges"]["object_mass"] == [0.6, 1.7]
    capsys.readouterr()
    assert main(["adr", "plot", f"run={tmp_path}/a"]) == 0
    assert (tmp_path / "a" / "adr_ranges.png").stat().st_size > 10_000
    assert main(["adr", "plot", f"run={tmp_path}"]) == 1
    assert "no adr.jsonl" in capsys.readouterr().err


def test_adr_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="adr"):
        compose_train(["adr=gaussian"])
    cfg = to_dataclass(compose_train(TINY + ["adr=adr", "adr.params=[mass]"]))
    with pytest.raises(ValueError, match="adr params: unknown randomization parameters \\['mass'\\]"):
        train(cfg)


def _flat(config: object, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out |= _flat(value, f"{prefix}{f.name}.") if is_dataclass(value) else {f"{prefix}{f.name}": value}
    return out


def test_python_defaults_and_yaml_defaults_build_the_same_run() -> None:
    """The dataclasses and configs/*.yaml are one source: the Python API and the CLI agree."""
    from robolearn.bc_train import BCRunConfig, compose_bc
    from robolearn.fleet.config import FleetConfig, compose_fleet

    for python, composed in ((TrainConfig(), to_dataclass(compose_train([]))),
                             (FleetConfig(), to_dataclass(compose_fleet([]))), (BCRunConfig(), compose_bc([]))):
        mine, theirs = _flat(python), _flat(composed)
        if "algo" in mine:  # train's algo is a config group (sac | ppo), compared below
            mine.pop("algo")
            theirs = {k: v for k, v in theirs.items() if not k.startswith("algo.")}
        assert mine == theirs, type(python).__name__
    for algo, schema in (("sac", SACConfig), ("ppo", PPOConfig)):
        assert to_dataclass(compose_train([f"algo={algo}"])).algo == schema(), algo
