"""The read-only half of AgentControl: what controllers can ask the running agent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from journalban.addresses import IPNetwork
from journalban.agent.api import JailInfo, JailStatus, LineTest, RecentFailure
from journalban.decisions.engine import RECIDIVE
from journalban.decisions.failureview import recent_failures
from journalban.errors import JournalbanError, LineTestError, NoSuchJail, NotBanned
from journalban.events import Ban
from journalban.firewall.base import JailCounters

if TYPE_CHECKING:
    from journalban.actions.runner import ActionRunner
    from journalban.agent.build import JailParts
    from journalban.agent.callers import CommandRecord
    from journalban.agent.callerstore import BanCallers
    from journalban.agent.linetest import LineTester
    from journalban.agent.logs import EventLog
    from journalban.clock import Clock
    from journalban.config.schema import Config
    from journalban.decisions.engine import DecisionEngine
    from journalban.firewall.base import FirewallBackend
    from journalban.state.store import StateStore

MAX_TEST_LINE = 65536


class AgentQueries:
    """Answers about jails, bans and lines; mixed into ``Agent``."""

    parts: dict[str, JailParts]
    config: Config
    decisions: DecisionEngine
    backend: FirewallBackend
    runner: ActionRunner
    store: StateStore
    clock: Clock
    line_tester: LineTester
    events: EventLog
    ban_callers: BanCallers

    def jails(self) -> list[JailInfo]:
        out = []
        for name, part in self.parts.items():
            cfg = part.config
            if cfg.source == "journal":
                groups = cfg.journal_match or part.compiled.fdef.journal_match
                sources = tuple(" ".join(f"{k}={v}" for k, v in g) for g in groups)
            else:
                sources = cfg.files
            out.append(
                JailInfo(
                    name,
                    cfg.enabled,
                    cfg.filter,
                    sources,
                    tuple(cfg.port.split(",")),
                    cfg.protocols,
                    cfg.maxretry,
                    cfg.findtime,
                    cfg.bantime,
                )
            )
        if self.config.recidive.enabled:
            rec = self.config.recidive
            out.append(
                JailInfo(
                    RECIDIVE,
                    True,
                    RECIDIVE,
                    ("journalban's own bans",),
                    ("all",),
                    ("tcp", "udp", "udplite", "sctp"),
                    rec.maxretry,
                    rec.findtime,
                    rec.bantime,
                )
            )
        return out

    def _counters(self) -> dict[str, JailCounters]:
        try:
            return self.backend.counters()
        except JournalbanError:
            return {}

    def jail_status(self, jail: str) -> JailStatus:
        rt = self.decisions.jails.get(jail)
        if rt is None and not (jail == RECIDIVE and self.config.recidive.enabled):
            raise NoSuchJail(jail)
        counters = self._counters().get(jail, JailCounters())
        banned = self.decisions.count_bans(jail)
        errors = self.runner.jail_stats().get(jail)
        if rt is None:
            total_banned = self.store.counters().get(RECIDIVE, (0, 0))[1]
            return JailStatus(currently_banned=banned, total_banned=total_banned,
                              dropped_packets=counters.packets, dropped_bytes=counters.bytes)  # fmt: skip
        return JailStatus(
            currently_failed=rt.counter.currently_failed,
            total_failed=rt.total_failed,
            currently_banned=banned,
            total_banned=rt.total_banned,
            dropped_packets=counters.packets,
            dropped_bytes=counters.bytes,
            evicted=rt.counter.evicted,
            lines_read=rt.lines_read,
            lines_unreadable=rt.lines_unreadable,
            lines_truncated=rt.lines_truncated,
            action_errors=errors.errors if errors is not None else 0,
        )

    def banned_count(self) -> int:
        return self.decisions.count_bans()

    def banned_prefix_count(self) -> int:
        return self.decisions.count_prefix_bans()

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        if jail is not None and jail not in self.parts and jail != RECIDIVE:
            raise NoSuchJail(jail)
        return self.decisions.list_bans(jail)

    def active_bans(self) -> list[Ban]:
        return list(self.decisions.bans.values())

    def query_ban(self, network: IPNetwork) -> list[Ban]:
        return self.decisions.covering(network)

    async def test_line(self, jail: str, line: str, caller: str = "") -> LineTest:
        part = self.parts.get(jail)
        if part is None:
            raise NoSuchJail(jail)
        if len(line.encode(errors="replace")) > MAX_TEST_LINE:
            raise LineTestError("line longer than 64 KiB")
        return await self.line_tester.test(part.spec, line, caller)

    def ban_details(self, network: IPNetwork, jail: str) -> dict[str, object]:
        ban = self.decisions.bans.get((jail, network))
        if ban is None:
            if jail not in self.parts and jail != RECIDIVE:
                raise NoSuchJail(jail)
            raise NotBanned(f"{network} is not banned in {jail}")
        return {
            "failures": ban.failures,
            "source": ban.source,
            "lines": list(self.decisions.unsaved_lines(ban) or self.store.ban_lines(jail, network)),
            "banned_at": ban.banned_at,
            "expires_at": ban.expires_at,
            "ban_count": ban.ban_count,
            "reason": ban.reason,
            # The account a detector banned for: for managers only (often a mistyped password).
            "account": ban.account or self.store.ban_account(jail, network) or "",
            **_caller_details(
                self.events.commands.ban_caller(jail, ban.address)
                or self.ban_callers.caller(jail, network, ban.banned_at)
            ),
        }

    def recent_commands(self) -> list[CommandRecord]:
        return self.events.commands.recent()

    def recent_failures(self, jail: str) -> list[RecentFailure]:
        rt = self.decisions.jails.get(jail)
        if rt is None:
            if jail == RECIDIVE and self.config.recidive.enabled:
                return []  # recidive counts bans, not lines
            raise NoSuchJail(jail)
        return [RecentFailure(*row) for row in recent_failures(rt, self.clock.now())]


def _caller_details(caller: object) -> dict[str, object]:
    """``caller_uid``/``caller_name`` of a ban made by hand through D-Bus (nothing otherwise)."""
    from journalban.agent.callers import Caller

    if not isinstance(caller, Caller):
        return {}
    out: dict[str, object] = {"caller_name": caller.bus_name}
    if caller.uid is not None:
        out["caller_uid"] = caller.uid
    return out
