"""Behaviour cloning from camera frames, evaluated in the simulator it was recorded in and in the other one.

For each demo count N: N scripted demos on MuJoCo (Gaussian action noise 0.1, with the
expert's noise-free labels), each reset with randomized visuals (camera shift, light, object
and table hues: the `image` parameters of sims.randomization) and the front and wrist
frames at --size; `robolearn bc inputs=image+proprio labels=expert`; then the success over
--episodes unseen seeds on MuJoCo with nominal visuals and on PyBullet (another renderer:
other shading, background and lights, never seen in training). Prints `name: value` lines:

    bc_pixels/<task>/<N>_demos/<backend>/success
    bc_pixels/<task>/<N>_demos/train_s

Run: python bench/bc_pixels.py [--task pick_place] [--demos 50 15] [--steps 3000] [--quick]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")

from robolearn.agents import agent_from_checkpoint  # noqa: E402
from robolearn.bc_train import compose_bc, train_bc  # noqa: E402
from robolearn.checkpoint import load_checkpoint  # noqa: E402
from robolearn.demos.devices import ScriptedDevice  # noqa: E402
from robolearn.demos.recorder import record  # noqa: E402
from robolearn.evaluate import evaluate  # noqa: E402
from robolearn.sims.backend import BACKENDS  # noqa: E402
from robolearn.sims.randomization import DR_PARAMS, DRConfig  # noqa: E402

VISUALS = [name for name, param in DR_PARAMS.items() if param.image]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="pick_place")
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--demos", type=int, nargs="+", default=[50, 15])
    parser.add_argument("--steps", type=int, default=3000, help="BC updates")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=64, help="camera frame height and width")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes per backend")
    parser.add_argument("--model", default="chunk", help="algo.model: mlp | chunk")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="reach, 30 demos, 1000 updates, 10 episodes")
    args = parser.parse_args()
    if args.quick:
        args.task, args.demos, args.steps, args.episodes = "reach", [30], 1000, 10
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.demos:
            data = Path(tmp) / f"{args.task}_{n}.hdf5"
            record(args.task, args.robot, "mujoco", ScriptedDevice(noise=0.1, seed=args.seed), data, n,
                   seed=args.seed, source="sim", dr=DRConfig(kind="uniform", params=VISUALS),
                   cameras=("front", "wrist"), image_size=args.size)
            started = time.perf_counter()
            path = train_bc(compose_bc([f"data=[{data}]", "inputs=image+proprio", "labels=expert",
                                        f"algo.model={args.model}", f"algo.steps={args.steps}",
                                        f"algo.batch_size={args.batch}", f"seed={args.seed}", "eval_episodes=0",
                                        f"out={tmp}/bc_{n}"]))
            prefix = f"bc_pixels/{args.task}/{n}_demos"
            print(f"{prefix}/train_s: {time.perf_counter() - started:.0f}", flush=True)
            agent = agent_from_checkpoint(load_checkpoint(path))
            for backend in BACKENDS:
                table = evaluate(agent, [args.task], [args.robot], backend, args.episodes)
                print(f"{prefix}/{backend}/success: {table[(args.task, args.robot)]:.2f}", flush=True)


if __name__ == "__main__":
    main()
