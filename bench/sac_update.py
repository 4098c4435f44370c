"""Cost of one multitask SAC gradient step for each policy, at the `make train` shapes.

The update (critic, actor and temperature steps, target update) dominates SAC's training
time, so this sets how many gradient steps per second `robolearn train` can take. Each
policy runs `--repeats` updates back to back on one fixed random batch, and the sweep is
repeated `--rounds` times keeping the median, so drift on a shared machine hits every
policy alike. Prints ms per update and each policy's ratio to the dense MLP.
Run: python bench/sac_update.py [--batch 256] [--threads 2] [--tasks 2 --robots 3]
     (--tasks 60 --robots 4: the vocabulary of MT50 + the suite's ten tasks on three arms)
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from robolearn.config import compose_train, to_dataclass
from robolearn.learners.replay import ReplayBatch
from robolearn.learners.sac import SAC
from robolearn.spec import ACTION_DIM, STATE_DIM


# configs/policy/: the MoE and every baseline (the dense ones matched to its parameters and its compute).
POLICY_CONFIGS = ("moe", "mlp", "multihead", "dense_params", "dense_compute")


def ms_per_update(sac: SAC, batch: ReplayBatch, repeats: int) -> float:
    sac.update(batch)  # warm up allocations
    started = time.perf_counter()
    for _ in range(repeats):
        sac.update(batch)
    return (time.perf_counter() - started) / repeats * 1e3


def random_batch(b: int, n_tasks: int, n_robots: int) -> ReplayBatch:
    return ReplayBatch(obs=torch.randn(b, STATE_DIM), action=torch.rand(b, ACTION_DIM) * 2 - 1, reward=torch.randn(b),
                       next_obs=torch.randn(b, STATE_DIM), terminal=torch.zeros(b),
                       task=torch.randint(0, n_tasks, (b,)), robot=torch.randint(0, n_robots, (b,)),
                       extra=torch.zeros(b, dtype=torch.bool))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--robots", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    learners = {}
    for policy in POLICY_CONFIGS:
        cfg = to_dataclass(compose_train([f"policy={policy}", f"algo.batch_size={args.batch}"]))
        learners[policy] = SAC(cfg.policy, cfg.algo, STATE_DIM, ACTION_DIM, args.tasks, args.robots)
    b = args.batch
    batch = random_batch(b, args.tasks, args.robots)
    samples: dict[str, list[float]] = {policy: [] for policy in learners}
    for _ in range(args.rounds):
        for policy, sac in learners.items():
            samples[policy].append(ms_per_update(sac, batch, args.repeats))
    ms = {policy: statistics.median(values) for policy, values in samples.items()}
    for policy, value in ms.items():
        print(f"sac_update_{policy}_batch{b}_ms: {value:.2f}")
    for policy in learners:
        if policy != "mlp":
            print(f"ratio_{policy}_to_mlp: {ms[policy] / ms['mlp']:.2f}")


if __name__ == "__main__":
    main()
