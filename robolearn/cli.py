"""The `robolearn` command line.

    robolearn envs                        list tasks, robots and backends
    robolearn experts [episodes=10] [backend=mujoco] [tasks=[reach,push]] [robots=[panda]]
                                          run the scripted experts, print a success table
    robolearn train [tasks=[reach,push]] [robots=[panda]] [policy=moe|mlp|multihead]
                    [total_steps=100000] [out=runs/x] [resume=ckpt] [logger=wandb|none] ...
                                          multitask training (Hydra config in configs/train.yaml)
    robolearn eval checkpoint=... [episodes=50] [backend=...] [video=dir] [disable_experts=0.0] [out=x.json]
                                          task x robot success table of a checkpoint
    robolearn check checkpoint=... baseline=x.json [tolerance=0.1] [episodes=20]
                                          fail (exit 3) if any task/robot regressed past the tolerance
    robolearn adr plot run=<run dir> [out=x.png]
                                          plot the ADR ranges and entropy of a run trained with adr=adr

Arguments are Hydra-style `key=value` overrides. Errors print on one line and exit 1.
"""
from __future__ import annotations

import json
import sys
from typing import Callable

import numpy as np

USAGE = "usage: robolearn {envs|experts|train|eval|check|adr} [key=value ...]"


def parse_overrides(args: list[str], allowed: dict[str, object]) -> dict[str, object]:
    """`key=value` pairs; lists as `[a,b]`. Unknown keys are an error naming the allowed ones."""
    out = dict(allowed)
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"argument {arg!r} is not key=value; allowed keys: {', '.join(allowed)}")
        if key not in allowed:
            raise ValueError(f"unknown option {key!r}; allowed keys: {', '.join(allowed)}")
        default = allowed[key]
        if isinstance(default, list):
            out[key] = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
        elif isinstance(default, float):
            try:
                out[key] = float(value)
            except ValueError:
                raise ValueError(f"option {key!r} must be a number, got {value!r}") from None
        elif isinstance(default, int):
            try:
                out[key] = int(value)
            except ValueError:
                raise ValueError(f"option {key!r} must be an integer, got {value!r}") from None
        else:
            out[key] = value
    return out


def cmd_envs(args: list[str]) -> None:
    parse_overrides(args, {})
    import sims
    from sims.backend import BACKENDS
    from sims.robots import ROBOTS
    from sims.tasks import TASKS

    print(f"tasks ({len(TASKS)}):")
    for name, task in TASKS.items():
        print(f"  {sims.env_id(name):32s} horizon {task.horizon:4d}  {task.description}")
    print(f"robots ({len(ROBOTS)}): {', '.join(ROBOTS)}")
    print(f"backends ({len(BACKENDS)}): {', '.join(BACKENDS)}")


def cmd_experts(args: list[str]) -> None:
    from sims.robots import ROBOTS
    from sims.tasks import TASKS

    opts = parse_overrides(args, {"episodes": 10, "backend": "mujoco", "tasks": list(TASKS), "robots": list(ROBOTS), "seed": 0})
    from sims.rollout import expert_success_table

    table = expert_success_table(opts["tasks"], opts["robots"], [opts["backend"]], opts["episodes"], opts["seed"])
    print(format_table(table, opts["robots"]))


def format_table(table: dict[tuple[str, str, str], float], robots: list[str]) -> str:
    tasks = list(dict.fromkeys(k[0] for k in table))
    backends = list(dict.fromkeys(k[2] for k in table))
    lines = []
    for backend in backends:
        lines.append(f"expert success ({backend})")
        lines.append(f"{'task':14s}" + "".join(f"{r:>9s}" for r in robots))
        for task in tasks:
            lines.append(f"{task:14s}" + "".join(f"{table[(task, r, backend)]:9.2f}" for r in robots))
        lines.append(f"{'mean':14s}" + "".join(f"{np.mean([table[(t, r, backend)] for t in tasks]):9.2f}" for r in robots))
    return "\n".join(lines)


def cmd_train(args: list[str]) -> None:
    from robolearn.config import compose_train, to_dataclass
    from robolearn.train import train

    train(to_dataclass(compose_train(args)))


