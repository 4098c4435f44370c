"""Training speed side by side, in one run: end-to-end env steps/s, update costs, MoE scaling.

  train_env_steps_per_s           `robolearn train` with the make-train config (configs/train.yaml:
                                  expert demos, deploy limits),
                                  differenced over two budgets so start-up and the final evaluation
                                  cancel (target >= 300); the same for the suite's ten tasks on Panda
  raw_env_steps_per_s             the same envs stepped with random actions, nothing else, one process
  train_to_raw_env_ratio          the two above divided
  peak_rss_mb                     the largest process of each training run
  moe_to_dense_update_ratio_b*    one SAC update of the train-config MoE against the same network with
                                  each MoE layer replaced by one dense block of its active width
                                  (policy=dense_compute: k x expert_hidden units, the k experts'
                                  multiply-adds per example, no routing) (target <= 1.3)
  moe_to_dense_params_ratio_b*    ... against policy=dense_params (the MoE's total parameters)
  moe_to_mlp_baseline_ratio_b*    ... against the plain dense MLP (policy=mlp)
  moe_e64_to_e4_b*                MoE layer forward+backward per example, E=64 against E=4, k=2,
                                  expert width 128 (target <= 1.3)
Rounds alternate the models, medians are kept: drift on a shared machine hits all alike.
Run: python bench/train_throughput.py [--quick]
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from moe_speed import time_per_example  # noqa: E402
from sac_update import ms_per_update, random_batch  # noqa: E402

from robolearn.config import compose_train, to_dataclass  # noqa: E402
from robolearn.env_runner import env_pool  # noqa: E402
from robolearn.envs import combos_for, run_vocabulary  # noqa: E402
from robolearn.learners.sac import SAC  # noqa: E402
from robolearn.policies.moe import MoELayer  # noqa: E402
from robolearn.spec import ACTION_DIM, STATE_DIM  # noqa: E402
from robolearn.sims.tasks import TASKS  # noqa: E402

TEN_TASKS = [f"tasks=[{','.join(TASKS)}]", "robots=[panda]"]


def train_seconds(overrides: list[str], steps: int, out: Path) -> tuple[float, float]:
    """Wall seconds of `robolearn train` for `steps` env steps (no evaluation but the final
    one-episode one), and the peak RSS (MB) of its largest process so far."""
    cmd = [sys.executable, "-m", "robolearn.cli", "train", *overrides, f"total_steps={steps}", "eval_every=100000000",
           "eval_episodes=1", "logger=none", f"out={out / str(steps)}"]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"train {' '.join(overrides)} failed: {done.stderr.strip().splitlines()[-1:]}")
    return time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def train_rate(name: str, overrides: list[str], short: int, long: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t_short, _ = train_seconds(overrides, short, Path(tmp))
        t_long, rss = train_seconds(overrides, long, Path(tmp))
    rate = (long - short) / (t_long - t_short)
    print(f"{name}_env_steps_per_s: {rate:.1f}")
    print(f"{name}_peak_rss_mb: {rss:.0f}")
    cfg = to_dataclass(compose_train(overrides))
    raw = raw_env_rate(cfg.tasks, cfg.robots, cfg.num_envs, cfg.deploy_limits, steps=1500)
    print(f"{name}_raw_env_steps_per_s: {raw:.1f}")
    print(f"{name}_to_raw_env_ratio: {rate / raw:.3f}")


def raw_env_rate(tasks: list[str], robots: list[str], num_envs: int, deploy_limits: str, steps: int) -> float:
    """Env steps/s of the training envs alone (under the run's deploy limits): random actions,
    one process, no learner."""
    combos = [c for c in combos_for(tasks, robots) for _ in range(num_envs)]
    envs = env_pool(combos, "mujoco", run_vocabulary(tasks, robots), None, "none", workers=False,
                    deploy_limits=deploy_limits)
    envs.reset(list(range(len(combos))))
    rng = np.random.default_rng(0)
    rounds = max(1, steps // len(combos))
    started = time.perf_counter()
    for _ in range(rounds):
        envs.step_async(rng.uniform(-1, 1, (len(combos), ACTION_DIM)).astype(np.float32))
        envs.step_wait()
    elapsed = time.perf_counter() - started
    envs.close()
    return rounds * len(combos) / elapsed


def update_ratios(batches: list[int], repeats: int, rounds: int) -> None:
    moe_cfg = to_dataclass(compose_train([]))
    variants = {"moe": [], "dense_compute": ["policy=dense_compute"], "dense_params": ["policy=dense_params"],
                "mlp_baseline": ["policy=mlp"]}
    for b in batches:
        learners = {}
        for name, overrides in variants.items():
            cfg = to_dataclass(compose_train([*overrides, f"algo.batch_size={b}"]))
            learners[name] = SAC(cfg.policy, cfg.algo, STATE_DIM, ACTION_DIM, len(cfg.tasks), len(cfg.robots))
        batch = random_batch(b, len(moe_cfg.tasks), len(moe_cfg.robots))
        samples: dict[str, list[float]] = {name: [] for name in learners}
        for _ in range(rounds):
            for name, sac in learners.items():
                samples[name].append(ms_per_update(sac, batch, repeats))
        ms = {name: statistics.median(v) for name, v in samples.items()}
        for name, value in ms.items():
            print(f"sac_update_{name}_b{b}_ms: {value:.2f}")
        print(f"moe_to_dense_update_ratio_b{b}: {ms['moe'] / ms['dense_compute']:.3f}")
        print(f"moe_to_dense_params_ratio_b{b}: {ms['moe'] / ms['dense_params']:.3f}")
        print(f"moe_to_mlp_baseline_ratio_b{b}: {ms['moe'] / ms['mlp_baseline']:.3f}")


def expert_scaling(batches: list[int], repeats: int, rounds: int) -> None:
    layers = {e: MoELayer(256, 256, 32, e, 2, 128) for e in (4, 64)}
    for b in batches:
        x, cond = torch.randn(b, 256, requires_grad=True), torch.randn(b, 32)
        samples: dict[int, list[float]] = {e: [] for e in layers}
        for _ in range(rounds):
            for e, layer in layers.items():
                samples[e].append(time_per_example(layer, x, cond, repeats))
        us = {e: statistics.median(v) * 1e6 for e, v in samples.items()}
        for e in layers:
            print(f"moe_layer_e{e}_b{b}_us_per_example: {us[e]:.3f}")
        print(f"moe_e64_to_e4_b{b}: {us[64] / us[4]:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer repeats and shorter runs (under 5 minutes)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("MUJOCO_GL", "egl")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    started = time.perf_counter()
    repeats, rounds = (5, 3) if args.quick else (20, 5)
    update_ratios([256, 1024], repeats, rounds)
    expert_scaling([256, 1024, 4096], repeats, rounds)
    short, long = (3000, 9000) if args.quick else (3000, 15000)
    train_rate("train", [], short, long)
    train_rate("ten_task", TEN_TASKS, short, long if not args.quick else 6000)
    print(f"bench_seconds: {time.perf_counter() - started:.0f}")


if __name__ == "__main__":
    main()
