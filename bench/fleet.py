"""Fleet benchmarks: throughput against the number of actors, and pooled against per-robot learning.

--throughput: the same SAC run (reach on the three arms, `--steps` env steps) by the
single-process trainer and by the fleet with 1, 2 and 4 actors, all in this run. Printed:
env samples/s of each, each fleet's ratio to the single process, and its efficiency
(samples/s per actor relative to one actor). Run twice by default: at the trainer's update
ratio (the learner bounds throughput) and with `updates_per_step=0.05` (collection bound).
--pooling: equal total samples. One fleet of three actors (one per arm) trains one policy
on `3 x --steps` samples; three fleets of one actor each train one policy per arm on
`--steps` samples. Printed: each policy's success per arm (`--episodes` each).
Run: python bench/fleet.py --throughput [--steps 3000]; python bench/fleet.py --pooling [--steps 8000]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import re
import tempfile
import time
from pathlib import Path

import ray

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.evaluate import evaluate
from robolearn.fleet.config import compose_fleet
from robolearn.fleet.learner import run_fleet
from robolearn.agents import agent_from_checkpoint
from robolearn.train import train

ROBOTS = ["panda", "kuka", "xarm6"]


def timed(fn, cfg) -> float:
    """env samples/s of a run, from its own `throughput:` line."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        fn(cfg)
    return float(re.search(r"throughput: ([\d.]+) env", buffer.getvalue()).group(1))


def throughput(steps: int, out: Path) -> None:
    common = ["tasks=[reach]", f"robots=[{','.join(ROBOTS)}]", "logger=none", f"total_steps={steps}",
              f"eval_every={steps}", "eval_episodes=1", "algo.warmup_steps=500"]
    for label, extra in (("learner_ratio", ["algo.updates_per_step=0.5"]), ("collection", ["algo.updates_per_step=0.05"])):
        single = timed(train, to_dataclass(compose_train([*common, *extra, "threads=1", "num_envs=1",
                                                          f"out={out / 'single'}"])))
        print(f"{label}_single_process_samples_per_s: {single:.1f}", flush=True)
        per_actor_one = None
        for actors in (1, 2, 4):
            cfg = to_dataclass(compose_fleet([*common, *extra, f"actors={actors}", f"out={out / f'fleet{actors}'}"]))
            rate = timed(run_fleet, cfg)
            per_actor_one = per_actor_one or rate
            print(f"{label}_fleet_{actors}_actors_samples_per_s: {rate:.1f}")
            print(f"{label}_fleet_{actors}_actors_over_single: {rate / single:.2f}")
            print(f"{label}_fleet_{actors}_actors_efficiency: {rate / (actors * per_actor_one):.2f}", flush=True)


def pooling(steps: int, episodes: int, out: Path) -> None:
    common = ["tasks=[reach]", "logger=none", "eval_episodes=1", "seed=0"]
    cfg = to_dataclass(compose_fleet([*common, "actors=3", f"robots=[{','.join(ROBOTS)}]", f"total_steps={3 * steps}",
                                      f"eval_every={3 * steps}", f"out={out / 'pooled'}"]))
    with contextlib.redirect_stdout(io.StringIO()):
        pooled = agent_from_checkpoint(load_checkpoint(run_fleet(cfg)))
    for robot in ROBOTS:
        cfg = to_dataclass(compose_fleet([*common, "actors=1", f"robots=[{robot}]", f"total_steps={steps}",
                                          f"eval_every={steps}", f"out={out / robot}"]))
        with contextlib.redirect_stdout(io.StringIO()):
            alone = agent_from_checkpoint(load_checkpoint(run_fleet(cfg)))
        print(f"pooled_{robot}_success: {evaluate(pooled, ['reach'], [robot], 'mujoco', episodes)[('reach', robot)]:.2f}")
        print(f"separate_{robot}_success: {evaluate(alone, ['reach'], [robot], 'mujoco', episodes)[('reach', robot)]:.2f}",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--pooling", action="store_true")
    parser.add_argument("--steps", type=int, default=0, help="env steps per run (pooling: per robot)")
    parser.add_argument("--episodes", type=int, default=20)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_fleet_"))
    ray.init(include_dashboard=False, logging_level="ERROR", log_to_driver=False)
    started = time.perf_counter()
    if args.throughput:
        throughput(args.steps or 3000, out)
    if args.pooling:
        pooling(args.steps or 8000, args.episodes, out)
    print(f"bench_seconds: {time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
