"""Resilience of a trained MoE policy: success as experts are disabled in the gate.

For each fraction f, a random f of the experts (the same ones in every layer) is masked
out of routing; the gate renormalizes over the rest. Prints `name: value` lines.
Run: python bench/moe_resilience.py --checkpoint runs/x/checkpoint.pt [--episodes 20]
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from robolearn.checkpoint import load_checkpoint
from robolearn.evaluate import evaluate
from robolearn.policies.moe import expert_mask_for
from robolearn.agents import agent_from_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--fractions", default="0,0.25,0.5,0.75")
    parser.add_argument("--seeds", type=int, default=3, help="random expert subsets per fraction")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_checkpoint(args.checkpoint)
    agent = agent_from_checkpoint(data)
    for fraction in (float(f) for f in args.fractions.split(",")):
        means = []
        for seed in range(args.seeds if fraction > 0 else 1):
            mask = expert_mask_for(agent.actor.net, fraction, seed=seed)
            table = evaluate(agent, data["tasks"], data["robots"], data["backend"], args.episodes, expert_mask=mask)
            means.append(np.mean(list(table.values())))
        print(f"success_with_{fraction:.2f}_experts_disabled: {np.mean(means):.3f}")


if __name__ == "__main__":
    main()
