"""Simulation speed on one core: env steps/s per task and backend.

For each task x backend (robot: panda unless --robot), in the same run:
  env_steps_per_s     full env.step (controller, physics, task logic, observation)
  raw_steps_per_s     the physics substeps of those same env steps alone (timed
                      inside env.step: same states, same contacts)
  overhead_ratio      time per env step / time of its raw substeps (target <= 1.5)
  realtime_factor     simulated seconds per wall-clock second (target >= 40 for
                      pick_place on MuJoCo)
and per backend and camera (pick_place, the same states), at --image-size:
  render_frames_per_s one camera frame alone (MuJoCo: EGL offscreen; PyBullet: TinyRenderer)
  camera_env_steps_per_s  env steps with the front and wrist frames in the observation
Prints `name: value` lines. Run: python bench/sim_speed.py [--steps 400] [--robot panda] [--image-size 84]
"""
from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the targets assume

import gymnasium as gym  # noqa: E402

import robolearn.sims as sims  # noqa: E402
from robolearn.sims.backend import BACKENDS, CONTROL_DT  # noqa: E402
from robolearn.sims.cameras import CAMERAS  # noqa: E402
from robolearn.sims.experts import expert_for  # noqa: E402
from robolearn.sims.tasks import TASKS  # noqa: E402


def measure(task: str, robot: str, backend: str, steps: int) -> dict[str, float]:
    env = gym.make(sims.env_id(task), robot=robot, backend=backend)
    expert = expert_for(env)
    sim = env.unwrapped.sim
    # Time the physics inside each env step: the same substeps, states and contacts,
    # so the ratio isolates what the env adds (IK, observation, reward, success).
    physics_time = 0.0
    raw_step = sim.step

    def timed_step() -> None:
        nonlocal physics_time
        t0 = time.perf_counter()
        raw_step()
        physics_time += time.perf_counter() - t0

    sim.step = timed_step
    obs, _ = env.reset(seed=0)
    # The expert's actions make the physics realistic (contacts, grasps); they are
    # computed outside the timed region, which covers env.step only.
    env_time = 0.0
    for i in range(steps):
        action = expert(obs)
        t0 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        env_time += time.perf_counter() - t0
        if terminated or truncated:
            physics_time_before_reset = physics_time
            obs, _ = env.reset(seed=i)
            physics_time = physics_time_before_reset  # settling at reset is not an env step
    env.close()
    return {
        "env_steps_per_s": steps / env_time,
        "raw_steps_per_s": steps / physics_time,
        "overhead_ratio": env_time / physics_time,
        "realtime_factor": steps * CONTROL_DT / env_time,
    }


def measure_cameras(robot: str, backend: str, steps: int, size: int) -> dict[str, float]:
    env = gym.make(sims.env_id("pick_place"), robot=robot, backend=backend, cameras=list(CAMERAS), image_size=size)
    expert = expert_for(env)
    obs, _ = env.reset(seed=0)
    env_time, states = 0.0, []
    for i in range(steps):
        action = expert(obs)
        states.append(env.unwrapped.sim.get_state())
        t0 = time.perf_counter()
        obs, _, terminated, truncated, _ = env.step(action)
        env_time += time.perf_counter() - t0
        if terminated or truncated:
            obs, _ = env.reset(seed=i)
    out = {"camera_env_steps_per_s": steps / env_time}
    sim = env.unwrapped.sim
    for camera in CAMERAS:
        render_time = 0.0
        for state in states:
            sim.set_state(state)
            t0 = time.perf_counter()
            sim.render(camera, size, size)
            render_time += time.perf_counter() - t0
        out[f"{camera}/render_frames_per_s"] = steps / render_time
    env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--robot", default="panda")
    parser.add_argument("--image-size", type=int, default=84)
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    for backend in BACKENDS:
        for task in TASKS:
            result = measure(task, args.robot, backend, args.steps)
            for key, value in result.items():
                print(f"{backend}/{task}/{args.robot}/{key}: {value:.2f}")
        for key, value in measure_cameras(args.robot, backend, args.steps, args.image_size).items():
            print(f"{backend}/pick_place/{args.robot}/{args.image_size}px/{key}: {value:.2f}")


if __name__ == "__main__":
    main()
