"""iptables/ip6tables with ipset sets, for hosts still on iptables.

Per jail and family one ``hash:net`` set with timeout support holds the bans;
its members are added and removed over netlink (pyroute2's ``IPSet``), so a
ban never costs a process. The rules that match the sets are written once, at
``setup``, with the ``iptables``/``ip6tables`` commands into a chain of our own
(``journalban``), jumped to from the hook chain (INPUT, or FORWARD for hosts that
route to their services): a reload flushes and rewrites only that chain.

Kernel timeouts let bans expire while the agent is down; ipset caps an
element's timeout at 2147483 s (about 24.8 days), so longer and permanent bans
are stored as permanent (timeout 0) only when permanent, and longer bans are
capped and refreshed by the agent's reconcile.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import shlex
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Final

from pyroute2.ipset import IPSet
from pyroute2.netlink.exceptions import NetlinkError

from journalban.addresses import IPNetwork
from journalban.errors import BackendError, DumpInterrupted
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    reconcile_by_listing,
)
from journalban.firewall.ports import format_multiport
from journalban.netlinkdump import NLM_F_DUMP_INTR, retried

log = logging.getLogger("journalban.firewall.ipset")

CHAIN: Final = "journalban"
SET_PREFIX: Final = "jban-"
MAX_TIMEOUT: Final = 2147483  # (UINT_MAX >> 1) / 1000, the kernel's IPSET_MAX_TIMEOUT
COMMAND_TIMEOUT: Final = 30.0
_FAMILIES: Final = ((4, socket.AF_INET), (6, socket.AF_INET6))
_LIST_SETNAME: Final = 1 << 1  # IPSET_FLAG_LIST_SETNAME
_COUNTER_LINE: Final = re.compile(r"-c (\d+) (\d+)")


def set_name(jail: str, version: int) -> str:
    """The ipset name of a jail's set for IP ``version``; ipset allows 31 characters."""
    tag = jail
    if len(SET_PREFIX) + len(jail) + 2 > 31:
        digest = hashlib.sha256(jail.encode()).hexdigest()[:8]
        tag = f"{jail[:15]}~{digest}"
    return f"{SET_PREFIX}{tag}-{version}"


def build_rules(jail: JailRules, version: int, verdict: str) -> list[list[str]]:
    """The ``iptables -A journalban ...`` argument lists for one jail and family.

    One rule per protocol (and per 15 ports, multiport's limit); a jail with
    all ports matches its protocols without a port match.
    """
    target = ["-j", "REJECT"] if verdict == "reject" else ["-j", "DROP"]
    match_set = ["-m", "set", "--match-set", set_name(jail.name, version), "src"]
    comment = ["-m", "comment", "--comment", f"journalban:{jail.name}"]
    all_ports = jail.all_ports or not jail.ports
    rules: list[list[str]] = []
    for proto in jail.protocols:
        port_chunks = [None] if all_ports else format_multiport(jail.ports)
        for chunk in port_chunks:
            ports = [] if chunk is None else ["-m", "multiport", "--dports", chunk]
            rules.append(["-A", CHAIN, "-p", proto, *ports, *match_set, *comment, *target])
    return rules


