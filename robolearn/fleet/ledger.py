"""What every actor call produced, reported by the actor while it steps, not with its batch.

A batch that never arrives (its actor was killed mid-call, or the run ended with the call in
flight) still shows here, so the learner can account for every sample: produced = received +
lost with a killed actor + abandoned at the end, and every delivered call must hold exactly
what the ledger says it produced. It is a Ray actor of its own, which outlives any actor.
"""
from __future__ import annotations

CallKey = tuple[int, str, int]  # (actor index, incarnation, the call's batch number)


class ProductionLedger:
    def __init__(self) -> None:
        self.calls: dict[CallKey, list[int]] = {}  # -> [samples, episodes]

    def add(self, call: CallKey, samples: int, episodes: int) -> None:
        counts = self.calls.setdefault(call, [0, 0])
        counts[0] += samples
        counts[1] += episodes

    def snapshot(self) -> dict[CallKey, list[int]]:
        return {call: list(counts) for call, counts in self.calls.items()}


def settle(calls: dict[CallKey, list[int]], delivered: dict[CallKey, tuple[int, int]]) -> dict[str, int]:
    """Counters from the ledger (`calls`, in the order they started) against what arrived
    (`delivered`: samples and episodes per call received). An actor's last incarnation to
    start a call is the live one; its undelivered calls were abandoned at the end, an
    earlier incarnation's were lost when it was killed."""
    live = {actor: incarnation for actor, incarnation, _ in calls}  # the last to start wins
    out = {"samples_produced": 0, "episodes_produced": 0, "samples_lost_in_flight": 0, "samples_abandoned": 0,
           "calls_miscounted": 0}
    for call, (samples, episodes) in calls.items():
        out["samples_produced"] += samples
        out["episodes_produced"] += episodes
        if call in delivered:
            out["calls_miscounted"] += tuple(delivered[call]) != (samples, episodes)
        elif live.get(call[0]) == call[1]:
            out["samples_abandoned"] += samples
        else:
            out["samples_lost_in_flight"] += samples
    out["calls_miscounted"] += sum(1 for call in delivered if call not in calls)
    return out
