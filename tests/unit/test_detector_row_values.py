"""A detector row of the right shape holding the wrong types or values (a hand, a disk) is
skipped and counted at restore like one that is not JSON: the rows around it are loaded, and
the detectors then decide normally (no TypeError in the middle of a batch, no detector that
never bans or bans everyone). Real SQLite files, written with SQLite itself
(jails/rowvalues.py; tests/unit/test_detector_rows_damaged.py for rows of the wrong shape)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from journalban.config.detectors import (
    AccountConfig,
    AttackModeConfig,
    DetectorsConfig,
    SlowConfig,
    SubnetConfig,
)
from journalban.config.schema import JailConfig
from journalban.decisions.detecting import JailDetection
from journalban.decisions.engine import DecisionEngine
from journalban.jails.detector import ACCOUNT, SLOW, SUBNET, Seen, VerdictTuple
from journalban.jails.rowvalues import json_value
from journalban.matching.library import FilterLibrary
from journalban.matching.sessions import SessionTable, session_value
from journalban.state.detection import readable_rows
from journalban.state.store import StateStore
from support.deciding import jail_engine

NOW = 1_800_000_000.0
DETECTORS = DetectorsConfig(
    slow=SlowConfig(maxretry=4, findtime=86400.0),
    account=AccountConfig(addresses=3, findtime=3600.0, hold=3600.0),
    attack_mode=AttackModeConfig(failures=1000, findtime=600.0, hold=1800.0),
    subnet=SubnetConfig(prefix4=24, prefix6=48, addresses=3, findtime=3600.0),
)
HOUR = int((NOW - 600) // 3600)  # slow's bucket ten minutes ago (a bucket is findtime / 24)


def _slow(pairs: str) -> tuple[str, str, str]:
    return ("slow", "203.0.113.9/32", pairs)


# (detector, key, value) of rows as a detector writes them: each must be loaded.
GOOD = [
    ("slow", "203.0.113.1/32", json.dumps([HOUR, 2])),
    ("slow", "203.0.113.2/32", json.dumps([HOUR - 3, 1, HOUR, 1])),
    ("account", "a:alice", json.dumps(NOW + 600)),
    ("account", "s:carol", json.dumps({"192.0.2.1/32": NOW - 60})),
    ("subnet", "198.51.100.0/24", json.dumps({"198.51.100.1/32": NOW - 60})),
    ("subnet", "2001:db8:1::/48", json.dumps({"2001:db8:1:2::/64": NOW - 60.5})),
    ("known_good", "dave\x00192.0.2.7/32", json.dumps(NOW - 86400)),
]
# Rows of the right shape (JSON, the container the detector keeps) and the wrong types or
# values: (detector, key, value).
DAMAGED = [
    ("slow", "203.0.113.10/32", '["x", 1]'),  # a bucket that is text
    ("slow", "203.0.113.11/32", f"[{HOUR}, NaN]"),
    ("slow", "203.0.113.12/32", f"[{HOUR}, -3]"),  # a negative count: never reaches maxretry
    ("slow", "203.0.113.13/32", f"[{HOUR}, 0]"),
    ("slow", "203.0.113.14/32", f"[{HOUR}.5, 1]"),  # a bucket that is no integer
    ("slow", "203.0.113.15/32", f"[{HOUR}, true]"),  # a JSON bool is no count
    ("slow", "203.0.113.16/32", f"[{HOUR}, 1, {HOUR - 1}, 1]"),  # buckets out of order
    ("slow", "203.0.113.17/32", f"[{HOUR}, 1, {HOUR}, 1]"),  # a bucket twice
    ("slow", "203.0.113.18/32", f"[{HOUR - 1}, 1, {HOUR}]"),  # a bucket without its count
    ("slow", "203.0.113.19/32", "[]"),
    ("account", "a:bob", '"tomorrow"'),
    ("account", "a:erin", "NaN"),
    ("account", "a:frank", "Infinity"),  # an account under attack for ever
    ("account", "a:gina", "1e999"),  # (JSON's way to infinity)
    ("account", "a:hank", "true"),
    ("account", "s:ivan", json.dumps({"not-a-network": NOW - 60})),
    ("account", "s:judy", json.dumps({"192.0.2.300/32": NOW - 60})),
    ("account", "s:kim", json.dumps({"192.0.2.2/32": "a minute ago"})),
    ("account", "s:lee", json.dumps({"192.0.2.3/32": NOW - 60, "192.0.2.4/32": None})),
    ("account", "s:" + "m" * 200, json.dumps({"192.0.2.5/32": NOW - 60})),  # never kept so long
    ("account", "x:nina", json.dumps(NOW + 600)),  # neither an attack nor networks
    ("subnet", "198.51.101.0/24", json.dumps({"198.51.101.1/33": NOW - 60})),  # no such length
    ("subnet", "2001:db8:2::/48", json.dumps({"2001:db8:2:3::1/64": NOW - 60})),  # host bits
    ("subnet", "198.51.102.0/24", json.dumps({"198.51.102.1/32": "now"})),
    ("subnet", "198.51.103.0/24", '{"198.51.103.1/32": Infinity}'),
    ("known_good", "olga\x00not-a-network", json.dumps(NOW - 60)),
    ("known_good", "pete\x00192.0.2.8/32", '"yesterday"'),
    ("known_good", "quinn\x00192.0.2.9/32", "NaN"),
    ("known_good", "no separator", json.dumps(NOW - 60)),
]
# attack_mode holds one row: each of these is tried alone, with the good rows of the others.
ATTACK_DAMAGED = [
    '["x", 5]',
    f"[{NOW}, 5]",
    "[NaN, []]",  # attack mode never starts again
    "[Infinity, []]",  # attack mode never ends: every failing address banned
    "[1e999, []]",
    f'[{NOW}, ["a", 1]]',
    f"[{NOW}, [{HOUR}, -1]]",
    "[true, []]",
]


def _store(path: Path, rows: list[tuple[str, str, str]]) -> None:
    store = StateStore(path)
    store.db.executemany("INSERT INTO detector_state VALUES ('sshd', ?, ?, ?)", rows)
    store.close()


def _detection(path: Path) -> tuple[DecisionEngine, JailDetection]:
    cfg = JailConfig(name="sshd", detectors=DETECTORS)
    engine = jail_engine(path, cfg)
    detection = engine.jails["sshd"].detection
    assert detection is not None
    return engine, detection


def _warned(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def _assert_good_rows_loaded(detection: JailDetection) -> None:
    assert detection.slow is not None
    assert detection.account is not None
    assert detection.subnet is not None
    assert detection.known_good is not None
    assert sorted(detection.slow.keys) == ["203.0.113.1/32", "203.0.113.2/32"]
    assert [a for a, _, _ in detection.account.under_attack(NOW)] == ["alice"]
    assert sorted(detection.account.seen) == ["carol"]
    assert sorted(detection.subnet.prefixes) == ["198.51.100.0/24", "2001:db8:1::/48"]
    assert detection.known_good.listing() == [("dave", "192.0.2.7/32", NOW - 86400)]
    assert detection.known_good.networks == ["192.0.2.7/32"]


def test_rows_of_the_wrong_types_are_skipped_counted_and_the_rest_loaded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite"
    # the damaged rows between the good ones, as SQLite hands them back (in key order)
    _store(path, [*GOOD, *DAMAGED])
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine, detection = _detection(path)
    _assert_good_rows_loaded(detection)
    warned = _warned(caplog)
    for name, where in [
        ("slow", "detector slow"), ("account", "detector account"),
        ("subnet", "detector subnet"), ("known_good", "known_good"),
    ]:  # fmt: skip
        count = sum(1 for d, _, _ in DAMAGED if d == name)
        expected = f"{count} stored row(s) of jail sshd {where} could not be read and were skipped"
        assert any(expected in w for w in warned), (expected, warned)
    assert len(warned) == 4, warned
    # The rows stay in the file (nothing lost; a later agent may read them again).
    rows = engine.store.db.execute("SELECT count(*) FROM detector_state").fetchone()[0]
    assert rows == len(GOOD) + len(DAMAGED)
    engine.store.close()


def test_the_detectors_decide_normally_after_skipping_damaged_rows(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    _store(path, [*GOOD, *DAMAGED, ("attack_mode", "", '["x", 5]')])
    engine, detection = _detection(path)
    when = NOW + 1
    verdicts: list[VerdictTuple] = []
    # slow: 203.0.113.1 held 2 of 4; carol's account one network of 3; a /24 one of 3.
    for key, user in [
        ("203.0.113.1/32", "u"), ("203.0.113.1/32", "u"),
        ("192.0.2.21/32", "carol"), ("192.0.2.22/32", "carol"),
        ("198.51.100.2/32", None), ("198.51.100.3/32", None),
        ("203.0.113.11/32", None),  # a damaged row's address: counted afresh
    ]:  # fmt: skip
        verdicts += detection.observe(key, user, when)
    reasons = {(v[0], v[1]) for v in verdicts}
    assert (SLOW, "203.0.113.1/32") in reasons
    assert {(ACCOUNT, n) for n in ("192.0.2.1/32", "192.0.2.21/32", "192.0.2.22/32")} <= reasons
    assert (SUBNET, "198.51.100.0/24") in reasons
    assert not any(v[1] == "203.0.113.11/32" for v in verdicts)
    assert detection.attack is not None
    assert not detection.attack.active(when)  # its damaged row left it off, counting afresh
    engine.store.close()


@pytest.mark.parametrize("value", ATTACK_DAMAGED)
def test_a_damaged_attack_mode_row_is_skipped_and_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    path = tmp_path / "state.sqlite"
    _store(path, [*GOOD, ("attack_mode", "", value)])
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine, detection = _detection(path)
    _assert_good_rows_loaded(detection)
    assert _warned(caplog) == [
        "unreadable detector rows: 1 stored row(s) of jail sshd detector attack_mode could "
        "not be read and were skipped"
    ]
    attack = detection.attack
    assert attack is not None
    assert (attack.until, attack.pairs) == (0.0, [])
    for n in range(3):  # counting goes on from nothing, as on a fresh start
        assert not attack.observe(Seen(f"192.0.2.{n}/32", None, NOW + n))
    assert attack.pairs == [int((NOW + 2) // attack.width), 3]
    engine.store.close()


def test_the_rows_detectors_write_are_all_read_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The checks refuse nothing a detector writes: IPv4 and IPv6, out-of-order times, an
    attack mode started, accounts under attack, known-good pairs."""
    path = tmp_path / "state.sqlite"
    engine, detection = _detection(path)
    detection.succeeded("192.0.2.200/32", "dave", NOW - 100)
    detection.succeeded("2001:db8:9:1::/64", "dave", NOW - 100)
    for step in range(1200):
        when = NOW - 500 + step * 0.4 - (7.0 if step % 5 == 0 else 0.0)  # some out of order
        if step % 3 == 0:
            key = f"2001:db8:{step % 7}:{step % 11}::/64"
        else:
            key = f"198.51.{step % 13}.{step % 97}/32"
        detection.observe(key, f"user{step % 4}", when)
    assert detection.attack is not None
    assert detection.attack.active(NOW)
    assert detection.account is not None
    assert detection.account.under_attack(NOW)
    rows = [("sshd", d, k, v) for d, k, v in detection.rows() if v is not None]
    engine.store.close()
    store = StateStore(path)
    store.db.executemany("INSERT OR REPLACE INTO detector_state VALUES (?, ?, ?, ?)", rows)
    store.close()
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        engine, restored = _detection(path)
    assert not _warned(caplog)
    assert restored.tracked == detection.tracked
    assert restored.attack is not None
    assert (restored.attack.until, restored.attack.pairs) == (
        detection.attack.until, detection.attack.pairs,
    )  # fmt: skip
    engine.store.close()


