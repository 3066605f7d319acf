"""A decided ban's network carries its text (``addresses.TEXT``); every reader of the ban
sees what it sees of the same ban whose network is ipaddress's own, made without it.

The deciding makes a ban's network and its text together (``stored_network_text``) and
keeps the text on the network; the readers take it from there. Each reader here is given
the agent's ban and the same ban built with ``ipaddress.ip_network`` (no text kept), and
must give the same: the state's rows and what a restart reads back, the log line, the
``Banned`` signal, GetBans/ListBans's structs, the dry-run firewall, the ban table's
indexes (its texts, an unban, the expiry), the fleet's subject.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import pytest

from journalban.addresses import format_network, remembered_text, stored_network_text
from journalban.agent.banlines import ban_messages
from journalban.agent.logs import event_message
from journalban.bus import convert
from journalban.bus.bannedwire import banned_wire
from journalban.decisions.banmaker import new_ban_pair
from journalban.decisions.runtime import BanTable
from journalban.events import Ban
from journalban.firewall.base import BanEntry
from journalban.firewall.dryrun import DryRunBackend
from journalban.fleet.messages import network_key
from journalban.state.commitrows import ban_values, history_rows, unstored_rows
from journalban.state.store import BatchCommit, StateStore

NOW = 1_800_000_000.0
TEXTS = [
    "203.0.113.7/32", "198.51.100.250/32", "2001:db8:1::/64", "2001:db8:ffff:1::/64",
    "10.0.0.0/8", "2001:db8::1/128", "192.0.2.0/31",
]  # fmt: skip


def _pairs() -> list[tuple[Ban, Ban]]:
    """(the agent's ban, the same ban with ipaddress's network), for each of ``TEXTS``."""
    found = []
    for n, text in enumerate(TEXTS):
        net, shown = stored_network_text(text)
        assert remembered_text(net) == shown
        plain = ipaddress.ip_network(text)
        assert remembered_text(plain) is None
        args = (NOW + n, NOW + n + 3600.0, 1, "account", 3, "files:/var/log/auth.log")
        lines = (f"Failed password for root from {text}",)
        ours, _ = new_ban_pair("sshd", net, *args, lines, "root")
        theirs = Ban("sshd", plain, *args, lines, "root")
        found.append((ours, theirs))
    return found


def test_the_bans_themselves_and_their_addresses() -> None:
    for ours, theirs in _pairs():
        assert ours == theirs
        assert repr(ours) == repr(theirs)
        assert ours.address == theirs.address == format_network(theirs.network)
        assert hash(ours.network) == hash(theirs.network)


def test_the_state_rows_and_what_a_restart_reads_back(tmp_path: Path) -> None:
    pairs = _pairs()
    ours, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    assert ban_values(ours) == ban_values(theirs)
    history = [(b, False) for b in ours]
    assert unstored_rows(history, ours) == unstored_rows([(b, False) for b in theirs], theirs)
    texts = [remembered_text(b.network) or "" for b in ours]
    assert history_rows(history, (), ()) == history_rows([(b, False) for b in theirs], (), ())
    assert history_rows(history, ours, texts) == history_rows(history, (), ())
    read = []
    for name, bans in (("ours", ours), ("theirs", theirs)):
        store = StateStore(tmp_path / f"{name}.sqlite")
        store.commit([BatchCommit(jail="sshd", bans=bans, history=[(b, False) for b in bans])])
        texts_read: list[str] = []
        read.append((store.active_bans(texts_read, running_at=NOW), texts_read))
        store.close()
    assert read[0] == read[1]
    assert read[0][1] == TEXTS


def test_the_log_lines_and_the_banned_signal() -> None:
    for ours, theirs in _pairs():
        (line,) = ban_messages([ours])
        assert line == ban_messages([theirs])[0] == event_message("ban", theirs, 0.0)
        assert banned_wire(ours, 7) == banned_wire(theirs, 7)


def test_getbans_and_listbans_structs() -> None:
    for ours, theirs in _pairs():
        assert convert.ban_struct(ours) == convert.ban_struct(theirs)
        assert convert.banned_details(ours) == convert.banned_details(theirs)


def test_the_dry_run_firewall(caplog: pytest.LogCaptureFixture) -> None:
    said = []
    for side in (0, 1):
        bans = [p[side] for p in _pairs()]
        backend = DryRunBackend()
        caplog.clear()
        with caplog.at_level(logging.INFO):
            backend.apply([BanEntry(b.jail, b.network, b.expires_at) for b in bans], [], NOW)
            backend.apply([], [BanEntry(b.jail, b.network, b.expires_at) for b in bans[:3]], NOW)
        said.append(([r.getMessage() for r in caplog.records], backend.list(NOW)))
    assert said[0] == said[1]
    assert "203.0.113.7 198.51.100.250 2001:db8:1::/64" in said[0][0][0]


def test_the_ban_table_its_texts_an_unban_and_the_expiry() -> None:
    tables = []
    for side in (0, 1):
        table = BanTable()
        bans = [p[side] for p in _pairs()]
        for ban in bans:
            table[(ban.jail, ban.network)] = ban
        shown = sorted(table.by_text)
        table.pop(("sshd", ipaddress.ip_network("2001:db8:1::/64")))
        due = table.due(NOW + 3600.0 + 2.5)
        tables.append((shown, sorted(table.by_text), [b.address for b in due]))
    assert tables[0] == tables[1]
    assert tables[0][0] == sorted(("sshd", t) for t in TEXTS)
    assert tables[0][2] == ["203.0.113.7", "198.51.100.250"]


def test_the_fleet_subject() -> None:
    for ours, theirs in _pairs():
        assert network_key(ours.network) == network_key(theirs.network)
