"""What the running agent offers to its controllers (the D-Bus layer, tests).

The bus layer converts D-Bus arguments and calls these; the core never
imports the bus. Addresses are ``IPNetwork`` (a single address is a /32 or
/128), times are epoch seconds, durations seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from journalban.addresses import IPNetwork
from journalban.events import Ban

if TYPE_CHECKING:
    from journalban.agent.callers import CommandRecord
    from journalban.decisions.detectionview import DetectionView


@dataclass(frozen=True, slots=True)
class JailInfo:
    """A jail's configuration as controllers see it."""

    name: str
    enabled: bool
    filter: str
    sources: tuple[str, ...]  # journal match groups as "F=v F=v", or file globs
    ports: tuple[str, ...]  # as configured: "ssh", "80", "8000-8100", "all"
    protocols: tuple[str, ...]
    maxretry: int
    findtime: float
    bantime: float | None  # None: permanent


@dataclass(frozen=True, slots=True)
class JailStatus:
    """A jail's counters."""

    currently_failed: int = 0
    total_failed: int = 0
    currently_banned: int = 0
    total_banned: int = 0
    dropped_packets: int = 0
    dropped_bytes: int = 0
    evicted: int = 0
    lines_read: int = 0
    lines_unreadable: int = 0
    lines_truncated: int = 0
    action_errors: int = 0


@dataclass(frozen=True, slots=True)
class RecentFailure:
    """A network with failures counted and no ban yet: how many within findtime, the
    last one's time, and the lines kept for it (user names: for ``manage`` callers)."""

    network: str
    failures: int
    last_at: float
    lines: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LineTest:
    """The outcome of testing one line against a jail's filter."""

    matched: bool
    address: str = ""
    captures: Mapping[str, str] = field(default_factory=dict)


class AgentListener(Protocol):
    """Receives what the agent does, as it happens (signals on the bus)."""

    def banned(self, ban: Ban) -> None: ...

    def unbanned(self, ban: Ban, reason: str) -> None: ...

    def reloaded(self) -> None: ...

    def status_changed(self, jails: Sequence[str]) -> None:
        """Counters of these jails changed (coalesce before announcing)."""
        ...


class AgentControl(Protocol):
    """The operations the D-Bus API maps onto.

    Errors raised: ``NoSuchJail``, ``AddressError`` (invalid), ``AddressIgnored``,
    ``NotBanned``, ``BackendError``, ``ConfigError`` (from reload).
    """

    version: str
    backend_name: str
    started_at: float

    @property
    def state(self) -> str:
        """starting, running, reloading or degraded."""
        ...

    def jails(self) -> list[JailInfo]: ...

    def jail_status(self, jail: str) -> JailStatus: ...

    def list_bans(self, jail: str | None = None) -> list[Ban]: ...

    def active_bans(self) -> list[Ban]:
        """Every ban held, in no order (GetBans sorts them itself, in slices).

        Unlike ``list_bans`` it neither sorts nor filters: a ban that ran out
        a moment ago is there until the expiry chore lifts it and says so.
        """
        ...

    def banned_count(self) -> int:
        """How many bans are active (without building the list)."""
        ...

    def banned_prefix_count(self) -> int:
        """How many active bans are of prefixes (``addresses.is_prefix``), without a scan."""
        ...

    def query_ban(self, network: IPNetwork) -> list[Ban]:
        """Bans covering ``network`` (an address inside a banned prefix counts)."""
        ...

    async def ban(
        self,
        jail: str,
        network: IPNetwork,
        duration: float | None = None,
        *,
        permanent: bool = False,
        comment: str = "",
        force: bool = False,
    ) -> Ban:
        """Ban by hand; ``duration`` None is the jail's bantime. The expiry only grows."""
        ...

    async def unban(
        self, network: IPNetwork, jail: str | None = None, reason: str = "manual"
    ) -> int:
        """Lift bans of ``network`` (in every jail when ``jail`` is None); how many."""
        ...

    async def unban_all(self, jail: str | None = None) -> int: ...

    async def unban_fleet(self, network: IPNetwork, jail: str | None = None) -> int:
        """Lift ``network`` here and publish the unban to the fleet; how many lifted here.

        Raises ``FleetUnavailable`` (a ``JournalbanError``) without a fleet.
        """
        ...

    def fleet_status(self) -> dict[str, Any]:
        """The fleet's status (``journalban.fleet.status.FleetStatus``); empty without one."""
        ...

    async def reload(self) -> None: ...

    async def test_line(self, jail: str, line: str, caller: str = "") -> LineTest:
        """``line`` through ``jail``'s filter, off the event loop and under a time limit.

        ``caller`` names who asked (a uid) for the rate limit. Raises
        ``LineTestTimeout``, ``RateLimited`` (``LineTestError``) besides ``NoSuchJail``.
        """
        ...

    def ban_details(self, network: IPNetwork, jail: str) -> dict[str, object]:
        """Failures, source and matched lines of an active ban (for ``manage`` callers).

        A ban made by hand through D-Bus also names its caller (``caller_uid``, ``caller_name``).
        """
        ...

    def recent_commands(self) -> list[CommandRecord]:
        """The last commands D-Bus callers gave (who, what, when), oldest first."""
        ...

    def recent_failures(self, jail: str) -> list[RecentFailure]:
        """The networks with failures most recently counted in ``jail`` and no ban yet,
        newest first (at most ``RECENT_FAILURES``). Raises: NoSuchJail."""
        ...

    def subscribe(self, listener: AgentListener) -> Callable[[], None]:
        """Register a listener; returns the function that removes it."""
        ...

    @property
    def detection_view(self) -> DetectionView:
        """What the detectors know, read-only (known-good pairs, accounts under attack)."""
        ...

    async def forget_known_good(self, jail: str | None, what: str) -> int:
        """Forget the known-good pairs of an account, or of an address or network
        (every jail when ``jail`` is None); how many. Raises: NoSuchJail."""
        ...

    async def end_account_attack(self, jail: str | None, account: str) -> int:
        """End an account's attack state (every jail when None); in how many jails."""
        ...
