"""A latched e-stop: once engaged, only the operator releases it.

Engage sources: the operator's key, the e-stop topic (`true`), and a lost heartbeat (an
optional topic that an e-stop device or supervisor publishes on; silence for longer than
`heartbeat_timeout` engages). A `false` on the e-stop topic only says the topic's own
source is no longer active; it never releases the latch, so a bridge that keeps
publishing `false` cannot undo an e-stop. Release comes from the operator's key or an
explicit message on the reset topic, and is refused while any engage source is active.
"""
from __future__ import annotations

from typing import Callable

SOURCES = ("key", "topic", "heartbeat")


class EStop:
    def __init__(self, heartbeat_timeout: float | None, log: Callable[[dict], None]):
        self.heartbeat_timeout = heartbeat_timeout  # None: no heartbeat topic
        self.log = log
        self.latched = False
        self.topic_active = False
        self.last_heartbeat: float | None = None  # first heartbeat arms the watchdog

    def engage(self, source: str, now: float) -> None:
        if source not in SOURCES:
            raise ValueError(f"e-stop source {source!r}; allowed: {', '.join(SOURCES)}")
        if not self.latched:
            self.log({"t": now, "estop": "engaged", "source": source})
        self.latched = True

    def on_topic(self, engaged: bool, now: float) -> None:
        self.topic_active = engaged
        if engaged:
            self.engage("topic", now)

    def on_heartbeat(self, now: float) -> None:
        self.last_heartbeat = now

    def active_sources(self, now: float) -> list[str]:
        active = ["topic"] if self.topic_active else []
        if self.heartbeat_lost(now):
            active.append("heartbeat")
        return active

    def heartbeat_lost(self, now: float) -> bool:
        if self.heartbeat_timeout is None:
            return False
        # Before the first heartbeat the device is not known to be alive: that counts as lost.
        return self.last_heartbeat is None or now - self.last_heartbeat > self.heartbeat_timeout

    def engaged(self, now: float) -> bool:
        """Hold? Latched, or waiting for the first heartbeat (which does not latch: a cell
        starts up before its e-stop device; a heartbeat lost after it was seen does)."""
        if self.heartbeat_lost(now):
            if self.last_heartbeat is None:
                return True
            self.engage("heartbeat", now)
        return self.latched

    def release(self, by: str, now: float) -> bool:
        """Release by the operator (`by`: key | reset_topic); refused while a source is active."""
        active = self.active_sources(now)
        if active:
            self.log({"t": now, "estop": "release refused", "by": by, "active": active})
            return False
        if self.latched:
            self.log({"t": now, "estop": "released", "by": by})
        self.latched = False
        return True
