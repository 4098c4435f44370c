"""Stitched primitives against end-to-end behaviour cloning, from the same few demos.

For each compound task (pick_place, stack, pour): `--demos` scripted Panda demos on MuJoCo
(noise 0.1, as `robolearn record device=scripted`), then (a) a primitive library learned
from them and the skill of configs/skill/<task>.yaml and (b) BC (MLP, the same demos)
are evaluated on all three arms and both simulators, `--episodes` each, same seeds.
Prints `<task>_<robot>_<backend>_{skill,bc}_success` lines and per-task means.
Run: python bench/primitives_vs_bc.py [--demos 15] [--episodes 10]
"""
from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.recorder import record
from robolearn.primitives.library import learn_library
from robolearn.primitives.skill import load_skill, run_skill
from robolearn.bc_train import compose_bc, train_bc
from robolearn.checkpoint import load_checkpoint
from robolearn.evaluate import evaluate
from robolearn.agents import agent_from_checkpoint
from robolearn.sims.backend import BACKENDS
from robolearn.sims.robots import ROBOTS

TASKS = ("pick_place", "stack", "pour")
SEED = 20_000  # evaluation scenes, unlike any demo's


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", type=int, default=15)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--bc-steps", type=int, default=4000)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench_primitives_"))
    for task in TASKS:
        demos = out / f"{task}.hdf5"
        with contextlib.redirect_stderr(io.StringIO()):
            record(task, "panda", "mujoco", ScriptedDevice(noise=0.1, seed=0), demos, args.demos, source="sim")
        library = learn_library([str(demos)])
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            checkpoint = train_bc(compose_bc([f"data=[{demos}]", f"algo.steps={args.bc_steps}", "eval_episodes=0",
                                              f"out={out / task}"]))
        agent = agent_from_checkpoint(load_checkpoint(checkpoint))
        skill_rates, bc_rates = [], []
        for robot in ROBOTS:
            for backend in BACKENDS:
                results = run_skill(load_skill(task), library, robot, backend, args.episodes, SEED)
                skill = float(np.mean([r.success for r in results]))
                bc = evaluate(agent, [task], [robot], backend, args.episodes, seed=SEED)[(task, robot)]
                skill_rates.append(skill)
                bc_rates.append(bc)
                print(f"{task}_{robot}_{backend}_skill_success: {skill:.2f}")
                print(f"{task}_{robot}_{backend}_bc_success: {bc:.2f}", flush=True)
        print(f"{task}_mean_skill_success: {np.mean(skill_rates):.2f}")
        print(f"{task}_mean_bc_success: {np.mean(bc_rates):.2f}", flush=True)


if __name__ == "__main__":
    main()
