"""Does ADR buy robustness? One policy is first trained on nominal MuJoCo physics; it then
trains on for the same number of steps three times: without randomization, with fixed
uniform ranges over the same parameters (their default ranges, sims/randomization.py), and
with ADR. Each is evaluated on MuJoCo (nominal), on PyBullet (another simulator) and on
MuJoCo with held-out randomized physics (HELDOUT below: fixed ranges chosen in advance,
never sampled in training; ADR's own ranges may grow to cover them, which is the point of
ADR). Starting ADR from a competent policy lets its ranges grow within a short run.

Prints `name: value` lines: per seed, run and condition the success per cell and the
mean, each run's kept fraction (condition / nominal MuJoCo), the final ADR entropy and
ranges; then per run and condition the mean and sd over the seeds.
Run: python bench/adr_transfer.py [--tasks drawer_close] [--robots panda,kuka,xarm6] [--steps 15000]
     [--continue-steps 45000] [--episodes 40] [--seeds 0,1,2] [--recipe recorded|train]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.evaluate import evaluate
from robolearn.agents import agent_from_checkpoint
from robolearn.train import train
from robolearn.sims.randomization import ADR, UniformRandomizer
from recipes import RECIPES, add_recipe_argument

# Physics that a reaching or pushing arm feels, with steps big enough to move in a short run.
PARAMS = "adr.params=[actuator_gain,joint_damping,action_latency,action_noise,obs_noise,gravity,object_mass,object_friction]"
RUNS = {"no_dr": [], "uniform": ["adr=uniform", PARAMS],
        "adr": ["adr=adr", "adr.queue=3", "adr.t_high=0.6", "adr.t_low=0.2", PARAMS,
                "++adr.steps={actuator_gain:0.1,joint_damping:1.0,action_latency:0.5,action_noise:0.03,obs_noise:0.002,"
                "gravity:0.5,object_mass:0.3,object_friction:0.1}"]}
HELDOUT = {"actuator_gain": (0.7, 0.9), "joint_damping": (2.0, 6.0), "action_latency": (1, 1),
           "action_noise": (0.03, 0.08), "obs_noise": (0.001, 0.003), "gravity": (-10.5, -9.5),
           "object_mass": (1.2, 2.0), "object_friction": (0.7, 0.9), "table_friction": (0.7, 0.9)}
CONDITIONS = {"mujoco": ("mujoco", "none"), "pybullet": ("pybullet", "none"),
              "heldout_dr": ("mujoco", UniformRandomizer(HELDOUT, params=list(HELDOUT)))}



def transfer(args: argparse.Namespace, seed: int) -> dict[str, dict[str, float]]:
    """One seed: the nominal stage, its three continuations and their evaluations (mean success per condition)."""
    tasks, robots = args.tasks.split(","), args.robots.split(",")
    common = [f"tasks=[{args.tasks}]", f"robots=[{args.robots}]", "logger=none", "eval_episodes=1", f"seed={seed}",
              *RECIPES[args.recipe]]
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as out:
        base = train(to_dataclass(compose_train(common + [f"total_steps={args.steps}", f"eval_every={args.steps}",
                                                          f"out={out}/base"])))
        for run, extra in RUNS.items():
            total = args.steps + (args.continue_steps or args.steps)
            data = load_checkpoint(train(to_dataclass(compose_train(
                common + [f"total_steps={total}", f"eval_every={total}", f"resume={base}", f"out={out}/{run}"] + extra))))
            agent = agent_from_checkpoint(data)
            results[run] = {}
            for name, (backend, dr) in CONDITIONS.items():
                table = evaluate(agent, tasks, robots, backend, args.episodes, dr=dr)
                results[run][name] = float(np.mean(list(table.values())))
                for (task, robot), success in table.items():
                    print(f"seed{seed}/{run}/{name}/{task}/{robot}: {success:.2f}")
                print(f"seed{seed}/{run}/{name}/mean_success: {results[run][name]:.3f}")
            for name in ("pybullet", "heldout_dr"):
                nominal = results[run]["mujoco"]
                print(f"seed{seed}/{run}/{name}/kept_fraction: "
                      f"{results[run][name] / nominal if nominal > 0 else float('nan'):.3f}")
            if data["adr"]:
                adr = ADR.from_state_dict(data["adr"])
                print(f"seed{seed}/{run}/adr_entropy: {adr.entropy():.3f}")
                for param, (low, high) in adr.ranges.items():
                    print(f"seed{seed}/{run}/adr_range/{param}: [{low:.4g}, {high:.4g}]")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="drawer_close")
    parser.add_argument("--robots", default="panda,kuka,xarm6")
    parser.add_argument("--steps", type=int, default=15000, help="steps of the nominal stage")
    parser.add_argument("--continue-steps", type=int, default=0, help="steps of each continuation (0: --steps)")
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--seeds", default="0", help="comma-separated training seeds")
    add_recipe_argument(parser)
    args = parser.parse_args()
    per_seed = [transfer(args, int(seed)) for seed in args.seeds.split(",")]
    for run in RUNS:
        for name in CONDITIONS:
            values = [results[run][name] for results in per_seed]
            spread = statistics.pstdev(values) if len(values) > 1 else 0.0
            print(f"{run}/{name}/mean_success: {statistics.mean(values):.3f}")
            print(f"{run}/{name}/sd_over_seeds: {spread:.3f}")


if __name__ == "__main__":
    main()
