"""Learning comparison at a fixed step budget: MoE against the dense and multi-head baselines.

Trains each policy with the same tasks, robots, steps and seed (multitask SAC, MuJoCo)
and evaluates it. Prints `name: value` lines: per-policy mean success, per-task
success, wall time, and MoE's margin over each baseline. Slow by design: at the
defaults each policy trains for ~10 minutes on 2 cores.
Run: python bench/moe_vs_baselines.py [--tasks reach,drawer_close] [--robots panda,kuka,xarm6] [--steps 45000]
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="reach,drawer_close")
    parser.add_argument("--robots", default="panda,kuka,xarm6")
    parser.add_argument("--steps", type=int, default=45000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--policies", default="moe,mlp,multihead")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--override", action="append", default=[],
                        help="extra train override for every policy, e.g. policy.task_heads=true (repeatable)")
    args = parser.parse_args()
    means = {}
    for policy in args.policies.split(","):
        with tempfile.TemporaryDirectory() as out:
            cfg = to_dataclass(compose_train([f"tasks=[{args.tasks}]", f"robots=[{args.robots}]", f"policy={policy}",
                                              f"total_steps={args.steps}", f"eval_every={args.steps}",
                                              f"eval_episodes={args.episodes}", f"seed={args.seed}", "logger=none",
                                              f"out={out}"] + args.override))
            started = time.perf_counter()
            results = load_checkpoint(train(cfg))["eval"]
            print(f"{policy}_wall_s: {time.perf_counter() - started:.0f}")
        for key, success in results.items():
            print(f"{policy}/{key}/success: {success:.2f}")
        means[policy] = float(np.mean(list(results.values())))
        print(f"{policy}_mean_success: {means[policy]:.3f}")
    for baseline in ("mlp", "multihead"):
        if "moe" in means and baseline in means:
            print(f"moe_minus_{baseline}: {means['moe'] - means[baseline]:+.3f}")


if __name__ == "__main__":
    main()
