"""Control-loop latency percentiles over a bounded window of recent ticks."""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

# Percentiles over the most recent ticks only: a loop that runs for days keeps constant memory
# (100,000 ticks: 83 min at 20 Hz).
LATENCY_WINDOW = 100_000


def _window() -> deque[float]:
    return deque(maxlen=LATENCY_WINDOW)


def percentile_ms(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q) * 1000) if values else float("nan")


@dataclass
class Latency:
    """Per tick, in s: the loop's own time (state receipt -> command sent, and tick start ->
    command sent) apart from the transport's (the state's header stamp -> its receipt); per
    camera frame, its header stamp -> decoded into the policy's frame."""
    loop: deque[float] = field(default_factory=_window)
    compute: deque[float] = field(default_factory=_window)
    transport: deque[float] = field(default_factory=_window)
    frames: deque[float] = field(default_factory=_window)
    ticks: int = 0
    overruns: int = 0

    def add_tick(self, loop: float, compute: float) -> None:
        self.loop.append(loop)
        self.compute.append(compute)
        self.ticks += 1

    def summary(self) -> str:
        parts = [f"{name} p50 {percentile_ms(v, 50):.2f} p99 {percentile_ms(v, 99):.2f} max {percentile_ms(v, 100):.2f} ms"
                 for name, v in (("loop", self.loop), ("transport", self.transport), ("frames", self.frames)) if v]
        window = f" (the last {len(self.loop)})" if self.ticks > len(self.loop) else ""
        return f"latency over {self.ticks} ticks{window}: {'; '.join(parts)}; overruns {self.overruns}"
