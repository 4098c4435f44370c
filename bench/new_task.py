"""A new task (or a new robot) with little data: adapting a trained MoE policy against
training from scratch.

For each seed, the checkpoint is extended with `--task` (`adapt_from=`, `--add-experts` new
experts that only the new task routes to; everything the old tasks use frozen), or with
`--robot` (the checkpoint's tasks on a new arm, which gets the new experts),
and the same policy architecture is trained on the new cells from scratch with the same
steps and seed. Both are evaluated every `--eval-every` env steps. Prints `name: value` lines: the
new task's mean success per arm, seed and step count, the means over seeds, adapted minus
scratch, and the largest change of any old task's success after adapting (0 when the old
tasks are untouched). Slow by design: ~4 minutes per seed at the defaults on 2 cores.
Run: python bench/new_task.py --checkpoint runs/<make train run>/checkpoint.pt [--seeds 0 1 2]
     python bench/new_task.py --checkpoint runs/<mt10 run>/checkpoint.pt --task mw:button-press-v3 --recipe train
     python bench/new_task.py --checkpoint runs/<panda+kuka run>/checkpoint.pt --robot xarm6 --recipe train
"""
from __future__ import annotations

import argparse
import tempfile

import numpy as np

from robolearn.checkpoint import load_checkpoint
from robolearn.config import compose_train, to_dataclass
from robolearn.train import train
from recipes import RECIPES, add_recipe_argument



def learning_curve(overrides: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as out:
        return load_checkpoint(train(to_dataclass(compose_train([*overrides, "logger=none", f"out={out}"]))))[
            "eval_history"]


def mean_success(evaluation: dict[str, float], task: str | None, robot: str | None) -> float:
    """Mean over the new cells: `task` on every arm, or every task on `robot`."""
    return float(np.mean([s for key, s in evaluation.items()
                          if key.split("/")[0] == task or key.split("/")[1] == robot]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="a checkpoint trained with policy=moe algo=sac")
    parser.add_argument("--task", default="button_press")
    parser.add_argument("--robot", default="", help="add this robot (the checkpoint's tasks on it) instead of a task")
    parser.add_argument("--steps", type=int, default=9000)
    parser.add_argument("--eval-every", type=int, default=3000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--add-experts", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    add_recipe_argument(parser)
    args = parser.parse_args()
    data = load_checkpoint(args.checkpoint)
    task, robot = (None, args.robot) if args.robot else (args.task, None)
    if robot in data["vocab"]["robots"] or task in data["tasks"]:
        raise SystemExit(f"--task {task} / --robot {robot}: the checkpoint already knows it "
                         f"({', '.join(data['tasks'])}; {', '.join(data['vocab']['robots'])})")
    policy = [f"policy.{key}={value}" for key, value in data["config"]["policy"].items() if key != "kind"]
    cells = [f"tasks=[{','.join(data['tasks'])}]", f"robots=[{robot}]"] if robot else \
        [f"tasks=[{task}]", f"robots=[{','.join(data['robots'])}]"]
    common = [*cells, f"backend={data['backend']}",
              f"total_steps={args.steps}", f"eval_every={args.eval_every}", f"eval_episodes={args.episodes}",
              *RECIPES[args.recipe]]
    curves: dict[str, list[list[float]]] = {"adapted": [], "scratch": []}
    old_change = 0.0
    for seed in args.seeds:
        adapted = learning_curve(common + [f"seed={seed}", f"adapt_from={args.checkpoint}",
                                           f"add_experts={args.add_experts}"])
        scratch = learning_curve(common + [f"seed={seed}", "policy=moe"] + policy)
        for arm, history in (("adapted", adapted), ("scratch", scratch)):
            curves[arm].append([mean_success(entry["eval"], task, robot) for entry in history])
            for entry, success in zip(history, curves[arm][-1]):
                print(f"{arm}_seed{seed}_{entry['env_steps']}_steps_success: {success:.2f}")
        for entry in adapted:
            old_change = max([old_change] + [abs(entry["eval"][key] - data["eval"][key]) for key in data["eval"]])
    steps = [entry["env_steps"] for entry in adapted]
    for i, n in enumerate(steps):
        means = {arm: float(np.mean([curve[i] for curve in curves[arm]])) for arm in curves}
        print(f"adapted_{n}_steps_mean_success: {means['adapted']:.3f}")
        print(f"scratch_{n}_steps_mean_success: {means['scratch']:.3f}")
        print(f"adapted_minus_scratch_{n}_steps: {means['adapted'] - means['scratch']:+.3f}")
    print(f"old_tasks_max_success_change: {old_change:.3f}")


if __name__ == "__main__":
    main()
