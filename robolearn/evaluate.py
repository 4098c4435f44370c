"""Policy evaluation: a task x robot success table (success if any step succeeded; an
episode stops at its first success).

Episode i resets with seed `seed + i`: a Meta-World task then plays its goal (seed + i) mod
50, so 50 episodes are Meta-World's protocol (every goal once, horizon 500)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from robolearn.envs import combos_for, make_env
from robolearn.learners import Agent
from robolearn.sims.backend import CONTROL_DT
from robolearn.sims.randomization import Randomizer


def evaluate(agent: Agent, tasks: list[str], robots: list[str], backend: str, episodes: int, seed: int = 10_000,
             expert_mask: torch.Tensor | None = None, video_dir: str | Path | None = None,
             env_kwargs: dict[str, dict] | None = None, dr: Randomizer | str = "none",
             deploy_limits: str = "") -> dict[tuple[str, str], float]:
    """Deterministic actions; `expert_mask` (bool, E) disables experts in every MoE layer's gate;
    `dr` randomizes the physics of every episode (e.g. held-out ranges); `deploy_limits` as in training."""
    table = {}
    seen = cameras_of(agent)
    kwargs = seeing_kwargs(agent, env_kwargs, tasks)
    for task, robot in combos_for(tasks, robots):
        env = make_env(task, robot, backend, agent.vocab, kwargs, render_mode="rgb_array" if video_dir else None, dr=dr,
                       deploy_limits=deploy_limits)
        wins = 0
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            if hasattr(agent, "reset_episode"):  # policies that remember (action chunks) start afresh
                agent.reset_episode()
            success, done, frames = bool(info["success"]), False, []
            while not done:
                images = {"images": {c: f[None] for c, f in obs["images"].items()}} if seen else {}
                action = agent.act(obs["state"][None], np.array([obs["task_id"]]), np.array([obs["robot_id"]]),
                                   deterministic=True, expert_mask=expert_mask, **images)[0]
                obs, _, terminated, truncated, info = env.step(action)
                success |= bool(info["success"])
                filming = video_dir and episode == 0
                # Success at any step decides the episode: the rest cannot change it (a filmed one plays out).
                done = terminated or truncated or (success and not filming)
                if filming:
                    frames.append(env.render())
            if frames:
                name = f"{task}_{robot}_{backend}.mp4".replace(":", "_").replace("/", "_")
                write_video(Path(video_dir) / name, frames, fps=int(1 / CONTROL_DT))
            wins += success
        env.close()
        table[(task, robot)] = wins / episodes
    return table


def cameras_of(agent: Agent) -> dict:
    """The env settings a policy that sees needs (its cameras at its image size); {} for the others."""
    vision = getattr(agent, "vision", None)
    return {"cameras": vision.cameras, "image_size": vision.size} if vision is not None else {}


def seeing_kwargs(agent: Agent, env_kwargs: dict[str, dict] | None, tasks: list[str]) -> dict[str, dict]:
    """`env_kwargs` with each task's envs given the cameras a policy that sees needs."""
    kwargs = dict(env_kwargs or {})
    seen = cameras_of(agent)
    if seen:
        for task in tasks:
            kwargs[task] = kwargs.get(task, {}) | seen
    return kwargs


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
    width = max(14, *(len(t) + 1 for t in tasks))  # long external task names keep the columns aligned
    lines = [title, f"{'task':{width}s}" + "".join(f"{r:>9s}" for r in robots)]
    for task in tasks:
        lines.append(f"{task:{width}s}" + "".join(f"{table[(task, r)]:9.2f}" if (task, r) in table else f"{'-':>9s}"
                                                  for r in robots))
    means = [np.mean([table[(t, r)] for t in tasks if (t, r) in table]) for r in robots]
    lines.append(f"{'mean':{width}s}" + "".join(f"{m:9.2f}" for m in means))
    return "\n".join(lines)
