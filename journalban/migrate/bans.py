"""fail2ban's ban database (``dbfile`` in fail2ban.conf) into journalban's state.

Every row of fail2ban's ``bans`` table becomes a history row (so repeat
offenders stay repeat offenders for ``bantime_increment`` and recidive);
bans still running at import time become active bans, restored into the
firewall when the agent starts. Addresses journalban cannot parse, or may
not ban (unspecified, loopback), are counted and left out.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from journalban.addresses import parse_network
from journalban.errors import AddressError, ConfigError
from journalban.events import Ban
from journalban.state.store import BatchCommit, StateStore


@dataclass
class BanImport:
    active: list[Ban] = field(default_factory=list)
    history: list[Ban] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def read_fail2ban_bans(db: Path, jail_names: dict[str, str], now: float) -> BanImport:
    """Bans from fail2ban's SQLite database; ``jail_names`` maps fail2ban's names to ours.

    Raises:
        ConfigError: the database cannot be read.
    """
    out = BanImport()
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open fail2ban's database: {exc}", str(db)) from None
    try:
        cols = {r[1] for r in conn.execute("PRAGMA table_info(bans)")}
        if not cols:
            raise ConfigError("no bans table (not a fail2ban database?)", str(db))
        bantime = "bantime" if "bantime" in cols else "-2"
        bancount = "bancount" if "bancount" in cols else "1"
        rows = conn.execute(
            f"SELECT jail, ip, timeofban, {bantime}, {bancount} FROM bans ORDER BY timeofban"  # noqa: S608 - column names, not input
        ).fetchall()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot read fail2ban's database: {exc}", str(db)) from None
    finally:
        conn.close()
    latest: dict[tuple[str, str], Ban] = {}
    for jail, ip, banned_at, length, count in rows:
        ours = jail_names.get(str(jail), str(jail))
        try:
            network = parse_network(str(ip))
        except AddressError:
            out.skipped.append(f"{jail} {ip}: not an address")
            continue
        if network.network_address.is_unspecified or network.network_address.is_loopback:
            out.skipped.append(f"{jail} {ip}: never banned by journalban")
            continue
        length = -2 if length is None else int(length)
        expires = None if length == -1 else float(banned_at) + (length if length >= 0 else 600)
        ban = Ban(
            ours, network, float(banned_at), expires, int(count or 1), "imported from fail2ban",
            source="fail2ban",
        )  # fmt: skip
        out.history.append(ban)
        latest[(ours, str(network))] = ban
    out.active = [b for b in latest.values() if b.expires_at is None or b.expires_at > now]
    return out


def write_bans(state_file: Path, bans: BanImport) -> None:
    """Raises: StateError when journalban's state cannot be written."""
    store = StateStore(state_file)
    try:
        by_jail: dict[str, BatchCommit] = {}
        for ban in bans.history:
            b = by_jail.setdefault(ban.jail, BatchCommit(ban.jail))
            b.history.append((ban, False))
        for ban in bans.active:
            b = by_jail.setdefault(ban.jail, BatchCommit(ban.jail))
            b.bans.append(ban)
        store.commit(list(by_jail.values()))
    finally:
        store.close()
