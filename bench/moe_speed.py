"""MoE forward+backward cost per example as the number of experts grows (k fixed).

Sparse dispatch should keep the cost per example flat in E: target E64/E4 <= 1.3.
Also prints a dense two-layer MLP of the same active width for reference. All
numbers come from one run; ratios are what to compare across machines.
Run: python bench/moe_speed.py [--batch 4096] [--threads 2]
"""
from __future__ import annotations

import argparse
import time

import torch

from robolearn.policies.moe import MoELayer


def time_per_example(module: torch.nn.Module, x: torch.Tensor, cond: torch.Tensor, repeats: int) -> float:
    def step() -> None:
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
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--expert-hidden", type=int, default=256)
    parser.add_argument("--k", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.dim, requires_grad=True)
    cond = torch.randn(args.batch, 32)
    results = {}
    for experts in (4, 16, 64):
        layer = MoELayer(args.dim, args.dim, 32, experts, args.k, args.expert_hidden)
        results[experts] = time_per_example(layer, x, cond, args.repeats)
        print(f"moe_E{experts}_k{args.k}_us_per_example: {results[experts] * 1e6:.3f}")
    dense = time_per_example(Dense(args.dim, args.k * args.expert_hidden), x, cond, args.repeats)
    print(f"dense_same_active_width_us_per_example: {dense * 1e6:.3f}")
    for experts in (16, 64):
        print(f"ratio_E{experts}_to_E4: {results[experts] / results[4]:.3f}")
    print(f"ratio_E4_to_dense: {results[4] / dense:.3f}")


if __name__ == "__main__":
    main()
