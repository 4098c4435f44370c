"""Where networks, replay batches and updates live: `device=auto|cpu|cuda` (or `cuda:N`)."""
from __future__ import annotations

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """The torch device for a `device=` setting; auto picks the GPU when there is one.
    An unusable choice is a ValueError naming the setting and what is allowed here."""
    base, _, index = str(name).partition(":")
    if base not in DEVICES or (index and (base != "cuda" or not index.isdigit())):
        raise ValueError(f"device={name!r}; allowed: auto, cpu, cuda, cuda:<index>")
    if base == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if base == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device={name}: no CUDA GPU is visible to torch here; use device=cpu or device=auto")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) here")
    return torch.device(name)


def on_device(device: torch.device, obs: np.ndarray, task: np.ndarray,
              robot: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of raw states (float32) with its task and robot ids, as tensors on `device`."""
    return (torch.as_tensor(obs, dtype=torch.float32, device=device), torch.as_tensor(task, device=device),
            torch.as_tensor(robot, device=device))
