"""The agent's counters and settings, read from ``AgentControl`` at each scrape.

Names follow the fail2ban exporter where one exists (``f2b_jail_failed_current``,
``f2b_jail_banned_total``, ``f2b_jail_config_ban_time``...), so dashboards
made for fail2ban keep working; what it does not have is ``journalban_*``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from journalban.agent.api import AgentControl, JailInfo

STATES = ("starting", "running", "reloading", "degraded")


def source_kind(info: JailInfo) -> str:
    """The ``source`` label: ``journal``, ``file`` or ``journal+file`` (never a path)."""
    kinds = sorted({"file" if s.startswith("/") else "journal" for s in info.sources})
    return "+".join(kinds) or "none"


class AgentCollector(Collector):
    """Yields the metric families of one agent; keeps no state of its own."""

    def __init__(self, control: AgentControl) -> None:
        self._control = control

    def collect(self) -> Iterator[Metric]:
        control = self._control
        jails = control.jails()
        up = GaugeMetricFamily("f2b_up", "1 when the agent answers (always 1 from the agent)")
        up.add_metric([], 1)
        yield up
        # The fail2ban exporter's f2b_jail_count fails promtool's lint (a _count
        # suffix outside a histogram or summary): journalban_jails instead.
        yield GaugeMetricFamily("journalban_jails", "Jails configured", value=len(jails))
        state = GaugeMetricFamily("journalban_state", "The agent's state (1 for the current one)",
                                  labels=["state"])  # fmt: skip
        for name in STATES:
            state.add_metric([name], 1 if control.state == name else 0)
        yield state
        yield GaugeMetricFamily(
            "journalban_bans_active", "Active bans in every jail", value=control.banned_count()
        )
        yield from self._jails(jails)
        yield from self._fleet()
        yield from _bus_calls()

    def _jails(self, jails: list[JailInfo]) -> Iterator[Metric]:
        j = ["jail"]
        js = ["jail", "source"]
        fam: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
            "failed_current": GaugeMetricFamily(
                "f2b_jail_failed_current", "Addresses with failures being counted", labels=j
            ),
            "failed_total": CounterMetricFamily(
                "f2b_jail_failed", "Failures matched since the jail was created", labels=j
            ),
            "banned_current": GaugeMetricFamily("f2b_jail_banned_current", "Active bans", labels=j),
            "banned_total": CounterMetricFamily(
                "f2b_jail_banned", "Bans since the jail was created", labels=j
            ),
            "ban_time": GaugeMetricFamily(
                "f2b_jail_config_ban_time", "bantime in seconds (-1: permanent)", labels=j
            ),
            "find_time": GaugeMetricFamily(
                "f2b_jail_config_find_time", "findtime in seconds", labels=j
            ),
            "fail_max": GaugeMetricFamily("f2b_jail_config_fail_max", "maxretry", labels=j),
            "enabled": GaugeMetricFamily("journalban_jail_enabled", "1 when enabled", labels=j),
            "read": CounterMetricFamily(
                "journalban_lines_read", "Log lines read, by jail and source kind", labels=js
            ),
            "unreadable": CounterMetricFamily(
                "journalban_lines_unreadable",
                "Lines not UTF-8 (matched with the bad bytes replaced) and journal entries"
                " that could not be parsed (skipped)",
                labels=js,
            ),
            "truncated": CounterMetricFamily(
                "journalban_lines_truncated", "Lines cut at the line length limit", labels=js
            ),
            "dropped": CounterMetricFamily(
                "journalban_dropped_packets", "Packets the firewall dropped for bans", labels=j
            ),
            "dropped_bytes": CounterMetricFamily(
                "journalban_dropped_bytes", "Bytes the firewall dropped for bans", labels=j
            ),
            "action_errors": CounterMetricFamily(
                "journalban_action_errors", "Actions that failed", labels=j
            ),
        }
        for info in jails:
            s = self._control.jail_status(info.name)
            name, by_source = [info.name], [info.name, source_kind(info)]
            fam["failed_current"].add_metric(name, s.currently_failed)
            fam["failed_total"].add_metric(name, s.total_failed)
            fam["banned_current"].add_metric(name, s.currently_banned)
            fam["banned_total"].add_metric(name, s.total_banned)
            fam["ban_time"].add_metric(name, -1 if info.bantime is None else info.bantime)
            fam["find_time"].add_metric(name, info.findtime)
            fam["fail_max"].add_metric(name, info.maxretry)
            fam["enabled"].add_metric(name, 1 if info.enabled else 0)
            fam["read"].add_metric(by_source, s.lines_read)
            fam["unreadable"].add_metric(by_source, s.lines_unreadable)
            fam["truncated"].add_metric(by_source, s.lines_truncated)
            fam["dropped"].add_metric(name, s.dropped_packets)
            fam["dropped_bytes"].add_metric(name, s.dropped_bytes)
            fam["action_errors"].add_metric(name, s.action_errors)
        yield from fam.values()

    def _fleet(self) -> Iterator[Metric]:
        status = self._control.fleet_status()
        if not status:
            return  # no fleet on this host: no fleet metrics rather than zeros
        yield GaugeMetricFamily(
            "journalban_fleet_lag_messages",
            "Messages of the fleet's stream not applied here yet",
            value=int(status.get("lag", 0)),
        )
        yield GaugeMetricFamily(
            "journalban_fleet_connected",
            "1 when connected to a fleet server",
            value=1 if status.get("connected") else 0,
        )
        yield GaugeMetricFamily(
            "journalban_fleet_outbox", "Bans committed and not yet published",
            value=int(status.get("outbox", 0)),
        )  # fmt: skip


def _bus_calls() -> Iterator[Metric]:
    """The D-Bus layer's tally (by method, a fixed set; ``other`` for the rest)."""
    from journalban.bus.callstats import CALLS  # stdlib only; empty without the bus

    calls = CounterMetricFamily(
        "journalban_dbus_calls", "D-Bus method calls answered, by method and outcome",
        labels=["method", "outcome"],
    )  # fmt: skip
    for (method, outcome), count in sorted(CALLS.calls.items()):
        calls.add_metric([method, outcome], count)
    yield calls
    seconds = CounterMetricFamily(
        "journalban_dbus_call_seconds", "Time spent answering D-Bus calls, by method",
        labels=["method"],
    )  # fmt: skip
    for method, total in sorted(CALLS.seconds.items()):
        seconds.add_metric([method], total)
    yield seconds
