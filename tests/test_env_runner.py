"""The training envs: worker processes step exactly as in-process envs, seeds reproduce, episodes end right."""
from __future__ import annotations

import numpy as np

from robolearn.env_runner import EnvRunner, env_pool
from robolearn.logger import Logger
from robolearn.sims.randomization import ADR, ADRConfig
from robolearn.envs import run_vocabulary

COMBOS = [("reach", "panda"), ("reach", "panda"), ("drawer_close", "kuka")]  # num_envs=2 of one combo
STEPS = 90  # past the 50- and 80-step episodes of reach and drawer_close: every env resets once


class Episodes(Logger):
    def __init__(self) -> None:
        super().__init__("none", None, "", {})  # type: ignore[arg-type]
        self.logged: list[tuple[int, dict[str, float]]] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.logged.append((step, metrics))


def rollout(workers: bool, seed: int, randomizer: ADR | str = "none") -> tuple[list[np.ndarray], Episodes]:
    episodes = Episodes()
    runner = EnvRunner(COMBOS, env_pool(COMBOS, "mujoco", run_vocabulary(["reach", "drawer_close"], ["panda", "kuka"]), None, randomizer, workers), seed,
                       episodes)
    rng = np.random.default_rng(0)
    seen = [runner.states.copy()]
    try:
        for step in range(STEPS):
            actions = rng.uniform(-1, 1, (runner.n, 7)).astype(np.float32)
            runner.step_async(actions)
            reward, terminated, truncated, next_state = runner.step_wait(step)
            seen += [reward, terminated | truncated, next_state, runner.states.copy()]
    finally:
        runner.close()
    return seen, episodes


def test_workers_step_exactly_like_in_process_envs_and_seeds_reproduce() -> None:
    in_process, logged_a = rollout(workers=False, seed=3)
    in_workers, logged_b = rollout(workers=True, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(in_process, in_workers, strict=True))
    assert logged_a.logged == logged_b.logged
    # The two envs of one combo start from different seeds; another seed gives other starts.
    assert not np.array_equal(in_process[0][0], in_process[0][1])
    other, _ = rollout(workers=False, seed=4)
    assert not np.array_equal(other[0], in_process[0])


def test_an_ended_episode_stores_its_final_state_and_moves_on_to_a_reset() -> None:
    seen, episodes = rollout(workers=True, seed=0)
    # seen = [initial, then per step: reward, done, next_state, states]
    done = np.stack(seen[2::4])
    next_state, states = np.stack(seen[3::4]), np.stack(seen[4::4])
    assert done.any(axis=0).all()  # every env finished an episode within STEPS
    ended = np.argwhere(done)
    for step, env in ended:  # the stored next state is the final one, not the reset that replaced it
        assert not np.array_equal(next_state[step, env], states[step, env])
    not_ended = np.argwhere(~done)
    assert all(np.array_equal(next_state[s, e], states[s, e]) for s, e in not_ended)
    combos_logged = [key.split("/")[1:3] for _, metrics in episodes.logged for key in metrics if key.endswith("success")]
    assert len(combos_logged) == len(ended) and ["drawer_close", "kuka"] in combos_logged


def pinned_adr(moved: bool) -> ADR:
    """Every episode pinned at a boundary, queues too long to move; `moved`: ranges away from nominal."""
    adr = ADR(ADRConfig(params=["object_mass", "table_height"], p_boundary=1.0, queue=100000))
    if moved:
        adr.ranges = {"object_mass": [1.2, 1.6], "table_height": [0.015, 0.02]}
    return adr


def test_workers_feed_the_learners_one_adr_state_exactly_as_in_process_envs() -> None:
    owners = {}
    for workers in (False, True):
        owners[workers] = pinned_adr(moved=True)
        seen, _ = rollout(workers, seed=3, randomizer=owners[workers])
        owners[workers].seen = seen  # type: ignore[attr-defined]
    in_process, in_workers = owners[False], owners[True]
    # The workers sampled from the owner's (widened) ranges: the same physics, the same transitions...
    assert all(np.array_equal(a, b) for a, b in zip(in_process.seen, in_workers.seen, strict=True))
    # ...and every finished episode's boundary result reached the owner, in the same order.
    assert in_workers.queues == in_process.queues
    assert sum(map(len, in_workers.queues.values())) == len(COMBOS)  # one finished episode per env in STEPS
    at_nominal, _ = rollout(True, seed=3, randomizer=pinned_adr(moved=False))
    assert not all(np.array_equal(a, b) for a, b in zip(at_nominal, in_workers.seen))  # the ranges took effect
