"""The training recipes the benchmarks run with (`--recipe`).

`recorded`: the settings the older tables in docs/benchmarks.md were measured with, before
the faster defaults of 2026-12-03 (one env per cell, 0.5 updates per env step); `train`:
configs/train.yaml's own (the `make train` recipe).
"""
from __future__ import annotations

import argparse

RECIPES = {"recorded": ["num_envs=1", "algo.updates_per_step=0.5"], "train": []}


def add_recipe_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipe", choices=tuple(RECIPES), default="recorded",
                        help="recorded: the settings of the older tables; train: configs/train.yaml's")
