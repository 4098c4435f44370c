"""Deploy control-loop latency through both transports, against the twin.

For rospy (a private roscore) and rosbridge (the relay, `robolearn rosbridge`) in turn: the
twin runs as its own process publishing joint states at 200 Hz; the deploy loop runs the
checkpoint's policy in this process for `--ticks` control ticks at each rate of `--rates`.
Printed per transport and rate, p50 / p99 / max: `loop` (the state's receipt to the command
sent: the loop itself), `compute` (tick start to command sent) and `transport` (the state's
header stamp to its receipt), and overruns (ticks that ended past their deadline). A
checkpoint that sees cameras (`robolearn bc inputs=image+proprio`) has the twin publish them
at the control rate; `frames` is then each frame's header stamp to its decoding into the
policy's input.
`highest_rate_without_overruns` is the fastest rate with none; the rosbridge / rospy ratio
of p50 transport latency at 20 Hz is measured in the same run.
Run: python bench/deploy_latency.py --checkpoint runs/<run>/checkpoint.pt
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from robolearn.checkpoint import load_checkpoint
from robolearn.deploy.config import load_deploy_config
from robolearn.deploy.roscore import free_port, start_roscore
from robolearn.deploy.latency import Latency, percentile_ms
from robolearn.deploy.loop import DeployLoop
from robolearn.deploy.transport import TransportConfig, make_transport
from robolearn.agents import agent_from_checkpoint
from robolearn.deploy.twin import camera_overrides

CLI = str(Path(sys.executable).parent / "robolearn")
STATE_HZ = 200


def measure(transport_name: str, port: int, agent, task: str, robot: str, rates: list[float], ticks: int,
            out: Path) -> dict[float, Latency]:
    twin = subprocess.Popen([CLI, "twin", f"robot={robot}", f"task={task}", f"transport={transport_name}",
                             f"port={port}", f"state_hz={STATE_HZ}", *camera_overrides(agent)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    transport = make_transport(TransportConfig(transport_name, "robolearn_bench", "localhost", port, "", 30.0))
    cfg = load_deploy_config(robot, reset="topic")
    results = {}
    try:
        loop = DeployLoop(cfg, agent, task, transport, out / transport_name)
        for i, rate in enumerate(rates):
            loop.period = 1.0 / rate
            loop.reset_scene(i, 30.0)
            loop.latency = Latency()
            loop.run_episode(i, ticks, hold_steps=0)
            results[rate] = loop.latency
        loop.close()
    finally:
        transport.close()
        twin.terminate()
        twin.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="e.g. the one `make train` writes")
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--rates", default="20,50,100,200,400")
    parser.add_argument("--ticks", type=int, default=2000, help="control ticks per rate (p99 needs thousands)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_checkpoint(args.checkpoint)
    agent, task = agent_from_checkpoint(data), data["tasks"][0]
    rates = [float(r) for r in args.rates.split(",")]
    out = Path(tempfile.mkdtemp(prefix="deploy_latency_"))
    core = start_roscore()
    relay_port = free_port()
    relay = subprocess.Popen([CLI, "rosbridge", f"port={relay_port}"], stdout=subprocess.DEVNULL)
    time.sleep(2.0)
    table = {}
    try:
        table["rospy"] = measure("rospy", 0, agent, task, args.robot, rates, args.ticks, out)
        table["rosbridge"] = measure("rosbridge", relay_port, agent, task, args.robot, rates, args.ticks, out)
    finally:
        relay.terminate()
        core.terminate()
    for name, rows in table.items():
        for rate, r in rows.items():
            parts = (("loop", r.loop), ("compute", r.compute), ("transport", r.transport)) + \
                ((("frames", r.frames),) if r.frames else ())
            for part, values in parts:
                for q, label in ((50, "p50"), (99, "p99"), (100, "max")):
                    print(f"{name}_{rate:g}hz_{part}_{label}_ms: {percentile_ms(values, q):.2f}")
            print(f"{name}_{rate:g}hz_overruns: {r.overruns}/{len(r.loop)}")
        clean = [rate for rate, r in rows.items() if r.overruns == 0]
        print(f"{name}_highest_rate_without_overruns_hz: {max(clean) if clean else 0:g}")
    if 20.0 in rates:
        ratio = percentile_ms(table["rosbridge"][20.0].transport, 50) / percentile_ms(table["rospy"][20.0].transport, 50)
        print(f"rosbridge_over_rospy_p50_transport_20hz: {ratio:.2f}")


if __name__ == "__main__":
    main()
