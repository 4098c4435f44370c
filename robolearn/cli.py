"""The `robolearn` command line.

    robolearn envs                        list tasks, robots and backends
    robolearn experts [episodes=10] [backend=mujoco] [tasks=[reach,push]] [robots=[panda]]
                                          run the scripted experts, print a success table
    robolearn train [tasks=[reach,push]] [robots=[panda]] [policy=moe|mlp|multihead|dense_params|dense_compute]
                    [total_steps=100000] [num_envs=2] [device=auto|cpu|cuda] [out=runs/x] [resume=ckpt]
                    [logger=wandb|none] ...
                                          multitask training (Hydra config in configs/train.yaml)
    robolearn eval checkpoint=... [episodes=50] [backend=...] [video=dir] [disable_experts=0.0] [device=auto] [out=x.json]
                                          task x robot success table of a checkpoint
    robolearn check checkpoint=... baseline=x.json [tolerance=0.1] [episodes=0 (auto: 5% chance verdicts)]
                                          fail (exit 3) if any task/robot regressed past the tolerance
    robolearn adr plot run=<run dir> [out=x.png]
                                          plot the ADR ranges and entropy of a run trained with adr=adr
    robolearn record task=... robot=... backend=... device=keyboard|spacemouse|gamepad|scripted out=x.hdf5
                     [episodes=10] [keep=success|all|ask] [noise=0.0] [video=false] [window=auto]
                     [cameras=[front,wrist]] [image_size=84]
                                          record demonstrations (live window for the keyboard)
    robolearn replay file=x.hdf5 demo=0   replay a demo's actions from its initial state, report the state error
    robolearn data info|merge|split|export|import ...
                                          summarize, pool, split, convert episode files (see `robolearn data`)
    robolearn bc data=[x.hdf5] [policy=mlp|moe] [algo.model=mlp|chunk] [algo.steps=4000] [max_demos=15] [device=auto]
                 [max_memory_gb=4] [out=dir]
                                          behaviour cloning; the checkpoint works with `robolearn eval`
    robolearn primitives learn data=[x.hdf5] out=<dir> [closed_loop=[reach]] [max_demos=N] [max_memory_gb=4] | robolearn primitives list library=<dir>
                                          segment demos, learn a library of primitives (DMPs, BC, gripper, return)
    robolearn skill run skill=pick_place|stack|pour library=<dir> [robot=panda] [backend=mujoco] [episodes=10]
                                          stitch primitives into a compound skill (configs/skill/), report success
    robolearn fleet [actors=4] [tasks=[reach]] [robots=[panda,kuka,xarm6]] [backends=[mujoco,pybullet]]
                    [total_steps=20000] [address=auto|ray://host:port] [datasets=[x.hdf5] dataset_ratio=0.25] [device=auto] ...
                                          Ray actors (one robot each) feeding one learner (configs/fleet.yaml)
    robolearn deploy checkpoint=... robot=panda [task=...] transport=rospy|rosbridge [command=twist|joints]
                     [episodes=1] [dry_run=false] [host=localhost port=9090 secret=] [out=dir]
                                          drive an arm through ROS (configs/deploy/<robot>.yaml), safety layer on
    robolearn twin robot=panda [backend=mujoco] [task=reach] [transport=rospy|rosbridge] [dr=none]
                   [cameras=[front,wrist] image_size=84]
                                          the simulated arm as a ROS node: joint states, poses and camera frames out,
                                          commands in
    robolearn rosbridge [host=localhost] [port=9090] [secret=] [insecure=false] [allow=x.yaml] [cert=x.pem key=x.pem] [ros_version=1]
                                          a rosbridge v2 relay (topics only) for machines without rosbridge_server;
                                          off loopback it needs secret= (or insecure=true), cert/key serve wss://

Arguments are Hydra-style `key=value` overrides. Errors print on one line and exit 1;
`debug=true` (any command) shows the traceback instead.
`robolearn <command> --help` lists every option of a command with its default.
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from typing import Any, Callable

import numpy as np

from robolearn.cli_help import HELP_FLAGS, HelpRequested, command_usage, group_choices, option_lines, wants_help

USAGE = "usage: robolearn {envs|experts|train|eval|check|adr|record|replay|data|bc|primitives|skill|fleet|deploy|twin|rosbridge} [key=value ...]"


def parse_overrides(args: list[str], allowed: dict[str, object] | Any) -> dict[str, object]:
    """`key=value` pairs; lists as `[a,b]`. Unknown keys are an error naming the allowed ones;
    `--help` raises HelpRequested with the defaults (a config dataclass: with their meanings)."""
    if wants_help(args):
        raise HelpRequested(allowed)
    allowed = asdict(allowed) if is_dataclass(allowed) else allowed
    out = dict(allowed)
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise ValueError(f"argument {arg!r} is not key=value; allowed keys: {', '.join(allowed)}")
        if key not in allowed:
            raise ValueError(f"unknown option {key!r}; allowed keys: {', '.join(allowed)}")
        default = allowed[key]
        if isinstance(default, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"option {key!r} must be true or false, got {value!r}")
            out[key] = value.lower() in ("true", "1")
        elif isinstance(default, list):
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
    import robolearn.sims as sims
    from robolearn.sims.backend import BACKENDS
    from robolearn.sims.robots import ROBOTS
    from robolearn.sims.tasks import TASKS

    print(f"tasks ({len(TASKS)}):")
    for name, task in TASKS.items():
        print(f"  {sims.env_id(name):32s} horizon {task.horizon:4d}  {task.description}")
    print(f"robots ({len(ROBOTS)}): {', '.join(ROBOTS)}")
    print(f"backends ({len(BACKENDS)}): {', '.join(BACKENDS)}")
    from robolearn.metaworld_tasks import BENCHMARKS, INSTALL_HINT, METAWORLD_ROBOT, benchmark_tasks, metaworld_names

    try:
        names = metaworld_names()
    except ValueError:
        print(f"Meta-World tasks: none ({INSTALL_HINT})")
        return
    print(f"Meta-World tasks ({len(names)}; robot {METAWORLD_ROBOT}, MuJoCo, horizon 500, 50 goals each; "
          + "; ".join(f"tasks={b}: its {len(benchmark_tasks(b))}" for b in BENCHMARKS) + "):")
    for i in range(0, len(names), 4):
        print("  " + "".join(f"{name:34s}" for name in names[i:i + 4]).rstrip())
    print("gymnasium envs: gym:<env id> (Box spaces; gym:<env id>@<variant> names it again with other env_kwargs)")


def cmd_experts(args: list[str]) -> None:
    from robolearn.sims.robots import ROBOTS
    from robolearn.sims.tasks import TASKS

    opts = parse_overrides(args, {"episodes": 10, "backend": "mujoco", "tasks": list(TASKS), "robots": list(ROBOTS), "seed": 0})
    from robolearn.sims.rollout import expert_success_table

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
                                   "disable_experts": 0.0, "logger": "none", "threads": 2, "out": "", "dr": "none",
                                   "device": "auto"}


def evaluate_checkpoint(opts: dict) -> dict[str, float]:
    """Evaluate `opts['checkpoint']`, print the table, return {"task/robot": success}."""
    if not opts["checkpoint"]:
        raise ValueError("checkpoint=<file> is required")
    import torch

    from robolearn.agents import agent_from_checkpoint
    from robolearn.checkpoint import load_checkpoint
    from robolearn.device import resolve_device
    from robolearn.evaluate import evaluate, format_success
    from robolearn.policies.moe import expert_mask_for
    from robolearn.sims.randomization import make_randomizer

    device = resolve_device(str(opts["device"]))
    torch.set_num_threads(opts["threads"])
    data = load_checkpoint(opts["checkpoint"])
    agent = agent_from_checkpoint(data, device)
    backend = opts["backend"] or data["backend"]
    mask = expert_mask_for(agent.actor.net, opts["disable_experts"], seed=opts["seed"])
    table = evaluate(agent, data["tasks"], data["robots"], backend, opts["episodes"], opts["seed"], mask,
                     opts["video"] or None, data["config"].get("env_kwargs"), dr=make_randomizer(opts["dr"]),
                     deploy_limits=data["config"].get("deploy_limits", ""))
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
    """Model regression test: per-task success must not fall below the baseline by more than
    `tolerance`; `episodes=0` picks the count that keeps chance verdicts at 5% per entry."""
    from robolearn.check_stats import episodes_for, false_alarm_rate

    opts = parse_overrides(args, EVAL_OPTIONS | {"baseline": "", "tolerance": 0.1, "episodes": 0})
    if not opts["baseline"]:
        raise ValueError("baseline=<json from `robolearn eval out=...`> is required")
    try:
        with open(opts["baseline"]) as f:
            recorded = json.load(f)
        baseline, baseline_episodes = recorded["success"], recorded.get("episodes")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"baseline={opts['baseline']}: not an eval results file ({err})") from None
    if opts["episodes"] <= 0:
        opts["episodes"] = episodes_for(opts["tolerance"], baseline, baseline_episodes)
        print(f"check: {opts['episodes']} episodes per entry (tolerance {opts['tolerance']:.2f} against a baseline of "
              f"{baseline_episodes or 'unknown'} episodes: at most 5% chance verdicts per entry)")
    else:
        worst = max((false_alarm_rate(opts["tolerance"], p, opts["episodes"], baseline_episodes)
                     for p in baseline.values()), default=0.0)
        if worst > 0.05:
            print(f"warning: with {opts['episodes']} episodes an unchanged policy fails an entry with probability up to "
                  f"{worst:.0%} (episodes=0 picks the count for 5%)")
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


def cmd_record(args: list[str]) -> None:
    opts = parse_overrides(args, {"task": "", "robot": "panda", "backend": "mujoco", "device": "keyboard", "out": "",
                                  "episodes": 10, "seed": 0, "keep": "", "noise": 0.0, "hold": 10, "video": "false",
                                  "window": "auto", "dr": "none", "cameras": [], "image_size": 84})
    if not opts["task"] or not opts["out"]:
        raise ValueError("task=<task> and out=<file.hdf5> are required")
    from robolearn.demos.devices import make_device
    from robolearn.demos.recorder import record

    device = make_device(opts["device"], opts["noise"], opts["seed"])
    source = "sim" if opts["device"] == "scripted" else "human"
    keep = opts["keep"] or ("ask" if device.needs_window else "success")
    window = None if opts["window"] == "auto" else parse_bool("window", opts["window"])
    result = record(opts["task"], opts["robot"], opts["backend"], device, opts["out"], opts["episodes"], opts["seed"],
                    opts["hold"], keep, window, parse_bool("video", opts["video"]), opts["dr"], source,
                    cameras=tuple(opts["cameras"]), image_size=opts["image_size"])
    print(f"saved {result.saved} episodes ({result.discarded} discarded) to {result.path}")


def parse_bool(key: str, value: str) -> bool:
    if value.lower() not in ("true", "false", "1", "0"):
        raise ValueError(f"option {key!r} must be true or false, got {value!r}")
    return value.lower() in ("true", "1")


def cmd_replay(args: list[str]) -> None:
    opts = parse_overrides(args, {"file": "", "demo": "0", "tolerance": 1e-6})
    if not opts["file"]:
        raise ValueError("file=<episode file> is required")
    from robolearn.demos.replay import replay

    demo = opts["demo"] if opts["demo"].startswith("demo_") else f"demo_{opts['demo']}"
    report = replay(opts["file"], demo)
    print(f"{report.demo}: {report.steps} steps, max state error {report.max_state_error:.3g} "
          f"(initial {report.initial_error:.3g}), success recorded {report.recorded_success} "
          f"replayed {report.replayed_success}")
    if report.max_state_error > opts["tolerance"]:
        raise ValueError(f"replay of {demo} diverged: state error {report.max_state_error:.3g} > tolerance {opts['tolerance']}")


DATA_USAGE = ("usage: robolearn data info file=x.hdf5 | merge inputs=[a.hdf5,b.hdf5] out=c.hdf5 | "
              "split file=x.hdf5 [valid=0.1] | export file=x.hdf5 out=<dir> [format=lerobot] [videos=true] | "
              "import src=<dir or robomimic.hdf5> out=x.hdf5 format=lerobot|robomimic [robot=<name>] [task=<task>]; "
              "info, merge and export take skip_bad=true to leave out demos that fail validation")


def cmd_data(args: list[str]) -> None:
    if not args or args[0] not in ("info", "merge", "split", "export", "import"):
        raise ValueError(DATA_USAGE)
    action, rest = args[0], args[1:]
    from robolearn.demos import datasets

    if action == "info":
        opts = parse_overrides(rest, {"file": "", "skip_bad": False})
        print(datasets.format_info(datasets.info(opts["file"], opts["skip_bad"])))
    elif action == "merge":
        opts = parse_overrides(rest, {"inputs": [], "out": "", "skip_bad": False})
        print(f"merged {datasets.merge(opts['inputs'], opts['out'], opts['skip_bad'])} demos into {opts['out']}")
    elif action == "split":
        opts = parse_overrides(rest, {"file": "", "valid": 0.1, "seed": 0})
        splits = datasets.split(opts["file"], opts["valid"], opts["seed"])
        print(", ".join(f"{k}: {len(v)}" for k, v in splits.items()))
    elif action == "export":
        opts = parse_overrides(rest, {"file": "", "out": "", "format": "lerobot", "videos": True, "skip_bad": False})
        from robolearn.demos.lerobot import export_lerobot

        if opts["format"] != "lerobot":
            raise ValueError(f"format={opts['format']!r}; allowed for export: lerobot")
        print(f"exported to {export_lerobot(opts['file'], opts['out'], videos=opts['videos'], skip_bad=opts['skip_bad'])}")
    else:
        opts = parse_overrides(rest, {"src": "", "out": "", "format": "lerobot", "robot": "", "task": ""})
        from robolearn.demos.lerobot import import_lerobot
        from robolearn.demos.robomimic import import_robomimic

        if opts["format"] == "lerobot":
            count = import_lerobot(opts["src"], opts["out"], opts["robot"], opts["task"])
        elif opts["format"] == "robomimic":
            if opts["robot"] or opts["task"]:
                raise ValueError("robot= and task=: only for format=lerobot (robomimic files name theirs)")
            count = import_robomimic(opts["src"], opts["out"])
        else:
            raise ValueError(f"format={opts['format']!r}; allowed for import: lerobot, robomimic")
        print(f"imported {count} demos into {opts['out']}")


def cmd_bc(args: list[str]) -> None:
    from robolearn.bc_train import compose_bc, train_bc

    train_bc(compose_bc(args))


def cmd_primitives(args: list[str]) -> None:
    usage = ("usage: robolearn primitives learn data=[x.hdf5,...] out=<dir> [closed_loop=[reach,...]] [max_demos=N] "
             "[skip_bad=true] [max_memory_gb=4] [seed=0] | "
             "robolearn primitives list library=<dir>")
    if not args or args[0] not in ("learn", "list"):
        raise ValueError(usage)
    from robolearn.primitives.library import Library, learn_library

    if args[0] == "learn":
        opts = parse_overrides(args[1:], {"data": [], "out": "", "closed_loop": [], "max_demos": 0, "skip_bad": False,
                                          "max_memory_gb": 4.0, "seed": 0})
        if not opts["data"] or not opts["out"]:
            raise ValueError(f"data= and out= are required; {usage}")
        library = learn_library(opts["data"], opts["closed_loop"], opts["max_demos"], opts["skip_bad"],
                                opts["max_memory_gb"], opts["seed"])
        path = library.save(opts["out"])
        print(library.describe())
        print(f"library: {path}")
    else:
        opts = parse_overrides(args[1:], {"library": ""})
        if not opts["library"]:
            raise ValueError(f"library= is required; {usage}")
        print(Library.load(opts["library"]).describe())


def cmd_skill(args: list[str]) -> None:
    usage = "usage: robolearn skill run skill=pick_place|stack|pour library=<dir> robot=... backend=... [episodes=10] [seed=0]"
    if not args or args[0] != "run":
        raise ValueError(usage)
    opts = parse_overrides(args[1:], {"skill": "", "library": "", "robot": "panda", "backend": "mujoco", "episodes": 10,
                                      "seed": 0})
    if not opts["skill"] or not opts["library"]:
        raise ValueError(f"skill= and library= are required; {usage}")
    from robolearn.primitives.library import Library
    from robolearn.primitives.skill import load_skill, run_skill
    from robolearn.sims.backend import BACKENDS
    from robolearn.sims.robots import ROBOTS

    if opts["robot"] not in ROBOTS or opts["backend"] not in BACKENDS:
        raise ValueError(f"robot={opts['robot']!r} backend={opts['backend']!r}; allowed robots: {', '.join(ROBOTS)}, "
                         f"backends: {', '.join(BACKENDS)}")
    spec, library = load_skill(opts["skill"]), Library.load(opts["library"])
    results = run_skill(spec, library, opts["robot"], opts["backend"], opts["episodes"], opts["seed"])
    for i, result in enumerate(results):
        steps = " ".join(f"{name}{'' if ok else '(failed)'}" for name, _, ok in result.trace)
        print(f"episode {i}: success={result.success} steps={result.steps} max_action_change={result.max_jump:.2f} | {steps}")
    wins = sum(r.success for r in results)
    print(f"{spec.name} on {opts['robot']}/{opts['backend']}: success {wins}/{len(results)} = {wins / len(results):.2f}")


def cmd_fleet(args: list[str]) -> None:
    from robolearn.config import to_dataclass
    from robolearn.fleet.config import compose_fleet
    from robolearn.fleet.learner import run_fleet

    run_fleet(to_dataclass(compose_fleet(args)))


def cmd_deploy(args: list[str]) -> None:
    from robolearn.deploy.runner import DeployRunConfig, deploy

    deploy(DeployRunConfig(**parse_overrides(args, DeployRunConfig())))


def cmd_twin(args: list[str]) -> None:
    from robolearn.deploy.twin import TwinConfig, run_twin

    run_twin(TwinConfig(**parse_overrides(args, TwinConfig())))


def cmd_rosbridge(args: list[str]) -> None:
    import asyncio

    from robolearn.deploy.rosbridge_server import RosbridgeServer, load_publish_allow

    opts = parse_overrides(args, {"host": "localhost", "port": 9090, "secret": "", "insecure": False, "allow": "",
                                  "cert": "", "key": "", "ros_version": 1})
    server = RosbridgeServer(opts["host"], opts["port"], opts["secret"], opts["insecure"],
                             load_publish_allow(opts["allow"]) if opts["allow"] else None, opts["cert"], opts["key"],
                             opts["ros_version"])
    notes = ", ".join(note for note, on in (("auth", opts["secret"]), ("allow-list", opts["allow"])) if on)
    scheme = "wss" if server.tls else "ws"
    print(f"rosbridge relay on {scheme}://{opts['host']}:{opts['port']}{f' ({notes})' if notes else ''}", flush=True)
    try:
        asyncio.run(server.serve())
    except KeyboardInterrupt:
        pass


COMMANDS: dict[str, Callable[[list[str]], None]] = {"envs": cmd_envs, "experts": cmd_experts, "train": cmd_train,
                                                    "eval": cmd_eval, "check": cmd_check, "adr": cmd_adr,
                                                    "record": cmd_record, "replay": cmd_replay, "data": cmd_data,
                                                    "bc": cmd_bc, "deploy": cmd_deploy, "twin": cmd_twin,
                                                    "rosbridge": cmd_rosbridge, "fleet": cmd_fleet,
                                                    "primitives": cmd_primitives, "skill": cmd_skill}


def print_help(command: str, options: object) -> None:
    from robolearn.config import CONFIG_DIR

    print(command_usage(__doc__ or "", command))
    lines = option_lines(options)
    print("\noptions (key=default):\n" + "\n".join(lines) if lines else "\nno options")
    groups = group_choices(CONFIG_DIR, options)
    if groups:
        print("\nconfig groups (e.g. policy=moe):\n" + "\n".join(groups))


def split_debug(args: list[str]) -> tuple[list[str], bool]:
    """Take the global `debug=` flag out of a command's arguments."""
    rest = [a for a in args if not a.startswith("debug=")]
    flags = [a.partition("=")[2] for a in args if a.startswith("debug=")]
    return rest, any(parse_bool("debug", flag) for flag in flags)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["help"], *([flag] for flag in HELP_FLAGS)):
        print(__doc__)
        return 0
    if not argv or argv[0] not in COMMANDS:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        args, debug = split_debug(argv[1:])
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    try:
        COMMANDS[argv[0]](args)
    except HelpRequested as request:
        print_help(argv[0], request.options)
        return 0
    except RegressionError as err:
        print(str(err), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if debug:
            raise
        if isinstance(err, ValueError) and wants_help(args):
            print(command_usage(__doc__ or "", argv[0]) + f"\n\n{err}")  # a subcommand is needed first
            return 0
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 1
    return 0


# Errors a user can cause (bad input, a missing file, an unreachable bridge): their message is the whole story.
USER_ERRORS = (ValueError, FileNotFoundError, ConnectionError, TimeoutError, PermissionError, RuntimeError)


def one_line(err: Exception) -> str:
    """The error as one line; anything but a user error also names its type and how to see the traceback."""
    message = " ".join(str(err).split()) or type(err).__name__
    if isinstance(err, USER_ERRORS):
        return message
    return f"{type(err).__name__}: {message} (debug=true shows the traceback)"


if __name__ == "__main__":
    sys.exit(main())
