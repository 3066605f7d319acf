"""TCP wrappers: bans as a pattern file that ``/etc/hosts.deny`` points to.

hosts_access(5) reads a pattern starting with ``/`` as a file of address
patterns separated by white space, so the admin (or the package) installs one
static line in ``/etc/hosts.deny``::

    ALL: /var/lib/journalban/hosts.deny

and the agent rewrites that file in its state directory, atomically (a
temporary file renamed over it), on each batch; ``/etc`` stays read-only.

The pattern file cannot carry comments (libwrap reads it token by token), so
which jail banned what, and until when, is kept beside it in
``hosts.deny.json``; both are rewritten on each batch and ``list`` reads them.
TCP wrappers have no timeouts: the agent expires bans by calling ``apply``
with removals, and every batch also drops what has expired by then.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from journalban.addresses import IPNetwork
from journalban.errors import BackendError
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    reconcile_by_listing,
)
from journalban.firewall.base import reconcile_diff as _diff
from journalban.firewall.filestate import applied, read_bans, replace_file, unexpired, write_bans

log = logging.getLogger("journalban.firewall.hostsdeny")

DENY_FILE: Final = "hosts.deny"
STATE_FILE: Final = "hosts.deny.json"
ETC_HOSTS_DENY: Final = Path("/etc/hosts.deny")


def format_pattern(network: IPNetwork) -> str:
    """The hosts_access(5) pattern for an address or prefix.

    IPv4 prefixes use the ``net/mask`` form every libwrap understands; IPv6
    goes in brackets, as ``[2001:db8::]/64`` for a prefix.
    """
    if network.version == 4:
        if network.prefixlen == 32:
            return str(network.network_address)
        return f"{network.network_address}/{network.netmask}"
    if network.prefixlen == 128:
        return f"[{network.network_address}]"
    return f"[{network.network_address}]/{network.prefixlen}"


def parse_pattern(token: str) -> IPNetwork:
    """The network a pattern written by ``format_pattern`` (or ``n.n.n.n/mm``) stands for.

    Raises:
        ValueError: not an address pattern.
    """
    if token.startswith("["):
        address, _, rest = token[1:].partition("]")
        length = rest.removeprefix("/") if rest.startswith("/") else "128"
        if rest and not rest.startswith("/"):
            raise ValueError(f"not an address pattern: {token!r}")
        return ipaddress.IPv6Network(f"{address}/{length}")
    return ipaddress.IPv4Network(token)


def static_line(deny_file: Path) -> str:
    """The one line ``/etc/hosts.deny`` needs for journalban's bans to count."""
    return f"ALL: {deny_file}"


def check_etc_hosts_deny(deny_file: Path, etc_file: Path = ETC_HOSTS_DENY) -> str | None:
    """None when ``etc_file`` refers every service to ``deny_file``; else what is wrong."""
    try:
        text = etc_file.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"cannot read {etc_file}: {exc.strerror}; add the line {static_line(deny_file)!r}"
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        daemons, sep, clients = line.partition(":")
        if sep and daemons.strip() == "ALL" and str(deny_file) in clients.split():
            return None
    return f"{etc_file} lacks the line {static_line(deny_file)!r}: bans would not be enforced"


class HostsDenyBackend:
    """Bans as a hosts_access(5) pattern file, for services linked with libwrap."""

    name = "hosts-deny"

    def __init__(self, state_dir: Path, etc_file: Path = ETC_HOSTS_DENY) -> None:
        self.deny_file = state_dir / DENY_FILE
        self.state_file = state_dir / STATE_FILE
        self.etc_file = etc_file
        self.jails: dict[str, JailRules] = {}

    def setup(self, jails: Sequence[JailRules]) -> None:
        self.jails = {j.name: j for j in jails}
        problem = check_etc_hosts_deny(self.deny_file, self.etc_file)
        if problem:
            log.warning("%s", problem)
        kept = [e for e in read_bans(self.state_file) if e.jail in self.jails]
        self._write(kept)

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        self._write(applied(self.state_file, add, remove, now))

    def list(self, now: float) -> list[BanEntry]:
        """The bans the pattern file holds, with jail and expiry from the state beside it."""
        try:
            listed = set(self.deny_file.read_text(encoding="utf-8").split())
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BackendError(f"cannot read {self.deny_file}: {exc}", exc.errno) from exc
        return [
            e
            for e in unexpired(read_bans(self.state_file), now)
            if format_pattern(e.network) in listed
        ]

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        return reconcile_by_listing(self, wanted, now, _diff)

    def intact(self) -> bool:
        """False when the pattern file no longer says what the state says."""
        try:
            text = self.deny_file.read_text(encoding="utf-8")
        except OSError:
            return False
        return text == _render(read_bans(self.state_file))

    def counters(self) -> dict[str, JailCounters]:
        # libwrap counts nothing; the services log their refusals themselves.
        return {name: JailCounters() for name in self.jails}

    def teardown(self) -> None:
        for path in (self.deny_file, self.state_file):
            path.unlink(missing_ok=True)
        self.jails = {}

    def _write(self, entries: Iterable[BanEntry]) -> None:
        ordered = sorted(entries, key=lambda e: (e.network.version, e.network, e.jail))
        # State first: a crash in between leaves a pattern file that intact() flags.
        write_bans(self.state_file, ordered)
        replace_file(self.deny_file, _render(ordered), shared=True)


def _render(entries: Iterable[BanEntry]) -> str:
    patterns = dict.fromkeys(format_pattern(e.network) for e in entries)
    return "".join(f"{p}\n" for p in patterns)
