"""MoE forward+backward cost per example as the number of experts grows (k fixed).

Sparse dispatch should keep the cost per example flat in E: target E64/E4 <= 1.3.
The weights (and their gradients) grow with E while the work per example does not, so
the ratio falls as the batch grows (Shazeer et al.'s "shrinking batch problem"); it is
printed for each batch size. Each E runs `--repeats` steps back to back (warm caches, as in
training) and the whole sweep is repeated `--rounds` times, keeping the median per E, so
drift on a shared machine affects every E alike. Also prints a dense two-layer MLP of the
same active width for reference. Ratios are what to compare across machines.
Run: python bench/moe_speed.py [--batches 4096 16384] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from robolearn.policies.moe import MoELayer


def time_per_example(module: torch.nn.Module, x: torch.Tensor, cond: torch.Tensor, repeats: int) -> float:
    def step() -> None:
        module.zero_grad(set_to_none=True)  # as the optimizer does between steps
        x.grad = None
        out = module(x, cond)
        (out[0] if isinstance(out, tuple) else out).sum().backward()

    step()  # warm up allocations
    t0 = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - t0) / repeats / x.shape[0]


class Dense(torch.nn.Module):
    def __init__(self, d: int, hidden: int):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, d))

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[4096, 16384])
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--expert-hidden", type=int, default=256)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    layers = {experts: MoELayer(args.dim, args.dim, 32, experts, args.k, args.expert_hidden) for experts in (4, 16, 64)}
    dense = Dense(args.dim, args.k * args.expert_hidden)
    for batch in args.batches:
        x = torch.randn(batch, args.dim, requires_grad=True)
        cond = torch.randn(batch, 32)
        samples: dict[object, list[float]] = {name: [] for name in [*layers, "dense"]}
        for _ in range(args.rounds):
            for experts, layer in layers.items():
                samples[experts].append(time_per_example(layer, x, cond, args.repeats))
            samples["dense"].append(time_per_example(dense, x, cond, args.repeats))
        us = {name: statistics.median(values) * 1e6 for name, values in samples.items()}
        for experts in layers:
            print(f"moe_E{experts}_k{args.k}_batch{batch}_us_per_example: {us[experts]:.3f}")
        print(f"dense_same_active_width_batch{batch}_us_per_example: {us['dense']:.3f}")
        for experts in (16, 64):
            print(f"ratio_E{experts}_to_E4_batch{batch}: {us[experts] / us[4]:.3f}")
        print(f"ratio_E4_to_dense_batch{batch}: {us[4] / us['dense']:.3f}")

if __name__ == "__main__":
    main()
