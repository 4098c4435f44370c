"""A checkpoint through ROS on the twin versus the same checkpoint in simulation.

For each task x robot of the checkpoint: `robolearn twin` and `robolearn deploy` (rospy, a
private roscore, the safety layer's default limits) run `--episodes` episodes; the same
number of episodes runs in simulation with `robolearn.evaluate`. A policy that sees has the
twin publish its cameras. Prints both success
rates and their ratio per entry (ROS / sim, measured in the same run). `--relax` lifts the
hand speed and action rate caps (workspace, joint limits and watchdog stay), to separate
what the ROS path costs from what the safety limits cost.
Run: python bench/deploy_twin_success.py --checkpoint runs/<run>/checkpoint.pt [--episodes 10] [--relax]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from robolearn.demos.episodes import read_episodes
from robolearn.checkpoint import load_checkpoint
from robolearn.deploy.roscore import start_roscore
from robolearn.evaluate import evaluate
from robolearn.agents import agent_from_checkpoint
from robolearn.deploy.twin import camera_overrides

CLI = str(Path(sys.executable).parent / "robolearn")


RELAXED = {"max_hand_speed": 5.0, "max_action_change": 2.0}


def relaxed_config(robot: str, out: Path) -> Path:
    from omegaconf import OmegaConf

    from robolearn.config import CONFIG_DIR

    cfg = OmegaConf.load(CONFIG_DIR / "deploy" / f"{robot}.yaml")
    cfg.safety.update(RELAXED)
    path = out / f"{robot}_relaxed.yaml"
    OmegaConf.save(cfg, path)
    return path


def through_ros(checkpoint: str, task: str, robot: str, episodes: int, out: Path, config: Path | None,
                cameras: list[str]) -> float:
    twin = subprocess.Popen([CLI, "twin", f"robot={robot}", f"task={task}", *cameras], stdout=subprocess.DEVNULL,
                            stderr=subprocess.STDOUT)
    try:
        subprocess.run([CLI, "deploy", f"checkpoint={checkpoint}", f"robot={robot}", f"task={task}",
                        f"episodes={episodes}", "seed=10000", f"out={out}", f"config={config or ''}",
                        "reset=topic"], check=True, capture_output=True, timeout=900)
    finally:
        twin.terminate()
        twin.wait(10)
    results = [ep.meta["success"] for ep in read_episodes(out / "episodes.hdf5")]
    return sum(results) / len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--relax", action="store_true", help="lift the hand speed and action rate caps")
    args = parser.parse_args()
    data = load_checkpoint(args.checkpoint)
    agent = agent_from_checkpoint(data)
    out = Path(tempfile.mkdtemp(prefix="deploy_twin_"))
    core = start_roscore()
    try:
        for task in data["tasks"]:
            for robot in data["robots"]:
                config = relaxed_config(robot, out) if args.relax else None
                ros = through_ros(args.checkpoint, task, robot, args.episodes, out / f"{task}_{robot}", config,
                                  camera_overrides(agent))
                sim = evaluate(agent, [task], [robot], "mujoco", args.episodes, seed=10000,
                               deploy_limits=data["config"].get("deploy_limits", ""))[(task, robot)]
                print(f"{task}_{robot}_ros_success: {ros:.2f}")
                print(f"{task}_{robot}_sim_success: {sim:.2f}")
                print(f"{task}_{robot}_ros_over_sim: {ros / sim if sim else float('nan'):.2f}", flush=True)
    finally:
        core.terminate()


if __name__ == "__main__":
    main()
