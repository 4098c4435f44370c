"""Learning from few demonstrations: success against the number of demos.

Records `max(--demos)` demos per task with the scripted device (Gaussian action noise
`--noise`), then for each N learns from the first N and evaluates on held-out seeds.
Models: `mlp` (BC, one action per step), `chunk` (BC with action chunking) and `skill`
(a primitive library learned from the same demos, stitched by configs/skill/<task>.yaml).
Prints `name: value` lines `<task>/<model>/<N>: success`. Target: >= 0.8 from 15 demos.
Run: python bench/bc_few_demos.py [--tasks pick_place,pour] [--demos 5,15,50,200] [--models mlp,chunk,skill]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from robolearn.demos.devices import ScriptedDevice
from robolearn.demos.recorder import record
from robolearn.primitives.library import learn_library
from robolearn.primitives.skill import load_skill, run_skill
from robolearn.bc_train import compose_bc, train_bc
from robolearn.checkpoint import load_checkpoint

SEED = 10_000  # evaluation scenes (robolearn.evaluate's default), unlike any demo's


def skill_success(task: str, data: Path, demos: int, robot: str, backend: str, episodes: int) -> float:
    library = learn_library([str(data)], max_demos=demos)
    results = run_skill(load_skill(task), library, robot, backend, episodes, SEED)
    return float(np.mean([r.success for r in results]))


def bc_success(task: str, data: Path, demos: int, model: str, args: argparse.Namespace, out: str) -> float:
    cfg = compose_bc([f"data=[{data}]", f"max_demos={demos}", f"algo.model={model}", f"labels={args.labels}",
                      f"algo.steps={args.steps}", f"eval_episodes={args.episodes}", f"out={out}"])
    return load_checkpoint(train_bc(cfg))["eval"][f"{task}/{args.robot}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="pick_place,pour")
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--backend", default="mujoco")
    parser.add_argument("--demos", default="5,15,50,200")
    parser.add_argument("--models", default="mlp,chunk,skill")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--labels", default="executed", help="executed | expert (noise-free, DART-style)")
    args = parser.parse_args()
    counts = [int(n) for n in args.demos.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks.split(","):
            data = Path(tmp) / f"{task}.hdf5"
            started = time.perf_counter()
            record(task, args.robot, args.backend, ScriptedDevice(args.noise, seed=0), data, max(counts), source="sim")
            print(f"{task}/record_seconds: {time.perf_counter() - started:.0f}")
            for model in args.models.split(","):
                for n in counts:
                    if model == "skill":
                        success = skill_success(task, data, n, args.robot, args.backend, args.episodes)
                    else:
                        success = bc_success(task, data, n, model, args, f"{tmp}/{task}-{model}-{n}")
                    print(f"{task}/{model}/{n}: {success:.2f}", flush=True)


if __name__ == "__main__":
    main()