class IptablesIpsetBackend:
    """Bans in ipset sets, matched by one iptables rule per jail and family."""

    name = "iptables-ipset"

    def __init__(
        self,
        *,
        hook: str = "input",
        verdict: str = "drop",
        maxelem: int = 1_048_576,
        iptables: str = "iptables",
        ip6tables: str = "ip6tables",
    ) -> None:
        if hook not in ("input", "forward"):
            raise ValueError(f"hook must be input or forward, not {hook!r}")
        if verdict not in ("drop", "reject"):
            raise ValueError(f"verdict must be drop or reject, not {verdict!r}")
        self.hook_chain = hook.upper()
        self.verdict = verdict
        self.maxelem = maxelem
        self._tools = {4: iptables, 6: ip6tables}
        self.jails: dict[str, JailRules] = {}

    # -- FirewallBackend -------------------------------------------------

    def setup(self, jails: Sequence[JailRules]) -> None:
        self.jails = {j.name: j for j in jails}
        with self._netlink() as ipset:
            for version, family in _FAMILIES:
                for jail in jails:
                    _netlink_call(
                        ipset.create,
                        set_name(jail.name, version),
                        stype="hash:net",
                        family=family,
                        exclusive=False,
                        timeout=0,
                        maxelem=self.maxelem,
                    )
            for version, _ in _FAMILIES:
                self._write_chain(version)
            # Only after the chain is rewritten are sets of dropped jails unreferenced.
            wanted = {set_name(j, v) for j in self.jails for v, _ in _FAMILIES}
            for name in _our_sets(ipset):
                if name not in wanted:
                    _netlink_call(ipset.destroy, name)

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        with self._netlink() as ipset:
            for entry in remove:
                _netlink_call(
                    ipset.delete,
                    set_name(entry.jail, entry.network.version),
                    _member(entry.network),
                    family=_family(entry.network),
                    exclusive=False,
                    etype="net",
                )
            for entry in add:
                timeout = _timeout(entry.expires_at, now)
                if timeout is None:
                    continue
                # Without EXCL the kernel refreshes the timeout of an element already there.
                _netlink_call(
                    ipset.add,
                    set_name(entry.jail, entry.network.version),
                    _member(entry.network),
                    family=_family(entry.network),
                    exclusive=False,
                    etype="net",
                    timeout=timeout,
                )

    def list(self, now: float) -> list[BanEntry]:
        entries: list[BanEntry] = []
        with self._netlink() as ipset:
            for jail in self.jails:
                for version, _ in _FAMILIES:
                    name = set_name(jail, version)
                    messages = _listed(ipset, f"ipset dump of {name}", name)
                    for network, timeout in _members(messages):
                        expires = None if timeout == 0 else now + timeout
                        entries.append(BanEntry(jail, network, expires))
        return entries

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        return reconcile_by_listing(self, wanted, now)

    def intact(self) -> bool:
        try:
            with self._netlink() as ipset:
                present = set(_our_sets(ipset))
        except DumpInterrupted:
            # The sets kept changing while they were listed: nothing is known to be
            # missing, so no re-creation now; the next check lists them again.
            log.info("integrity check skipped: the sets kept changing while they were listed")
            return True
        except BackendError:
            return False
        if any(set_name(j, v) not in present for j in self.jails for v, _ in _FAMILIES):
            return False
        for version, _ in _FAMILIES:
            listing = self._command(version, "-S", check=False)
            if listing.returncode != 0:
                return False
            lines = listing.stdout.splitlines()
            if f"-A {self.hook_chain} -j {CHAIN}" not in lines:
                return False
            ours = sum(1 for line in lines if line.startswith(f"-A {CHAIN} "))
            expected = sum(len(build_rules(j, version, self.verdict)) for j in self.jails.values())
            if ours != expected:
                return False
        return True

    def counters(self) -> dict[str, JailCounters]:
        totals = {name: [0, 0] for name in self.jails}
        for version, _ in _FAMILIES:
            listing = self._command(version, "-S", CHAIN, "-v", check=False)
            for line in listing.stdout.splitlines():
                jail = _comment_jail(line)
                found = _COUNTER_LINE.search(line)
                if jail in totals and found:
                    totals[jail][0] += int(found.group(1))
                    totals[jail][1] += int(found.group(2))
        return {name: JailCounters(p, b) for name, (p, b) in totals.items()}

    def teardown(self) -> None:
        for version, _ in _FAMILIES:
            while (
                self._command(version, "-D", self.hook_chain, "-j", CHAIN, check=False).returncode
                == 0
            ):
                pass
            self._command(version, "-F", CHAIN, check=False)
            self._command(version, "-X", CHAIN, check=False)
        with self._netlink() as ipset:
            for name in _our_sets(ipset):
                _netlink_call(ipset.destroy, name)
        self.jails = {}

    # -- helpers -----------------------------------------------------------

    def _write_chain(self, version: int) -> None:
        if self._command(version, "-S", CHAIN, check=False).returncode != 0:
            self._command(version, "-N", CHAIN)
        self._command(version, "-F", CHAIN)
        for jail in self.jails.values():
            for rule in build_rules(jail, version, self.verdict):
                self._command(version, *rule)
        jump = ("-j", CHAIN)
        if self._command(version, "-C", self.hook_chain, *jump, check=False).returncode != 0:
            self._command(version, "-I", self.hook_chain, "1", *jump)

    def _command(
        self, version: int, *args: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [self._tools[version], "-w", *args]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise BackendError(f"{shlex.join(argv)}: {exc}") from exc
        if check and done.returncode != 0:
            raise BackendError(f"{shlex.join(argv)} failed: {done.stderr.strip()}")
        return done

    @contextmanager
    def _netlink(self) -> Iterator[IPSet]:
        # One socket per batch: the agent calls from varying worker threads and
        # pyroute2's synchronous sockets carry their own event loop.
        try:
            ipset = IPSet()
        except OSError as exc:
            raise BackendError(f"cannot open the ipset netlink socket: {exc}", exc.errno) from exc
        try:
            yield ipset
        finally:
            ipset.close()


def _netlink_call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except NetlinkError as exc:
        raise BackendError(f"ipset refused {args[:2]}: {exc}", exc.code) from exc


def _listed(ipset: IPSet, what: str, *args: Any, **kwargs: Any) -> list[Any]:
    """The messages of one ``ipset.list`` dump, asked again while the kernel marks it
    interrupted (``netlinkdump.retried``: pyroute2 reads past NLM_F_DUMP_INTR)."""

    def once() -> tuple[list[Any], bool]:
        messages: list[Any] = _netlink_call(lambda: list(ipset.list(*args, **kwargs)))
        return messages, any(m["header"]["flags"] & NLM_F_DUMP_INTR for m in messages)

    return retried(once, what)


def _our_sets(ipset: IPSet) -> list[str]:
    # The kernel's "ipset list -n": names only, not every member of every set.
    messages = _listed(ipset, "ipset dump of the set names", flags=_LIST_SETNAME)
    names: list[str] = []
    for msg in messages:
        name = msg.get_attr("IPSET_ATTR_SETNAME")
        if isinstance(name, str) and name.startswith(SET_PREFIX) and name not in names:
            names.append(name)
    return names


def _family(network: IPNetwork) -> int:
    return socket.AF_INET if network.version == 4 else socket.AF_INET6


def _member(network: IPNetwork) -> str:
    return f"{network.network_address}/{network.prefixlen}"


def _timeout(expires_at: float | None, now: float) -> int | None:
    """ipset's timeout for a ban: 0 is permanent, None means already expired."""
    if expires_at is None:
        return 0
    remaining = math.ceil(expires_at - now)
    if remaining <= 0:
        return None
    return min(remaining, MAX_TIMEOUT)


def _members(messages: Sequence[Any]) -> Iterator[tuple[IPNetwork, int]]:
    """(network, seconds left) for each element of a listed set."""
    for msg in messages:
        adt = msg.get_attr("IPSET_ATTR_ADT")
        if adt is None:
            continue
        for data in adt.get_attrs("IPSET_ATTR_DATA"):
            ip_from = data.get_attr("IPSET_ATTR_IP_FROM")
            if ip_from is None:
                continue
            text = ip_from.get_attr("IPSET_ATTR_IPADDR_IPV4") or ip_from.get_attr(
                "IPSET_ATTR_IPADDR_IPV6"
            )
            cidr = data.get_attr("IPSET_ATTR_CIDR")
            network = ipaddress.ip_network(f"{text}/{cidr}", strict=False)
            yield network, int(data.get_attr("IPSET_ATTR_TIMEOUT") or 0)


def _comment_jail(line: str) -> str | None:
    try:
        words = shlex.split(line)
    except ValueError:
        return None
    for index, word in enumerate(words[:-1]):
        if word == "--comment" and words[index + 1].startswith("journalban:"):
            return words[index + 1].removeprefix("journalban:")
    return None


def backend_from_settings(settings: Mapping[str, object]) -> IptablesIpsetBackend:
    """The backend configured by ``firewall:`` settings (hook, verdict, maxelem, tool paths).

    Raises:
        ValueError: a setting has the wrong type or value.
    """
    maxelem = settings.get("maxelem", 1_048_576)
    if not isinstance(maxelem, int) or isinstance(maxelem, bool) or maxelem < 1:
        raise ValueError(f"firewall.maxelem must be a positive integer, not {maxelem!r}")
    return IptablesIpsetBackend(
        hook=str(settings.get("hook", "input")),
        verdict=str(settings.get("verdict", "drop")),
        maxelem=maxelem,
        iptables=str(settings.get("iptables", "iptables")),
        ip6tables=str(settings.get("ip6tables", "ip6tables")),
    )
