"""The `robolearn` command line.

    robolearn envs                        list tasks, robots and backends
    robolearn experts [episodes=10] [backend=mujoco] [tasks=[reach,push]] [robots=[panda]]
                                          run the scripted experts, print a success table

Arguments are Hydra-style `key=value` overrides. Errors print on one line and exit 1.
"""
from __future__ import annotations

import sys
from typing import Callable

import numpy as np

USAGE = "usage: robolearn {envs|experts} [key=value ...]"


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


COMMANDS: dict[str, Callable[[list[str]], None]] = {"envs": cmd_envs, "experts": cmd_experts}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        COMMANDS[argv[0]](argv[1:])
    except (ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
