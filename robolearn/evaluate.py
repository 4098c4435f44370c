"""Policy evaluation: a task x robot success table (success if any step succeeded)."""
from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

import sims
from robolearn.learners.sac import SAC


def evaluate(agent: SAC, combos: list[tuple[str, str]], backend: str, episodes: int, seed: int = 10_000,
             expert_mask: torch.Tensor | None = None, video_dir: str | Path | None = None) -> dict[tuple[str, str], float]:
    """Deterministic actions; `expert_mask` (bool, E) disables experts in every MoE layer's gate."""
    table = {}
    for task, robot in combos:
        env = gym.make(sims.env_id(task), robot=robot, backend=backend,
                       render_mode="rgb_array" if video_dir else None)
        wins = 0
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            success, done, frames = bool(info["success"]), False, []
            while not done:
                action = agent.act(obs["state"][None], np.array([obs["task_id"]]), np.array([obs["robot_id"]]),
                                   deterministic=True, expert_mask=expert_mask)[0]
                obs, _, terminated, truncated, info = env.step(action)
                success |= bool(info["success"])
                done = terminated or truncated
                if video_dir and episode == 0:
                    frames.append(env.render())
            if frames:
                write_video(Path(video_dir) / f"{task}_{robot}_{backend}.mp4", frames, fps=int(1 / sims.backend.CONTROL_DT))
            wins += success
        env.close()
        table[(task, robot)] = wins / episodes
    return table


def write_video(path: Path, frames: list[np.ndarray], fps: int) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def format_success(table: dict[tuple[str, str], float], title: str = "success") -> str:
    tasks = list(dict.fromkeys(t for t, _ in table))
    robots = list(dict.fromkeys(r for _, r in table))
    lines = [title, f"{'task':14s}" + "".join(f"{r:>9s}" for r in robots)]
    for task in tasks:
        lines.append(f"{task:14s}" + "".join(f"{table[(task, r)]:9.2f}" for r in robots))
    lines.append(f"{'mean':14s}" + "".join(f"{np.mean([table[(t, r)] for t in tasks]):9.2f}" for r in robots))
    return "\n".join(lines)
