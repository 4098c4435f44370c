"""One checkpoint file: weights, full config, normalizer statistics, ADR state, schema version.

`eval`, `check`, `deploy` and `train resume=` need nothing else.
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch

# 2 (2026-12-01): tcp_quat in the palm-down hemisphere; SAC networks take relative inputs.
# 3 (2026-12-06): task and robot ids from the run's vocabulary (`vocab`), not global constants.
SCHEMA_VERSION = 3
SCHEMA_CHANGES = {2: "its task and robot ids were global (fixed 18 task and 4 robot rows)"}
REQUIRED = ("schema_version", "config", "learner", "vocab", "tasks", "robots", "backend", "env_steps")


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write atomically: a crash mid-save leaves the previous checkpoint intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"schema_version": SCHEMA_VERSION, **payload}, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint={path}: no such file")
    try:
        # weights_only: tensors and plain containers only, so a checkpoint from anywhere cannot run code.
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        raise ValueError(f"checkpoint={path}: refused, it holds a pickled object beyond tensors and plain containers"
                         f"{f' ({found.group(1)})' if found else ''}; robolearn checkpoints never do, and loading it "
                         "could run code") from None
    except Exception as err:  # torch raises several types for truncated or foreign files
        detail = " ".join(str(err).split())[:200]
        raise ValueError(f"checkpoint={path}: not a readable robolearn checkpoint ({type(err).__name__}: {detail})") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        why = SCHEMA_CHANGES.get(version, "")
        raise ValueError(f"checkpoint={path}: schema_version {version}, this robolearn reads {SCHEMA_VERSION}"
                         f"{f' ({why})' if why else ''}; retrain it with this version")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise ValueError(f"checkpoint={path}: missing fields {missing}")
    return data
