"""What the fleet task shows: ``journalban fleet`` and the D-Bus properties."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FleetStatus:
    """What ``journalban fleet`` and the D-Bus properties show."""

    name: str
    host: str
    connected: bool = False
    server: str = ""
    published: int = 0
    applied: int = 0
    lifted: int = 0
    withdrawn: int = 0  # fleet bans lifted as their message left the stream
    purged: int = 0  # expired bans this host deleted from the stream (fleet.purge)
    position: int = 0
    stream_last: int = 0
    outbox: int = 0
    clock_offset: float = 0.0
    clock_ok: bool = True
    last_error: str = ""
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        return max(0, self.stream_last - self.position)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["lag"] = self.lag
        return data
