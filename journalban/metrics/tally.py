"""Counts and latencies from the agent's events, as a listener like the D-Bus layer.

The reason label is a fixed class: a manual ban's reason is the operator's
comment and a fleet ban's names its origin host, so those are labelled
``manual`` and ``fleet`` instead, and anything unknown ``other``.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from journalban.clock import Clock
from journalban.events import Ban
from journalban.jails.detector import REASONS

MANUAL_SOURCE = "manual"
FLEET_SOURCE = "fleet:"
UNBAN_REASONS = ("expired", "manual", "flush")
# From the failure's log time to the ban in the firewall: normally well under
# a second; a backlog read after a restart shows up in the upper buckets.
DETECTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
APPLY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def reason_class(ban: Ban) -> str:
    """The bounded reason label of a ban."""
    if ban.source == MANUAL_SOURCE:
        return "manual"
    if ban.source.startswith(FLEET_SOURCE):
        return "fleet"
    return ban.reason if ban.reason in REASONS else "other"


class EventTally:
    """An ``AgentListener`` (plus ``firewall_applied``) counting into ``registry``."""

    def __init__(self, registry: CollectorRegistry, clock: Clock) -> None:
        self._clock = clock
        self.decisions = Counter(
            "journalban_ban_decisions",
            "Bans decided (new or extended), by jail and reason class",
            ["jail", "reason"],
            registry=registry,
        )
        self.unbans = Counter(
            "journalban_unbans",
            "Bans lifted, by jail and why (expired, manual, flush)",
            ["jail", "reason"],
            registry=registry,
        )
        self.detection = Histogram(
            "journalban_detection_to_ban_seconds",
            "From the log time of the failure that decided a ban to the ban in the firewall",
            ["jail"],
            buckets=DETECTION_BUCKETS,
            registry=registry,
        )
        self.apply = Histogram(
            "journalban_firewall_apply_seconds",
            "Time the firewall backend took to apply one batch of bans and unbans",
            buckets=APPLY_BUCKETS,
            registry=registry,
        )
        self.reloads = Counter("journalban_reloads", "Configuration reloads", registry=registry)

    def banned(self, ban: Ban) -> None:
        reason = reason_class(ban)
        self.decisions.labels(ban.jail, reason).inc()
        if reason not in ("manual", "fleet"):
            # A ban from failures: banned_at is the log time of the deciding failure.
            self.detection.labels(ban.jail).observe(max(0.0, self._clock.now() - ban.banned_at))

    def banned_all(self, bans: Sequence[Ban]) -> None:
        """A run of bans: each (jail, reason) counted once, each detection time observed."""
        counts: dict[tuple[str, str], int] = {}
        now = self._clock.now()
        for ban in bans:
            reason = reason_class(ban)
            counts[(ban.jail, reason)] = counts.get((ban.jail, reason), 0) + 1
            if reason not in ("manual", "fleet"):
                self.detection.labels(ban.jail).observe(max(0.0, now - ban.banned_at))
        for (jail, reason), count in counts.items():
            self.decisions.labels(jail, reason).inc(count)

    def unbanned(self, ban: Ban, reason: str) -> None:
        self.unbans.labels(ban.jail, reason if reason in UNBAN_REASONS else "other").inc()

    def reloaded(self) -> None:
        self.reloads.inc()

    def status_changed(self, jails: Sequence[str]) -> None:
        """Counters are read at each scrape: nothing to do."""

    def firewall_applied(self, seconds: float) -> None:
        self.apply.observe(seconds)
