"""Checkpoints load as data only: a crafted file cannot run code on the robot's computer."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from robolearn.checkpoint import load_checkpoint

CLI = str(Path(sys.executable).parent / "robolearn")


class WritesAFile:
    """Unpickling this would run `touch`: what a malicious checkpoint does."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.target}",))


def test_a_crafted_checkpoint_is_refused_without_running_code(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    torch.save({"schema_version": 2, "config": WritesAFile(target), "learner": {}}, tmp_path / "evil.pt")
    with pytest.raises(ValueError, match=r"refused, it holds a pickled object .*\(posix\.system\)"):
        load_checkpoint(tmp_path / "evil.pt")
    for command in ("eval", "deploy"):
        done = subprocess.run([CLI, command, f"checkpoint={tmp_path / 'evil.pt'}", f"out={tmp_path / 'out'}"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "refused" in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    assert not target.exists()
