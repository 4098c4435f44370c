"""`robolearn deploy`: a checkpoint's policy driving an arm through ROS, behind the safety layer.

This module holds the command's options and its entry point: load the checkpoint and the
deploy config, connect the transport, run the episodes and print a summary. The loop's I/O
is robolearn.deploy.loop; the decision made every control tick (observation, policy,
safety, command) is robolearn.deploy.tick.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from robolearn.deploy.loop import DeployLoop, EpisodeReport
from robolearn.deploy.transport import TransportConfig
from robolearn.sims.tasks import TASKS


@dataclass
class DeployRunConfig:
    checkpoint: str = ""
    robot: str = "panda"
    task: str = ""  # default: the checkpoint's first task
    episodes: int = 1
    steps: int = 0  # per episode; 0: the task's horizon
    hold_steps: int = 5  # steps to go on after success before the episode ends (0: run to `steps`)
    dry_run: bool = False
    command: str = ""  # twist | joints; default: the deploy config's
    control_hz: float = 0.0  # default: the deploy config's
    reset: str = ""  # operator | topic | none; default: the deploy config's
    config: str = ""  # deploy YAML; default: configs/deploy/<robot>.yaml
    out: str = ""  # default: runs/deploy-<time>
    wait: float = 10.0  # s to wait for the arm's first state (and for a reset's acknowledgement)
    seed: int = 0  # first episode's reset seed (scenes that reset on request, as the twin)
    transport: str = "rospy"  # rospy | rosbridge
    host: str = "localhost"  # rosbridge server
    port: int = 9090
    secret: str = ""  # rosbridge authentication
    tls: bool = False  # rosbridge over wss://
    ca_cert: str = ""  # PEM certificate to trust for tls (a self-signed server); empty: the system's


def deploy(run: DeployRunConfig) -> list[EpisodeReport]:
    """Load the checkpoint, connect, run `run.episodes` episodes, print a summary. Any error
    after connecting commands a hold before it propagates (exit non-zero)."""
    from robolearn.agents import agent_from_checkpoint
    from robolearn.checkpoint import load_checkpoint
    from robolearn.deploy.config import load_deploy_config
    from robolearn.deploy.transport import make_transport

    if not run.checkpoint:
        raise ValueError("checkpoint=<file> is required")
    overrides = {k: v for k, v in (("command", run.command), ("control_hz", run.control_hz), ("reset", run.reset)) if v}
    cfg = load_deploy_config(run.robot, run.config or None, **overrides)
    data = load_checkpoint(run.checkpoint)
    task = run.task or data["tasks"][0]
    if task not in data["tasks"] or run.robot not in data["robots"]:
        raise ValueError(f"{run.checkpoint} was trained on tasks {data['tasks']} and robots {data['robots']}; "
                         f"got task={task!r} robot={run.robot!r}")
    agent = agent_from_checkpoint(data)
    out = Path(run.out or f"runs/deploy-{time.strftime('%Y%m%d-%H%M%S')}")
    transport = make_transport(TransportConfig(run.transport, "robolearn_deploy", run.host, run.port, run.secret, run.wait,
                                               tls=run.tls, ca_cert=run.ca_cert), cfg.ros_version)
    loop = DeployLoop(cfg, agent, task, transport, out, run.dry_run)
    loop.console.start()
    reports = []
    print(f"deploy: {task} on {run.robot} via {run.transport} (ROS {cfg.ros_version}), {cfg.command} commands at "
          f"{cfg.control_hz:g} Hz, reset={cfg.reset}{' (dry run: ' + cfg.topics.preview + ')' if run.dry_run else ''}; "
          "keys: space/e e-stop, r release, q quit", flush=True)
    try:
        steps = run.steps or TASKS[task].horizon
        for episode in range(run.episodes):
            if loop.stop_requested or not loop.reset_scene(run.seed + episode, run.wait):
                break
            report = loop.run_episode(run.seed + episode, steps, run.hold_steps)
            reports.append(report)
            print(f"episode {episode}: success={report.success} steps={report.steps} interventions={report.interventions}"
                  f"{' (interrupted)' if report.interrupted else ''}{' stopped: ' + report.fault if report.fault else ''}",
                  flush=True)
            if report.interrupted:
                break
    except BaseException:
        loop.hold_safely()
        raise
    finally:
        loop.close()
        transport.close()
    wins = sum(r.success for r in reports)
    print(f"success: {wins}/{len(reports)}  {loop.latency.summary()}")
    print(f"episodes: {out / 'episodes.hdf5'}  commands: {out / 'commands.jsonl'}  safety: {out / 'safety.jsonl'}")
    return reports
