"""Learning tests: a small MoE trained by multitask SAC must actually learn (minutes, not hours).

One run is `make train`'s: reach and drawer_close (a contact task) on all three arms in one
MoE (configs/train.yaml: 2 envs per task x arm in worker processes, 50k env steps, 10
scripted-expert episodes per cell as replay, the deploy safety limits in the loop, about
3 min on 2 cores). It is checked on every cell, and its routing: spread over the experts,
and different for the two tasks. A second run (marked slow) trains drawer_close alone on
the three arms from scratch and compares it with an untrained policy; a third trains lift on the Panda
with scripted-expert demos and compares it with untrained (and, marked slow, with the same
run from scratch). The last two keep the recipe their budgets were set with: one env per task x arm, 0.5
updates per env step, plain SAC, no deploy limits.
Thresholds: every cell of the shared model >= 90% (seeds 0, 1, 2: every cell 0.90-1.00
over 20 episodes; with 5 demos seed 0 ended at 0.75 on one cell); drawer_close alone at least 40 points
above untrained; lift at least 60
points above untrained and 50 above from scratch; routing spread over the experts, and the
two tasks' expert usage at least 0.3 apart (total variation; measured 0.72-0.98).
A fourth run trains the suite's reach (Panda) and Meta-World's reach-v3 (its Sawyer) in one
MoE, 20k env steps with 5 scripted episodes of each as demos, without deploy limits (2.2 min): both at least 0.25
(seed 0: 0.50 and 0.45 over 20 episodes, 0.48 over Meta-World's 50 goals; untrained 0.00 on
both for two seeds).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from robolearn.agents import agent_from_checkpoint, make_agent
from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.evaluate import evaluate
from robolearn.envs import make_env, run_vocabulary
from robolearn.train import train

ROBOTS = ["panda", "kuka", "xarm6"]
EPISODES = 20
PLAIN_SAC = ("algo=sac", "deploy_limits=")  # no demos, no deploy limits: the recipe before make train's
ONE_ENV_HALF_UTD = (*PLAIN_SAC, "num_envs=1", "algo.updates_per_step=0.5")
MULTITASK = ["reach", "drawer_close"]
MULTITASK_STEPS = 50000  # configs/train.yaml's


def train_run(out: Path, tasks: str, robots: list[str], steps: int, extra: tuple[str, ...] = ()) -> dict:
    cfg = to_dataclass(compose_train([f"tasks=[{tasks}]", f"robots=[{','.join(robots)}]", "logger=none",
                                      f"total_steps={steps}", f"eval_every={steps}", "eval_episodes=1", "seed=0",
                                      f"out={out}", *extra]))
    return load_checkpoint(train(cfg))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return train_run(tmp_path_factory.mktemp("multitask"), ",".join(MULTITASK), ROBOTS, MULTITASK_STEPS)


@pytest.fixture(scope="module")
def success(trained: dict) -> dict[tuple[str, str], float]:
    # Under the limits it was trained with, as `robolearn eval` evaluates it.
    return evaluate(agent_from_checkpoint(trained), MULTITASK, ROBOTS, "mujoco", EPISODES,
                    deploy_limits=trained["config"]["deploy_limits"])


def test_moe_learns_reach_on_every_robot(success: dict) -> None:
    assert all(success[("reach", robot)] >= 0.9 for robot in ROBOTS), success


def test_the_same_moe_learns_drawer_close_on_every_robot(success: dict) -> None:
    assert all(success[("drawer_close", robot)] >= 0.9 for robot in ROBOTS), success


def expert_usage(agent, task: str, robot: str) -> np.ndarray:
    """The share of routing choices per expert over the states the policy visits on `task`."""
    env = make_env(task, robot, "mujoco", agent.vocab)
    states, tasks, robots = [], [], []
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        for _ in range(20):
            states.append(obs["state"]), tasks.append(obs["task_id"]), robots.append(obs["robot_id"])
            obs, *_ = env.step(agent.act(obs["state"][None], np.array([obs["task_id"]]), np.array([obs["robot_id"]]),
                                         deterministic=True)[0])
    env.close()
    routes = agent.routes(np.stack(states), np.array(tasks), np.array(robots))[0].numpy().ravel()
    return np.bincount(routes, minlength=agent.actor.net.layers[0].n_experts) / routes.size


@pytest.mark.parametrize("robot", ROBOTS)
def test_each_task_routes_to_experts_of_its_own(trained: dict, robot: str) -> None:
    agent = agent_from_checkpoint(trained)
    reach, drawer = expert_usage(agent, "reach", robot), expert_usage(agent, "drawer_close", robot)
    assert 0.5 * np.abs(reach - drawer).sum() >= 0.3, (reach, drawer)


@pytest.mark.slow  # 6.5 min on 2 cores: the largest single item of `make test`, run with `pytest -m slow`
def test_moe_learns_drawer_close_well_above_untrained(tmp_path: Path) -> None:
    data = train_run(tmp_path, "drawer_close", ROBOTS, 15000, ONE_ENV_HALF_UTD)
    learned = evaluate(agent_from_checkpoint(data), ["drawer_close"], ROBOTS, "mujoco", EPISODES)
    cfg = to_dataclass(compose_train(["logger=none"]))
    untrained = evaluate(make_agent(cfg.policy, cfg.algo, run_vocabulary(["drawer_close"], ROBOTS)), ["drawer_close"], ROBOTS, "mujoco", EPISODES)
    assert np.mean(list(learned.values())) >= np.mean(list(untrained.values())) + 0.4, (learned, untrained)


def test_routing_does_not_collapse(trained: dict) -> None:
    agent = agent_from_checkpoint(trained)
    share = np.mean([expert_usage(agent, task, robot) for task in MULTITASK for robot in ROBOTS], axis=0)
    assert share.max() < 0.5, share  # k=2: a collapsed gate would put >= 50% on one expert
    assert (share > 0.05).sum() >= 4, share


def lift_success(tmp_path: Path, *overrides: str) -> float:
    """Lift on the Panda after 6,000 env steps of SAC with `overrides`."""
    data = train_run(tmp_path, "lift", ["panda"], 6000, (*overrides, *ONE_ENV_HALF_UTD))
    return evaluate(agent_from_checkpoint(data), ["lift"], ["panda"], "mujoco", EPISODES)[("lift", "panda")]


def test_moe_learns_lift_from_expert_demos(tmp_path: Path) -> None:
    """Lift (grasp, then raise 8 cm) with 25 scripted-expert episodes in replay and the actor
    cloning them; that random exploration alone does not get there at this budget is the
    slow test below."""
    learned = lift_success(tmp_path, "algo.demo_episodes=25")
    cfg = to_dataclass(compose_train(["logger=none"]))
    untrained = evaluate(make_agent(cfg.policy, cfg.algo, run_vocabulary(["lift"], ["panda"])), ["lift"], ["panda"],
                         "mujoco", EPISODES)[("lift", "panda")]
    assert learned >= untrained + 0.6, (learned, untrained)


@pytest.mark.slow  # 4.5 min on 2 cores: a second 6,000-step run beside the one above
def test_lift_is_out_of_reach_without_expert_demos(tmp_path: Path) -> None:
    learned, alone = lift_success(tmp_path / "demos", "algo.demo_episodes=25"), lift_success(tmp_path / "scratch")
    assert learned >= alone + 0.5, (learned, alone)


def test_a_suite_task_and_a_meta_world_task_learn_in_one_model(tmp_path: Path) -> None:
    tasks = ["reach", "mw:reach-v3"]
    data = train_run(tmp_path, ",".join(tasks), ["panda"], 20000, (*PLAIN_SAC, "algo.demo_episodes=5"))
    success = evaluate(agent_from_checkpoint(data), tasks, ["panda"], "mujoco", EPISODES)
    assert success[("reach", "panda")] >= 0.25 and success[("mw:reach-v3", "sawyer")] >= 0.25, success
