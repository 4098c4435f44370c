"""`robolearn check` picks its episode count so that chance verdicts stay at 5% per entry (Monte Carlo)."""
from __future__ import annotations

import numpy as np
import pytest

from robolearn.check_stats import MIN_EPISODES, episodes_for, false_alarm_rate

TRIALS = 40_000


def verdict_rates(p_true_now: float, p_baseline: float, n: int, n_b: int, tolerance: float) -> float:
    """How often `check` fails an entry: binomial baseline and current estimates, fail if now < base - tol."""
    rng = np.random.default_rng(0)
    base = rng.binomial(n_b, p_baseline, TRIALS) / n_b
    now = rng.binomial(n, p_true_now, TRIALS) / n
    return float(np.mean(now < base - tolerance - 1e-12))


@pytest.mark.parametrize("p", [0.5, 0.8, 0.95])
def test_the_chosen_count_keeps_both_mistakes_near_five_percent(p: float) -> None:
    tolerance, n_b = 0.1, 200
    n = episodes_for(tolerance, {"reach/panda": p}, n_b)
    assert verdict_rates(p, p, n, n_b, tolerance) <= 0.07  # an unchanged policy fails rarely
    worse = max(0.0, p - 2 * tolerance)
    assert 1 - verdict_rates(worse, p, n, n_b, tolerance) <= 0.07  # one worse by twice the tolerance passes rarely
    assert false_alarm_rate(tolerance, p, n, n_b) <= 0.05 + 1e-9


def test_twenty_episodes_at_tolerance_point_one_is_a_noisy_gate() -> None:
    # The old default: an unchanged p=0.5 entry against a 50-episode baseline fails about one time in four.
    assert verdict_rates(0.5, 0.5, 20, 50, 0.1) > 0.15
    assert false_alarm_rate(0.1, 0.5, 20, 50) > 0.15


def test_impossible_requests_name_what_to_change() -> None:
    with pytest.raises(ValueError, match="tolerance=0.0"):
        episodes_for(0.0, {"a": 0.5}, 50)
    with pytest.raises(ValueError, match="measured on 50 episodes, too few for tolerance=0.1: .*robolearn eval episodes="):
        episodes_for(0.1, {"a": 0.5}, 50)
    assert episodes_for(0.1, {"a": 1.0}, 50) >= MIN_EPISODES  # a perfect entry is never assumed noise-free
