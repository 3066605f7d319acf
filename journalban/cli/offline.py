"""`status`, `banned` and `stats` with no agent on the bus: the state database, read-only.

An agent started with ``--no-bus`` (or ``bus: false``), a host without a
system bus, or an agent that is not running: the client commands then say so
and show what the agent last committed to its state database, opened
read-only (the agent keeps writing; nothing here writes). They answer in the
shapes the bus would have used, so the text and JSON output are the same.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journalban import __version__
from journalban.addresses import IPNetwork, is_prefix, parse_network, stored_network
from journalban.agent.api import JailInfo, JailStatus
from journalban.bus import convert
from journalban.cli import clientview as view
from journalban.cli.busclient import plain
from journalban.config.loader import MAIN_FILE, load_config
from journalban.config.schema import Config, JailConfig
from journalban.decisions.engine import RECIDIVE
from journalban.errors import AddressError, ConfigError, JournalbanError, NoSuchJail
from journalban.events import Ban
from journalban.matching.library import FilterLibrary
from journalban.state.failurerows import networks
from journalban.state.files import DRY_RUN_STATE_FILE, STATE_FILE


def running_agents(config: Path | None, proc: Path = Path("/proc")) -> list[int]:
    """The process ids of ``journalban run`` with this configuration (None: the default)."""
    wanted = (config or MAIN_FILE).absolute()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = [
                a.decode(errors="replace") for a in (entry / "cmdline").read_bytes().split(b"\0")
            ]
            cwd = (entry / "cwd").readlink()
        except OSError:
            continue
        names = [Path(a).name for a in argv]
        if "run" not in names or "journalban" not in names[: names.index("run")]:
            continue
        given = _config_argument(argv[names.index("run") + 1 :])
        if (MAIN_FILE if given is None else cwd / given).absolute() == wanted:
            found.append(int(entry.name))
    return sorted(found)


def _config_argument(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
    return None


class OfflineError(JournalbanError):
    """The state database cannot be found or read."""


def _modified(path: Path) -> float:
    """When the database was last written (its write-ahead log counts, when it holds
    anything: a reader may leave an empty one)."""
    wal = Path(f"{path}-wal")
    times = [path.stat().st_mtime]
    if wal.exists() and wal.stat().st_size > 0:
        times.append(wal.stat().st_mtime)
    return max(times)


def pick_database(config: Config) -> Path:
    """The state a dry run or a real run wrote last (a dry run keeps its own).

    Raises:
        OfflineError: neither exists.
    """
    state_dir = Path(config.state_dir)
    found = [state_dir / n for n in (STATE_FILE, DRY_RUN_STATE_FILE) if (state_dir / n).exists()]
    if not found:
        raise OfflineError(f"no state database in {state_dir}: the agent has not run here")
    return max(found, key=_modified)


@dataclass
class StateSnapshot:
    """The agent's answers, read from its state database instead of asked over the bus.

    Implements the reading half of ``journalban.agent.api.AgentControl``.
    """

    config: Config
    path: Path
    config_note: str = ""
    version: str = __version__
    started_at: float = 0.0

    @property
    def dry_run(self) -> bool:
        return self.path.name == DRY_RUN_STATE_FILE

    @property
    def backend_name(self) -> str:
        return "dry-run" if self.dry_run else self.config.firewall.backend

    @property
    def state(self) -> str:
        return "not on the bus"

    def _rows(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        if not os.access(self.path, os.R_OK):
            raise OfflineError(f"cannot read {self.path}: only root may (the state is private)")
        try:
            uri = f"file:{urllib.parse.quote(str(self.path))}?mode=ro"
            db = sqlite3.connect(uri, uri=True, timeout=5)
        except sqlite3.Error as exc:
            raise OfflineError(f"cannot open {self.path} read-only: {exc}") from None
        try:
            return db.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise OfflineError(f"cannot read {self.path}: {exc}") from None
        finally:
            db.close()

    def _bans(self) -> Iterator[Ban]:
        now = time.time()
        rows = self._rows(
            "SELECT jail, network, banned_at, expires_at, ban_count, reason, failures, source"
            " FROM bans ORDER BY jail, banned_at"
        )
        for jail, network, banned_at, expires_at, count, reason, failures, source in rows:
            try:
                net = stored_network(str(network))
            except AddressError:
                continue
            ban = Ban(
                str(jail), net, float(banned_at),  # type: ignore[arg-type]
                None if expires_at is None else float(expires_at),  # type: ignore[arg-type]
                int(count), str(reason), int(failures), str(source),  # type: ignore[call-overload]
            )  # fmt: skip
            if not ban.expired(now):
                yield ban

    def _enabled(self) -> dict[str, JailConfig]:
        return {j.name: j for j in self.config.enabled_jails}

    def jails(self) -> list[JailInfo]:
        out = []
        library = FilterLibrary()
        for name, cfg in self._enabled().items():
            sources: tuple[str, ...] = cfg.files
            if cfg.source == "journal":
                groups = cfg.journal_match
                if groups is None:
                    try:
                        groups = library.load(cfg.filter).journal_match
                    except (KeyError, ConfigError):
                        groups = ()
                sources = tuple(" ".join(f"{k}={v}" for k, v in g) for g in groups)
            out.append(JailInfo(name, True, cfg.filter, sources, tuple(cfg.port.split(",")),
                                cfg.protocols, cfg.maxretry, cfg.findtime, cfg.bantime))  # fmt: skip
        rec = self.config.recidive
        if rec.enabled:
            out.append(JailInfo(RECIDIVE, True, RECIDIVE, ("journalban's own bans",), ("all",),
                                ("tcp", "udp", "udplite", "sctp"), rec.maxretry, rec.findtime,
                                rec.bantime))  # fmt: skip
        return out

    def _currently_failed(self, jail: str, findtime: float) -> int:
        """Addresses with failures within findtime, replayed from the failure log."""
        since = time.time() - findtime
        latest: dict[str, float] = {}
        for cleared, failures in self._rows(
            "SELECT cleared, failures FROM failure_log WHERE jail = ? ORDER BY seq", (jail,)
        ):
            for network in networks(cleared):  # (packed or JSON: state.failurerows)
                latest.pop(network, None)
            for network, when in json.loads(str(failures)):
                latest[network] = max(latest.get(network, 0.0), float(when))
        return sum(1 for when in latest.values() if when >= since)

    def jail_status(self, jail: str) -> JailStatus:
        enabled = self._enabled()
        if jail not in enabled and not (jail == RECIDIVE and self.config.recidive.enabled):
            raise NoSuchJail(jail)
        counters = self._rows(
            "SELECT total_failed, total_banned FROM counters WHERE jail = ?", (jail,)
        )
        failed, banned = (int(str(c)) for c in counters[0]) if counters else (0, 0)
        cfg = enabled.get(jail)
        return JailStatus(
            currently_failed=self._currently_failed(jail, cfg.findtime) if cfg else 0,
            total_failed=failed,
            currently_banned=self.banned_count(jail),
            total_banned=banned,
        )

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        return [b for b in self._bans() if jail is None or b.jail == jail]

    def banned_count(self, jail: str | None = None) -> int:
        return len(self.list_bans(jail))

    def banned_prefix_count(self) -> int:
        return sum(1 for b in self._bans() if is_prefix(b.network))

    def query_ban(self, network: IPNetwork) -> list[Ban]:
        return [
            b
            for b in self._bans()
            if b.network.version == network.version and network.subnet_of(b.network)  # type: ignore[arg-type]
        ]


def open_snapshot(config_path: Path | None) -> StateSnapshot:
    """The snapshot of the state the configuration at ``config_path`` names.

    Raises:
        OfflineError: no state database to read.
    """
    note = ""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        config = Config()
        first = str(exc).splitlines()[0]
        note = f"the configuration has errors ({first}); reading {config.state_dir}"
    return StateSnapshot(config, pick_database(config), note)


def answer(snapshot: StateSnapshot, args: argparse.Namespace) -> tuple[Any, str]:
    """What ``status``, ``banned`` or ``stats`` shows, from the snapshot.

    Raises:
        OfflineError, NoSuchJail, AddressError: as the agent would refuse.
    """
    if args.command == "status":
        if args.jail is None:
            status = plain(convert.manager_status(snapshot))  # type: ignore[arg-type]
            return status, view.overall_tree(status)
        info = {j.name: j for j in snapshot.jails()}.get(args.jail)
        if info is None:
            raise NoSuchJail(args.jail)
        status = plain(
            convert.jail_status_dict(
                info, snapshot.jail_status(args.jail), snapshot.list_bans(args.jail)
            )
        )
        status.pop(view.UNREADABLE, None)  # counted by a running agent only, never stored
        return status, view.jail_tree(status)
    if args.command == "banned":
        if args.address is None:
            found = snapshot.list_bans()
        else:
            found = snapshot.query_ban(parse_network(args.address))
        bans = [view.ban_record(plain(convert.ban_struct(b))) for b in found]
        if not bans:
            return bans, "no bans" if args.address is None else f"{args.address} is not banned"
        return bans, view.bans_table(bans)
    records = [
        view.stats_record(convert.jail_properties(info, snapshot.jail_status(info.name)))
        for info in snapshot.jails()
    ]
    return records, view.stats_table(records)
