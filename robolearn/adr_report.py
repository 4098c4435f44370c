"""ADR visibility: metrics for the logger, a history file in the run directory, and its plot.

Training appends one JSON line per report to `<run>/adr.jsonl` ({"step", "entropy",
"ranges": {name: [low, high]}}); `robolearn adr plot run=<run>` draws it.
"""
from __future__ import annotations

import json
from pathlib import Path

from robolearn.logger import Logger
from robolearn.sims.randomization import ADR, DR_PARAMS

HISTORY_NAME = "adr.jsonl"
PLOT_NAME = "adr_ranges.png"
REPORT_EVERY = 1000  # env steps between ADR range reports


def adr_metrics(adr: ADR) -> dict[str, float]:
    metrics = {"adr/entropy": adr.entropy()}
    for name, (low, high) in adr.ranges.items():
        metrics[f"adr/{name}/low"], metrics[f"adr/{name}/high"] = low, high
    return metrics


def report_when_due(adr: ADR, logger: Logger, run_dir: Path, before: int, after: int) -> None:
    """Log the ranges and append them to the history each time the env-step count crosses a
    multiple of `REPORT_EVERY` (going from `before` to `after`)."""
    if after // REPORT_EVERY > before // REPORT_EVERY:
        logger.log(adr_metrics(adr), after)
        append_history(run_dir, adr, after)


def append_history(run_dir: Path, adr: ADR, step: int) -> None:
    with open(run_dir / HISTORY_NAME, "a") as f:
        f.write(json.dumps({"step": step, "entropy": adr.entropy(), "ranges": adr.ranges}) + "\n")


def read_history(run_dir: Path) -> list[dict]:
    path = Path(run_dir) / HISTORY_NAME
    if not path.is_file():
        raise FileNotFoundError(f"run={run_dir}: no {HISTORY_NAME} (was it trained with adr=adr?)")
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                # A run killed mid-write leaves a partial last line; everything before it is kept.
                if line.endswith("\n"):
                    raise ValueError(f"{path}:{number}: not a JSON line") from None
    if not rows:
        raise ValueError(f"{path}: empty")
    return rows


def plot_history(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """One panel per parameter (its range over training, hard bounds dashed) plus the entropy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_history(Path(run_dir))
    names = list(rows[-1]["ranges"])
    cols = 4
    n_panels = len(names) + 1
    fig, axes = plt.subplots((n_panels + cols - 1) // cols, cols, figsize=(4 * cols, 2.6 * ((n_panels + cols - 1) // cols)),
                             squeeze=False)
    steps = [r["step"] for r in rows]
    flat = axes.ravel()
    flat[0].plot(steps, [r["entropy"] for r in rows], color="black")
    flat[0].set_title("ADR entropy (nats/dim)")
    for ax, name in zip(flat[1:], names):
        low = [r["ranges"][name][0] for r in rows]
        high = [r["ranges"][name][1] for r in rows]
        ax.fill_between(steps, low, high, alpha=0.4)
        ax.plot(steps, low, steps, high, color="tab:blue")
        param = DR_PARAMS[name]
        for bound in (param.low, param.high):
            ax.axhline(bound, color="grey", linestyle="--", linewidth=0.8)
        ax.set_title(name)
    for ax in flat[n_panels:]:
        ax.axis("off")
    for ax in flat[:n_panels]:
        ax.set_xlabel("env steps", fontsize=8)
    fig.tight_layout()
    path = Path(out) if out else Path(run_dir) / PLOT_NAME
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
