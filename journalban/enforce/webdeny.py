"""nginx and Apache deny lists: an include file of the banned addresses, a firewall backend.

For web jails on hosts without a firewall. The web server includes the file
(``include /var/lib/journalban/nginx-deny.conf;`` in an ``http``, ``server``
or ``location`` block; ``Include /var/lib/journalban/apache-deny.conf``
inside a ``<Location>`` or ``<Directory>``) and reads it again on a graceful
reload, which ``journalban.enforce.webfeed`` runs, batched.

The file is rewritten whole and atomically (a temporary file renamed over
it), so the server never reads half of it. Neither syntax holds jails or
expiries: they are kept beside it in ``<file>.json`` (as the hosts.deny
backend keeps them), and every batch drops what has expired by then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from journalban.addresses import IPNetwork
from journalban.errors import BackendError
from journalban.firewall.base import (
    BanEntry,
    JailCounters,
    JailRules,
    ReconcileReport,
    reconcile_by_listing,
)
from journalban.firewall.filestate import applied, read_bans, replace_file, unexpired, write_bans

HEADER = "# Written by journalban: each change replaces this file. Do not edit.\n"
APACHE_PER_LINE = 50  # addresses on one Require line


def network_text(network: IPNetwork) -> str:
    """``192.0.2.7`` for a single address, ``198.51.100.0/24`` for a prefix."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def render_nginx(networks: Sequence[IPNetwork]) -> str:
    """ngx_http_access_module rules: ``deny ADDR;`` per ban (nothing else is denied)."""
    return HEADER + "".join(f"deny {network_text(n)};\n" for n in networks)


def render_apache(networks: Sequence[IPNetwork]) -> str:
    """mod_authz_core rules: everyone granted but the banned (``Require not ip``).

    ``Require not ip`` cannot stand alone: it sits in a ``<RequireAll>`` with
    ``Require all granted``; with no ban, only the grant is left.
    """
    texts = [network_text(n) for n in networks]
    lines = [
        f"    Require not ip {' '.join(texts[i : i + APACHE_PER_LINE])}\n"
        for i in range(0, len(texts), APACHE_PER_LINE)
    ]
    return HEADER + "<RequireAll>\n    Require all granted\n" + "".join(lines) + "</RequireAll>\n"


RENDERERS: dict[str, Callable[[Sequence[IPNetwork]], str]] = {
    "nginx": render_nginx,
    "apache": render_apache,
}


class WebDenyBackend:
    """Bans as a web server's deny include file (``kind``: nginx or apache)."""

    def __init__(self, kind: str, deny_file: Path) -> None:
        self.name = f"{kind}-deny"
        self.render = RENDERERS[kind]
        self.deny_file = deny_file
        self.state_file = deny_file.with_name(deny_file.name + ".json")
        self.jails: dict[str, JailRules] = {}

    def setup(self, jails: Sequence[JailRules]) -> None:
        self.jails = {j.name: j for j in jails}
        self._write(e for e in read_bans(self.state_file) if e.jail in self.jails)

    def apply(self, add: Sequence[BanEntry], remove: Sequence[BanEntry], now: float) -> None:
        self._write(applied(self.state_file, add, remove, now))

    def list(self, now: float) -> list[BanEntry]:
        """The bans the include file holds, with jail and expiry from the state beside it."""
        try:
            text = self.deny_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise BackendError(f"cannot read {self.deny_file}: {exc}", exc.errno) from exc
        listed = set(text.replace(";", " ").split())
        return [
            e
            for e in unexpired(read_bans(self.state_file), now)
            if network_text(e.network) in listed
        ]

    def reconcile(self, wanted: Sequence[BanEntry], now: float) -> ReconcileReport:
        return reconcile_by_listing(self, wanted, now)

    def intact(self) -> bool:
        """False when the include file no longer says what the state says."""
        try:
            text = self.deny_file.read_text(encoding="utf-8")
        except OSError:
            return False
        return text == self._render(read_bans(self.state_file))

    def counters(self) -> dict[str, JailCounters]:
        # The web server counts its own 403s in its access log.
        return {name: JailCounters() for name in self.jails}

    def teardown(self) -> None:
        for path in (self.deny_file, self.state_file):
            path.unlink(missing_ok=True)
        self.jails = {}

    def _render(self, entries: Iterable[BanEntry]) -> str:
        ordered = sorted({e.network for e in entries}, key=lambda n: (n.version, n))
        return self.render(ordered)

    def _write(self, entries: Iterable[BanEntry]) -> None:
        kept = sorted(entries, key=lambda e: (e.network.version, e.network, e.jail))
        # State first: a crash in between leaves an include file that intact() flags.
        write_bans(self.state_file, kept)
        replace_file(self.deny_file, self._render(kept), shared=True)
