"""Behaviour cloning on an episode file larger than the memory it is allowed: peak RSS.

Writes a multi-GB episode file (pick_place/panda demos of 500 steps with the simulator
state in every step, through `EpisodeWriter`), then runs `robolearn bc ... max_memory_gb=<m>`
on it in a child process and reads the child's peak resident memory from the kernel. The
same command on a 5-demo file gives the process's own footprint (torch, MuJoCo, the model):
what BC holds of the data is the difference, and the target is that it stays within
`max_memory_gb` although the training arrays alone (`bc_data_gb`) and the file are larger.
For contrast, the same file under a budget it fits in (held whole) is run too.
Run: python bench/bc_memory.py [--file-gb 3] [--max-memory-gb 0.5] [--quick]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from robolearn.demos.episodes import Episode, EpisodeWriter, file_metadata
from robolearn.bc_data import CHUNK_SHARE, bytes_per_step
from robolearn.spec import ACTION_DIM, STATE_DIM

STEPS = 500
SIM_STATE = 175  # pick_place/panda's MuJoCo state size
BC_OPTIONS = ["algo.model=chunk", "algo.steps=300", "eval_episodes=0", "logger=none", "threads=1"]


def make_episode(rng: np.random.Generator) -> Episode:
    states = np.cumsum(rng.normal(0, 0.01, (STEPS, STATE_DIM)), 0).astype(np.float32)
    return Episode(states, states, rng.uniform(-1, 1, (STEPS, ACTION_DIM)).astype(np.float32),
                   np.zeros(STEPS, np.float32), np.eye(1, STEPS, STEPS - 1, dtype=np.uint8)[0],
                   rng.normal(size=(STEPS, SIM_STATE)), {"seed": 0, "success": True})


def write_file(path: Path, gigabytes: float) -> int:
    """Episodes until the file holds `gigabytes`; returns their number."""
    rng = np.random.default_rng(0)
    pool = [make_episode(rng) for _ in range(8)]  # reused: generating data would dominate
    count = 0
    with EpisodeWriter(path, file_metadata("pick_place", "panda", "mujoco", "sim")) as writer:
        while path.stat().st_size < gigabytes * 1e9:
            writer.append(pool[count % len(pool)])
            count += 1
    return count


def peak_rss_gb(data: Path, max_memory_gb: float, out: Path) -> tuple[float, float]:
    """Peak RSS of `robolearn bc` on `data` (from wait4's rusage) and its wall time."""
    robolearn = Path(sys.executable).with_name("robolearn")
    started = time.perf_counter()
    child = subprocess.Popen([str(robolearn), "bc", f"data=[{data}]", f"max_memory_gb={max_memory_gb}", f"out={out}",
                              *BC_OPTIONS], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read() if child.stderr else ""
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"robolearn bc failed:\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1e6, time.perf_counter() - started  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file-gb", type=float, default=3.0, help="size of the episode file to train on")
    parser.add_argument("--max-memory-gb", type=float, default=0.5, help="robolearn bc's max_memory_gb")
    parser.add_argument("--quick", action="store_true", help="a 0.4 GB file and max_memory_gb=0.05 (about a minute)")
    parser.add_argument("--dir", default=None, help="where to write the files (default: a temporary directory)")
    args = parser.parse_args()
    file_gb, budget = (0.4, 0.05) if args.quick else (args.file_gb, args.max_memory_gb)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        big, small = Path(tmp) / "big.hdf5", Path(tmp) / "small.hdf5"
        started = time.perf_counter()
        episodes = write_file(big, file_gb)
        print(f"write_s: {time.perf_counter() - started:.1f}")
        with EpisodeWriter(small, file_metadata("pick_place", "panda", "mujoco", "sim")) as writer:
            for episode in [make_episode(np.random.default_rng(1))] * 5:
                writer.append(episode)
        data_gb = episodes * STEPS * bytes_per_step(8) / 1e9  # algo.model=chunk: 8 action labels per step
        base, _ = peak_rss_gb(small, budget, Path(tmp) / "run_small")
        peak, seconds = peak_rss_gb(big, budget, Path(tmp) / "run_big")
        whole, _ = peak_rss_gb(big, 4 * data_gb / CHUNK_SHARE, Path(tmp) / "run_whole")  # a budget it fits in
        print(f"file_gb: {big.stat().st_size / 1e9:.2f}")
        print(f"episodes: {episodes}")
        print(f"bc_data_gb: {data_gb:.2f}")
        print(f"max_memory_gb: {budget}")
        print(f"base_rss_gb: {base:.2f}")
        print(f"peak_rss_gb: {peak:.2f}")
        print(f"peak_rss_in_memory_gb: {whole:.2f}")
        print(f"bc_s: {seconds:.1f}")
        print(f"data_rss_over_budget: {(peak - base) / budget:.2f}")
        print(f"data_rss_over_bc_data: {(peak - base) / data_gb:.2f}")


if __name__ == "__main__":
    main()