@pytest.mark.parametrize(
    "text",
    ["[489992, 1]", '{"198.51.100.1/32": 1800000000.0}', "1800000000.5", "NaN", "-Infinity",
     ' [1, 2] ', "\t5\n", '"a"', "[1, 2", "[1] x", "", "x", "\ufeff[1]", "[1,]", '{"a": 1,}',
     "1e999", "[" * 50_000 + "]" * 50_000],
)  # fmt: skip
def test_json_value_reads_what_json_loads_reads(text: str) -> None:
    """The rows' decoder takes the C scanner's short way: the same values, the same errors."""
    try:
        expected: object = json.loads(text)
    except (ValueError, RecursionError) as error:
        with pytest.raises(type(error)):
            json_value(text)
        return
    found = json_value(text)
    assert repr(found) == repr(expected)  # (repr: NaN is not equal to itself)
    assert type(found) is type(expected)


def test_session_rows_are_checked_before_a_reader_child_gets_them(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a session table writes is read back; a damaged row is skipped and counted by
    the agent (the reader child that restores them never sees it)."""
    rules = FilterLibrary(override_dir=None).load("sshd").sessions
    assert rules is not None
    table = SessionTable(rules)
    table.feed("Connection from 203.0.113.5 port 22 on 10.0.0.1 port 22", "sshd[1]", NOW)
    table.feed("Connection from 2001:db8::5 port 22 on 10.0.0.1 port 22", "sshd[2]", NOW)
    written = [(k, v) for k, v in table.changes() if v is not None]
    assert len(written) == 2
    damaged = [
        ("sshd[3]", "not json"),
        ("sshd[4]", json.dumps(["not-an-address", NOW])),
        ("sshd[5]", json.dumps(["203.0.113.6", "now"])),
        ("sshd[6]", '["203.0.113.7", NaN]'),
        ("sshd[7]", json.dumps(["203.0.113.8", NOW, 1])),
        ("sshd[8]", json.dumps({"203.0.113.9": NOW})),
    ]
    with caplog.at_level(logging.WARNING, logger="journalban.state"):
        kept = readable_rows(session_value, [*written, *damaged], "jail sshd sessions")
    assert kept == written
    assert _warned(caplog) == [
        "unreadable detector rows: 6 stored row(s) of jail sshd sessions could not be read "
        "and were skipped"
    ]
    restored = SessionTable(rules)
    restored.restore(kept, NOW)
    assert restored.changes() == []  # (loaded, not changed)
    assert sorted(restored._sessions.items()) == [
        ("sshd[1]", ("203.0.113.5", NOW)), ("sshd[2]", ("2001:db8::5", NOW)),
    ]  # fmt: skip
