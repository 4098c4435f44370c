"""Episode file I/O: appending stays constant-cost as the file grows, and reading is fast.

Appends `--episodes` episodes with a 128x128 RGB camera frame in every step to one file
through `EpisodeWriter` (the path the recorder, the deploy loop and the importers take),
timing each append. The cost of the 1,000th append against the 10th (medians over a
window around each, so one slow fsync on a shared disk does not decide it) is the target:
a writer that copied or rewrote the file would grow linearly. Then reads every episode
back (with images) and reports throughput.
Run: python bench/episode_io.py [--episodes 1000] [--steps 50] [--quick]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from robolearn.demos.episodes import Episode, EpisodeWriter, demo_names, file_metadata, read_episode
from robolearn.spec import ACTION_DIM, STATE_DIM

WINDOW = 10  # appends on each side of the 10th and the 1,000th


def camera_frames(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
    """Frames that compress like rendered ones: smooth shading, a moving object, sensor noise."""
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x, y, (x + y) // 2], -1).astype(np.float32) * (200 / size)
    frames = np.empty((steps, size, size, 3), np.uint8)
    for t in range(steps):
        cx, cy = (t * 2) % size, size // 2
        blob = ((x - cx) ** 2 + (y - cy) ** 2 < (size // 8) ** 2)[..., None] * 55.0
        frames[t] = np.clip(base + blob + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
    return frames


def make_episode(rng: np.random.Generator, steps: int, size: int) -> Episode:
    states = rng.normal(size=(steps, STATE_DIM)).astype(np.float32)
    return Episode(states, states, rng.uniform(-1, 1, (steps, ACTION_DIM)).astype(np.float32),
                   rng.normal(size=steps).astype(np.float32), np.eye(1, steps, steps - 1, dtype=np.uint8)[0],
                   rng.normal(size=(steps, 40)), {"seed": 0, "success": True},
                   images={"front": camera_frames(rng, steps, size)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=1000 + 2 * WINDOW)
    parser.add_argument("--steps", type=int, default=50, help="steps per episode (one camera frame each)")
    parser.add_argument("--size", type=int, default=128, help="camera frame height and width")
    parser.add_argument("--quick", action="store_true", help="10 steps per episode (under 3 minutes)")
    parser.add_argument("--dir", default=None, help="where to write the file (default: a temporary directory)")
    args = parser.parse_args()
    steps = 10 if args.quick else args.steps
    if args.episodes < 1000 + WINDOW:
        raise SystemExit(f"--episodes={args.episodes}: needs at least {1000 + WINDOW} to time the 1,000th append")
    rng = np.random.default_rng(0)
    # A few distinct episodes, reused: generating frames would otherwise dominate the run.
    pool = [make_episode(rng, steps, args.size) for _ in range(8)]
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "episodes.hdf5"
        seconds = []
        with EpisodeWriter(path, file_metadata("pick_place", "panda", "mujoco", "sim")) as writer:
            for i in range(args.episodes):
                episode = pool[i % len(pool)]
                started = time.perf_counter()
                writer.append(Episode(**{**episode.__dict__, "meta": dict(episode.meta)}))
                seconds.append(time.perf_counter() - started)
        size_gb = path.stat().st_size / 1e9
        at_10 = statistics.median(seconds[10 - WINDOW // 2:10 + WINDOW // 2])
        at_1000 = statistics.median(seconds[1000 - WINDOW:1000 + WINDOW])
        started = time.perf_counter()
        names = demo_names(path)
        frames = sum(read_episode(path, name, images=True).images["front"].shape[0] for name in names)
        read_s = time.perf_counter() - started
    print(f"episodes: {args.episodes}")
    print(f"steps_per_episode: {steps}")
    print(f"image: {args.size}x{args.size}x3")
    print(f"file_gb: {size_gb:.2f}")
    print(f"append_ms_10th: {at_10 * 1e3:.1f}")
    print(f"append_ms_1000th: {at_1000 * 1e3:.1f}")
    print(f"append_ms_last: {statistics.median(seconds[-2 * WINDOW:]) * 1e3:.1f}")
    print(f"append_cost_ratio_1000_to_10: {at_1000 / at_10:.2f}")
    print(f"read_episodes_per_s: {len(names) / read_s:.1f}")
    print(f"read_frames_per_s: {frames / read_s:.0f}")
    print(f"read_mb_per_s: {size_gb * 1e3 / read_s:.0f}")


if __name__ == "__main__":
    main()
