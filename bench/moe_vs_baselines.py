"""Learning comparison at a fixed step budget: MoE against the dense and multi-head baselines
(`dense_params`: the same total parameters; `dense_compute`: the same active compute).

Trains each policy with the same tasks, robots, steps and seeds (multitask SAC, MuJoCo)
and evaluates it. Prints `name: value` lines: per-task success and mean success per
policy and seed, wall time, then over the seeds each policy's mean and standard deviation
and MoE's margin over each baseline (mean and spread of the per-seed differences: the
seeds pair the runs). Slow by design: at the defaults each policy trains for 10-20
minutes per seed on 2 cores.
Run: python bench/moe_vs_baselines.py [--tasks reach,drawer_close] [--robots panda,kuka,xarm6] [--steps 45000]
     [--seeds 0,1,2] [--recipe recorded|train]
MT10 (Meta-World's protocol: 50 episodes, one per goal):
     python bench/moe_vs_baselines.py --tasks mt10 --episodes 50 --recipe train --seeds 0,1,2
"""
from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.train import train
from recipes import RECIPES, add_recipe_argument



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="reach,drawer_close")
    parser.add_argument("--robots", default="panda,kuka,xarm6")
    parser.add_argument("--steps", type=int, default=45000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--policies", default="moe,dense_params,dense_compute,multihead,mlp")
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    add_recipe_argument(parser)
    parser.add_argument("--override", action="append", default=[],
                        help="extra train override for every policy, e.g. policy.task_heads=true (repeatable)")
    args = parser.parse_args()
    seeds = [int(seed) for seed in args.seeds.split(",")]
    recipe = RECIPES[args.recipe]
    means: dict[str, list[float]] = {}
    for seed in seeds:
        for policy in args.policies.split(","):
            with tempfile.TemporaryDirectory() as out:
                cfg = to_dataclass(compose_train([f"tasks=[{args.tasks}]", f"robots=[{args.robots}]",
                                                  f"policy={policy}", f"total_steps={args.steps}",
                                                  f"eval_every={args.steps}", f"eval_episodes={args.episodes}",
                                                  f"seed={seed}", "logger=none", f"out={out}",
                                                  *recipe] + args.override))
                started = time.perf_counter()
                data = load_checkpoint(train(cfg))
                results = data["eval"]
                actor = data["learner"]["actor"]
                print(f"{policy}_actor_parameters: {sum(t.numel() for t in actor.values() if t.is_floating_point())}")
                print(f"{policy}_seed{seed}_wall_s: {time.perf_counter() - started:.0f}")
            for key, success in results.items():
                print(f"{policy}_seed{seed}/{key}/success: {success:.2f}")
            means.setdefault(policy, []).append(float(np.mean(list(results.values()))))
            print(f"{policy}_seed{seed}_mean_success: {means[policy][-1]:.3f}", flush=True)
    for policy, values in means.items():
        print(f"{policy}_mean_success: {np.mean(values):.3f}")
        print(f"{policy}_std_over_seeds: {np.std(values):.3f}")
    for baseline in means:
        if "moe" in means and baseline != "moe":
            margins = np.subtract(means["moe"], means[baseline])
            print(f"moe_minus_{baseline}: {margins.mean():+.3f}")
            print(f"moe_minus_{baseline}_std_over_seeds: {margins.std():.3f}")


if __name__ == "__main__":
    main()
