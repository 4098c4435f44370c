"""How many evaluation episodes `robolearn check` needs for its verdict to mean something.

An entry regresses when its success falls below the baseline's by more than `tolerance`.
Both successes are binomial estimates, so an unchanged policy can fail by chance and a
regressed one can pass. With n episodes now and n_b in the baseline, the difference has
variance v_now/n + v_b/n_b (v = p(1-p), v_now the largest over the successes from the
baseline's down to twice the tolerance below it); choosing n so that `tolerance` is `Z`
standard errors keeps either mistake (an unchanged policy failing, or a policy worse by twice
the tolerance passing) at or below 5% per entry (normal approximation).
"""
from __future__ import annotations

import math

from scipy.stats import norm

Z = 1.645  # one-sided 95%
MIN_VARIANCE = 0.95 * 0.05  # an entry measured at 0 or 1 may still be 0.95: never assume no variance
MIN_EPISODES = 20


def entry_variance(p: float) -> float:
    return max(p * (1.0 - p), MIN_VARIANCE)


def worst_variance(p: float, tolerance: float) -> float:
    """The largest p(1-p) between p - 2 tolerance (a clear regression) and p."""
    low = max(0.0, p - 2 * tolerance)
    return entry_variance(0.5) if low <= 0.5 <= p else max(entry_variance(low), entry_variance(p))


def episodes_for(tolerance: float, baseline: dict[str, float], baseline_episodes: int | None) -> int:
    """Episodes per entry that keep the per-entry error rates at 5%; ValueError when no number
    can (a zero tolerance, or a baseline measured on too few episodes)."""
    if tolerance <= 0:
        raise ValueError(f"tolerance={tolerance}: the episode count is chosen from a tolerance > 0; "
                         "for an exact check give episodes=N")
    budget = (tolerance / Z) ** 2  # the largest variance of the difference
    needed = MIN_EPISODES
    for p in baseline.values():
        room = budget - (entry_variance(p) / baseline_episodes if baseline_episodes else 0.0)
        if room <= 0:
            again = math.ceil(2 * entry_variance(p) / budget)
            raise ValueError(f"the baseline was measured on {baseline_episodes} episodes, too few for "
                             f"tolerance={tolerance}: measure it again with `robolearn eval episodes={again} out=...` "
                             "(or give episodes=N)")
        needed = max(needed, math.ceil(worst_variance(p, tolerance) / room))
    return needed


def false_alarm_rate(tolerance: float, p: float, episodes: int, baseline_episodes: int | None) -> float:
    """The chance that an unchanged policy with success p fails the entry (normal approximation)."""
    variance = entry_variance(p) / episodes + (entry_variance(p) / baseline_episodes if baseline_episodes else 0.0)
    return float(norm.sf(tolerance / math.sqrt(variance)))
