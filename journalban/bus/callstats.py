"""Counts of the method calls the bus layer answered, for the metrics to read.

One agent process has one bus connection, so one process-wide tally; keys
are fixed method names (anything else is counted as ``other``), so the set
stays bounded whatever callers send.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

# Properties, introspection and peer calls (answered by dbus-fast once authorised).
STANDARD_MEMBERS = frozenset(
    {"Get", "GetAll", "Set", "Introspect", "Ping", "GetMachineId", "GetManagedObjects"}
)


@dataclass
class CallStats:
    """Calls and their summed seconds by (method, outcome: ok, denied or error)."""

    known: frozenset[str] = frozenset()
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def record(self, method: str, outcome: str, seconds: float) -> None:
        name = method if method in self.known else "other"
        self.calls[(name, outcome)] += 1
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


CALLS = CallStats()
