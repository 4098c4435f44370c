"""SAC from camera frames against SAC from poses, on the same task, budget and seed.

For each task: `robolearn train` on one arm with the scripted-expert demos of the default
recipe (configs/algo/sac_demos.yaml), once from the state (object and goal poses) and once
with `inputs=image+proprio` (the front and wrist frames through keypoint encoders, DrQ's
random shift, the arm's own state; no object or goal pose). Prints `name: value` lines:

    pixel_sac/<task>/<inputs>/success          deterministic, --episodes unseen seeds, MuJoCo
    pixel_sac/<task>/<inputs>/env_steps_per_s  the whole run's, evaluation included
    pixel_sac/<task>/<inputs>/train_s
    pixel_sac/<task>/image_to_state_time       wall-time ratio, measured in this run

Run: python bench/pixel_sac.py [--tasks reach,lift] [--steps 20000] [--size 64] [--batch 128] [--quick]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("MUJOCO_GL", "egl")

from robolearn.checkpoint import load_checkpoint  # noqa: E402
from robolearn.config import compose_train, to_dataclass  # noqa: E402
from robolearn.train import train  # noqa: E402

INPUTS = {"state": [], "image+proprio": ["inputs=image+proprio", "cameras=[front,wrist]"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default="reach,lift")
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--steps", type=int, default=20000, help="env steps per run")
    parser.add_argument("--size", type=int, default=64, help="camera frame height and width")
    parser.add_argument("--batch", type=int, default=128, help="SAC batch size (both inputs)")
    parser.add_argument("--episodes", type=int, default=20, help="evaluation episodes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="reach only, 2000 steps, 5 episodes")
    args = parser.parse_args()
    if args.quick:
        args.tasks, args.steps, args.episodes = "reach", 2000, 5
    for task in args.tasks.split(","):
        wall = {}
        for inputs, extra in INPUTS.items():
            with tempfile.TemporaryDirectory() as out:
                started = time.perf_counter()
                path = train(to_dataclass(compose_train([
                    f"tasks=[{task}]", f"robots=[{args.robot}]", "logger=none", f"seed={args.seed}",
                    f"total_steps={args.steps}", f"eval_every={args.steps}", f"eval_episodes={args.episodes}",
                    f"algo.batch_size={args.batch}", f"algo.image_size={args.size}", f"out={out}", *extra])))
                wall[inputs] = time.perf_counter() - started
                success = load_checkpoint(path)["eval"][f"{task}/{args.robot}"]
            print(f"pixel_sac/{task}/{inputs}/success: {success:.2f}")
            print(f"pixel_sac/{task}/{inputs}/env_steps_per_s: {args.steps / wall[inputs]:.1f}")
            print(f"pixel_sac/{task}/{inputs}/train_s: {wall[inputs]:.0f}")
        print(f"pixel_sac/{task}/image_to_state_time: {wall['image+proprio'] / wall['state']:.2f}")


if __name__ == "__main__":
    main()
