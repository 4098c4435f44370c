"""Other labs' robots (other state and action sizes and units) imported from LeRobot v3.0,
pooled with the suite's, and normalized by their own statistics."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from foreign_data import ROBOTS, write_dataset
from robolearn.agents import make_agent
from robolearn.cli import main
from robolearn.config import compose_train, to_dataclass
from robolearn.demos.episodes import read_episodes, read_metadata
from robolearn.demos.foreign import ForeignLayout
from robolearn.demos.lerobot import export_lerobot, import_lerobot
from robolearn.envs import run_vocabulary
from robolearn.fleet.pool import load_pooled
from robolearn.learners.replay import mixed_batch
from robolearn.spec import ACTION_DIM, STATE_DIM


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, dict]]:
    """Each synthetic robot's dataset, imported as reach data: robot -> (episode file, the values written)."""
    root = tmp_path_factory.mktemp("foreign")
    out = {}
    for i, robot in enumerate(ROBOTS):
        written = write_dataset(root / robot, robot, seed=i, with_stats=robot == "koch")
        path = root / f"{robot}.hdf5"
        assert import_lerobot(root / robot, path, task="reach") == 3
        out[robot] = (path, written)
    return out


def test_another_robots_data_is_mapped_into_the_suite_shape_and_exports_back_in_its_own(
        imported: dict[str, tuple[Path, dict]], tmp_path: Path) -> None:
    for robot, (path, written) in imported.items():
        state_dim, action_dim, _ = ROBOTS[robot]
        meta = read_metadata(path)
        layout = ForeignLayout.of(meta)
        assert meta["robot"] == robot and meta["task"] == "reach"
        assert (layout.state_dim, layout.action_dim) == (state_dim, action_dim)
        episodes = read_episodes(path)
        states = np.concatenate([ep.states_obs for ep in episodes])
        actions = np.concatenate([ep.actions for ep in episodes])
        assert states.shape[1] == STATE_DIM and actions.shape[1] == ACTION_DIM
        np.testing.assert_array_equal(states[:, :state_dim], written["state"])
        assert not states[:, state_dim:].any() and not actions[:, action_dim:].any()
        assert np.abs(actions).max() <= 1.0
        if robot == "koch":  # scaled by meta/stats.json's range (offset +- 2 scale): the data fills half of it
            assert 0.45 < np.abs(actions).max() < 0.5
        else:  # by the data's own range: it reaches both ends
            np.testing.assert_allclose(actions[:, :action_dim].min(0), -1.0, atol=1e-6)
            np.testing.assert_allclose(actions[:, :action_dim].max(0), 1.0, atol=1e-6)
        exported = export_lerobot(path, tmp_path / robot, videos=False)
        table = pq.read_table(exported / "data" / "chunk-000" / "file-000.parquet")
        np.testing.assert_array_equal(np.array(table.column("observation.state").to_pylist(), np.float32),
                                      written["state"])
        scale = ROBOTS[robot][2]
        np.testing.assert_allclose(np.array(table.column("action").to_pylist()), written["action"],
                                   atol=1e-6 * scale)


def test_the_pooled_learner_normalizes_each_robot_by_its_own_statistics(
        imported: dict[str, tuple[Path, dict]]) -> None:
    paths = [str(path) for path, _ in imported.values()]
    vocab = run_vocabulary(["reach"], ["panda", *ROBOTS])
    pooled = load_pooled(paths, ["reach"], vocab)
    obs, robot = torch.from_numpy(pooled.obs[:pooled.size]), torch.from_numpy(pooled.robot[:pooled.size])
    cfg = to_dataclass(compose_train(["algo=sac", "algo.relative_inputs=false"]))
    shared = make_agent(cfg.policy, cfg.algo, vocab)
    cfg.algo.per_robot_norm = True
    per_robot = make_agent(cfg.policy, cfg.algo, vocab)
    for agent in (shared, per_robot):
        agent.norm.update(obs, robot)
    for name in ROBOTS:
        rows, dim = robot == vocab.robot_id(name), ROBOTS[name][0]
        own = per_robot.norm(obs[rows], robot[rows])[:, :dim]
        torch.testing.assert_close(own.mean(0), torch.zeros(dim), atol=1e-4, rtol=0)
        torch.testing.assert_close(own.std(0, unbiased=False), torch.ones(dim), atol=1e-3, rtol=0)
    koch = robot == vocab.robot_id("koch")
    assert shared.norm(obs[koch]).mean(0)[:20].abs().min() > 0.5  # one set for both: Koch's ticks sit off centre
    # A learner step on a batch mixing both robots runs on these inputs.
    metrics = per_robot.update(mixed_batch(pooled, None, 0.0, 64, np.random.default_rng(0)))
    assert np.isfinite(metrics["loss/critic"])


def test_commands_that_need_the_suites_layout_refuse_another_robots_file(
        imported: dict[str, tuple[Path, dict]], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = imported["so100"][0]
    for args in (["replay", f"file={path}", "demo=0"], ["primitives", "learn", f"data=[{path}]", f"out={tmp_path}/p"]):
        assert main(args) == 1
        err = capsys.readouterr().err
        assert "robot 'so100' was imported in its own conventions (12-d state)" in err and "Traceback" not in err


def test_a_foreign_dataset_without_a_robot_name_or_claiming_a_suite_robot_is_refused(tmp_path: Path,
                                                                                      capsys: pytest.CaptureFixture) -> None:
    write_dataset(tmp_path / "arm", "so100")
    assert main(["data", "import", f"src={tmp_path / 'arm'}", f"out={tmp_path / 'a.hdf5'}", "robot=panda"]) == 1
    assert "robot 'panda' is one of the suite's, whose data has 38 and 7" in capsys.readouterr().err
    assert not (tmp_path / "a.hdf5").exists()
    assert main(["data", "import", f"src={tmp_path / 'arm'}", f"out={tmp_path / 'b.hdf5'}", "robot=my_arm",
                 "task=reach"]) == 0
    assert read_metadata(tmp_path / "b.hdf5")["robot"] == "my_arm"
    capsys.readouterr()
    assert main(["data", "info", f"file={tmp_path / 'b.hdf5'}"]) == 0
    assert "in their own conventions: my_arm (12-d state, 6-d action) (3 demos)" in capsys.readouterr().out
