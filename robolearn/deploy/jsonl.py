"""Append-only JSON-lines logs (commands.jsonl, safety.jsonl), flushed per row, safe across threads."""
from __future__ import annotations

import json
import threading
from pathlib import Path


class JsonlLog:
    """A callable sink: `log(row)` appends one line. Transport threads log input faults and
    e-stop events while the control loop logs decisions, hence the lock."""

    def __init__(self, path: str | Path):
        self.file = open(path, "a")
        self.lock = threading.Lock()

    def __call__(self, row: dict) -> None:
        with self.lock:
            if self.file is not None:
                self.file.write(json.dumps(row) + "\n")
                self.file.flush()

    def close(self) -> None:
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None
