"""Metric logging: wandb in offline mode (no account, no network) or nothing."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


class Logger:
    def __init__(self, kind: str, out: Path, project: str, config: dict[str, Any]):
        if kind not in ("wandb", "none"):
            raise ValueError(f"logger={kind!r}; allowed: wandb, none")
        self.run = None
        if kind == "wandb":
            try:
                import wandb
            except ImportError:
                raise ValueError("logger=wandb needs the wandb package (pip install wandb), or pass logger=none") from None
            self.run = wandb.init(project=project, dir=str(out), config=config, mode="offline")

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.run is not None:
            self.run.log(metrics, step=step)

    def heatmap(self, name: str, matrix: np.ndarray, step: int) -> None:
        """A task x expert routing matrix as an image (rows: tasks, columns: experts)."""
        if self.run is None:
            return
        import cv2
        import wandb

        scaled = (255 * matrix / max(float(matrix.max()), 1e-8)).astype(np.uint8)
        image = cv2.resize(cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS), None, fx=32, fy=32,
                           interpolation=cv2.INTER_NEAREST)
        self.run.log({name: wandb.Image(image[..., ::-1])}, step=step)

    def close(self) -> None:
        if self.run is not None:
            self.run.finish()