class RegressionError(RuntimeError):
    """A checkpoint scored below its baseline: exit status 3, distinct from bad input (1)."""


EVAL_OPTIONS: dict[str, object] = {"checkpoint": "", "episodes": 50, "backend": "", "video": "", "seed": 10_000,
                                   "disable_experts": 0.0, "logger": "none", "threads": 2, "out": "", "dr": "none"}


def evaluate_checkpoint(opts: dict) -> dict[str, float]:
    """Evaluate `opts['checkpoint']`, print the table, return {"task/robot": success}."""
    if not opts["checkpoint"]:
        raise ValueError("checkpoint=<file> is required")
    import torch

    from robolearn.checkpoint import load_checkpoint
    from robolearn.evaluate import evaluate, format_success
    from robolearn.policies.moe import expert_mask_for
    from robolearn.train import agent_from_checkpoint
    from sims.randomization import make_randomizer

    torch.set_num_threads(opts["threads"])
    data = load_checkpoint(opts["checkpoint"])
    agent = agent_from_checkpoint(data)
    backend = opts["backend"] or data["backend"]
    mask = expert_mask_for(agent.actor.net, opts["disable_experts"], seed=opts["seed"])
    table = evaluate(agent, data["tasks"], data["robots"], backend, opts["episodes"], opts["seed"], mask,
                     opts["video"] or None, data["config"].get("env_kwargs"), dr=make_randomizer(opts["dr"]))
    print(format_success(table, f"eval success ({backend}, {opts['episodes']} episodes, "
                                f"{opts['disable_experts']:.0%} experts disabled, dr={opts['dr']})"))
    return {f"{t}/{r}": s for (t, r), s in table.items()}


def cmd_eval(args: list[str]) -> None:
    opts = parse_overrides(args, EVAL_OPTIONS)
    results = evaluate_checkpoint(opts)
    if opts["out"]:
        with open(opts["out"], "w") as f:
            json.dump({"checkpoint": opts["checkpoint"], "episodes": opts["episodes"], "success": results}, f, indent=2)
        print(f"results: {opts['out']}")


def cmd_check(args: list[str]) -> None:
    """Model regression test: per-task success must not fall below the baseline by more than `tolerance`."""
    opts = parse_overrides(args, EVAL_OPTIONS | {"baseline": "", "tolerance": 0.1, "episodes": 20})
    if not opts["baseline"]:
        raise ValueError("baseline=<json from `robolearn eval out=...`> is required")
    try:
        with open(opts["baseline"]) as f:
            baseline = json.load(f)["success"]
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(f"baseline={opts['baseline']}: not an eval results file ({err})") from None
    current = evaluate_checkpoint(opts)
    missing = sorted(set(baseline) - set(current))
    if missing:
        raise RegressionError(f"check failed: the checkpoint does not cover baseline entries {missing}")
    regressed = {k: (baseline[k], current[k]) for k in baseline if current[k] < baseline[k] - opts["tolerance"]}
    for key, (before, now) in sorted(regressed.items()):
        print(f"REGRESSION {key}: {before:.2f} -> {now:.2f} (tolerance {opts['tolerance']:.2f})")
    if regressed:
        raise RegressionError(f"check failed: {len(regressed)} of {len(baseline)} task/robot entries regressed")
    print(f"check passed: {len(baseline)} task/robot entries within {opts['tolerance']:.2f} of the baseline")


def cmd_adr(args: list[str]) -> None:
    if not args or args[0] != "plot":
        raise ValueError("usage: robolearn adr plot run=<run dir> [out=x.png]")
    opts = parse_overrides(args[1:], {"run": "", "out": ""})
    if not opts["run"]:
        raise ValueError("run=<run dir> is required")
    from robolearn.adr_report import plot_history

    print(f"plot: {plot_history(opts['run'], opts['out'] or None)}")


COMMANDS: dict[str, Callable[[list[str]], None]] = {"envs": cmd_envs, "experts": cmd_experts, "train": cmd_train,
                                                    "eval": cmd_eval, "check": cmd_check, "adr": cmd_adr}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except RegressionError as err:
        print(str(err), file=sys.stderr)
        return 3
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
