"""Detector rows' text without json.dumps (jails.rowtext) is json.dumps's text, byte for byte.

The state database holds these texts: a difference would change what a
restart reads back (and tests/unit/test_decisions_corpus_fixed.py's hashes).
"""

from __future__ import annotations

import json
import random
from json.encoder import encode_basestring_ascii
from pathlib import Path

import pytest

from journalban.jails.rowtext import ints_text, number_text, time_text, times_text


def test_bucket_pairs_as_json_dumps_writes_them() -> None:
    rng = random.Random(5)
    for n in range(300):
        values = [rng.randint(-(10**12), 10**12) for _ in range(n % 49)]
        assert ints_text(values) == json.dumps(values)


def test_networks_and_times_as_json_dumps_writes_them() -> None:
    rng = random.Random(6)
    for n in range(300):
        times: dict[str, float] = {}
        for i in range(n % 23):
            if rng.random() < 0.5:
                key = f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{i}.{rng.randint(0, 255)}/32"
            else:
                key = f"2001:db8:{rng.randint(0, 0xFFFF):x}:{i:x}::/64"
            times[key] = rng.choice(
                [rng.uniform(1e9, 2e9), float(rng.randint(1, 2 * 10**9)), 1e16 + i, 0.1 * i]
            )
        assert times_text(times) == json.dumps(times)
        for key, when in times.items():  # a prefix where one network failed
            assert time_text(key, when) == json.dumps({key: when})


def test_any_other_key_or_time_is_left_to_json_dumps() -> None:
    odd: list[dict[str, float]] = [
        {'a"b': 1.0},
        {"back\\slash": 2.5},
        {"ünïcode/32": 3.0},
        {"192.0.2.1/32": float("inf")},
        {"192.0.2.1/32": float("nan")},
        {"192.0.2.1/32": 7},  # an int time (a value read back from JSON)
        {},
    ]
    for times in odd:
        assert times_text(times) == json.dumps(times)
        for key, when in times.items():
            assert time_text(key, when) == json.dumps({key: when})


def test_any_key_is_quoted_as_json_dumps_quotes_it() -> None:
    """A key is written by json.dumps's own quoting (``rowtext.quoted``), not checked for
    plain characters first: quotes, backslashes, control characters, non-ASCII and lone
    surrogates give json.dumps's text in every form a prefix's or an account's networks
    take (``subnet.networks_text``: a (network, time) pair or a dict)."""
    from journalban.jails.rowtext import quoted
    from journalban.jails.subnet import networks_text

    rng = random.Random(11)
    alphabet = '0a.:/ "\\\n\t\x00\x1f\x7fé€😀\udcff'
    times_of = [1.5e9, 1733400000.0, 7, 0.1, 1e16, float("inf"), float("nan")]
    for n in range(400):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        when = rng.choice(times_of)
        assert quoted(key) == json.dumps(key)
        assert time_text(key, when) == json.dumps({key: when})
        assert networks_text((key, when)) == json.dumps({key: when})
        times = {key: when, f"{n}.0.2.1/32": 1.5e9 + n}
        assert times_text(times) == json.dumps(times)
        assert networks_text(times) == json.dumps(times)


def test_a_bans_lines_as_json_dumps_writes_them() -> None:
    """Attacker text: quotes, backslashes, control characters, non-ASCII, lone surrogates."""
    from journalban.state.commitrows import lines_text as _lines_text

    rng = random.Random(8)
    alphabet = 'ab "\\\n\t\x00\x1f\x7fé€😀\udcff/:[],'
    for n in range(300):
        lines = [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(n % 12)
        ]
        assert _lines_text(lines) == json.dumps(lines)
        assert _lines_text(tuple(lines)) == json.dumps(list(lines))


def test_a_batchs_plain_lines_are_written_without_escaping_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``lines_texts``: a batch whose lines json leaves as they are (printable ASCII but the
    quote and the backslash) is written without json's escape of each line; a batch with
    one line of any other character, or a ban without lines, escapes each as before. Every
    text is json.dumps's."""
    from journalban.state import commitrows

    rng = random.Random(12)
    plain = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) not in '"\\')
    odd = '"\\\n\t\x00\x01\x1f\x7fé€😀\udcff'
    escaped: list[str] = []

    def escape(text: str) -> str:
        escaped.append(text)
        return encode_basestring_ascii(text)

    monkeypatch.setattr(commitrows, "encode_basestring_ascii", escape)
    for n in range(300):
        each = [
            tuple(
                "".join(rng.choice(plain) for _ in range(rng.randint(0, 30)))
                for _ in range(1 + rng.randrange(4))
            )
            for _ in range(1 + n % 9)
        ]
        escaped.clear()
        assert commitrows.lines_texts(each) == [json.dumps(list(lines)) for lines in each]
        assert escaped == []  # (one join and one split: no escape of each line)
        spoilt = [list(lines) for lines in each]
        if n % 3 == 0:
            spoilt[rng.randrange(len(spoilt))] = []  # (a ban without lines: "[]")
        else:
            lines = spoilt[rng.randrange(len(spoilt))]
            at = rng.randrange(len(lines))
            cut = rng.randint(0, len(lines[at]))
            lines[at] = lines[at][:cut] + rng.choice(odd) + lines[at][cut:]
        spoilt_each = [tuple(lines) for lines in spoilt]
        assert commitrows.lines_texts(spoilt_each) == [json.dumps(x) for x in spoilt]
        assert escaped or n % 3 == 0


def test_a_time_as_json_dumps_writes_it() -> None:
    """Known-good pairs' last logins and accounts' ends of hold."""
    rng = random.Random(9)
    values: list[float] = [rng.uniform(1e9, 2e9) for _ in range(300)]
    values += [0.0, -0.0, 1e16, 1e-7, 5e-324, 7, 0, -3, float(2**60), 1.5e300]
    values += [float("inf"), float("-inf"), float("nan"), True]
    for value in values:
        assert number_text(value) == json.dumps(value), value


def test_a_commits_ban_columns_as_each_ban_gave_them() -> None:
    """``ban_values``: each ban's columns, its network as ``str`` gives it (remembered or
    not), its lines as json.dumps writes them (one line escaped inline), no account NULL."""
    import ipaddress

    from journalban.addresses import network_text, stored_network
    from journalban.events import Ban
    from journalban.state.commitrows import BAN_COLUMNS, ban_values

    rng = random.Random(10)
    alphabet = 'ab "\\\n\t\x00\x1f\x7fé€😀\udcff/:[],'
    bans: list[Ban] = []
    for n in range(200):
        if n % 3:
            network = stored_network(f"198.51.{n % 256}.{rng.randint(0, 255)}/32")
            if n % 2:
                network_text(network)  # (remembered)
        else:
            network = ipaddress.ip_network(f"2001:db8:{n:x}::/64")  # (not remembered)
        lines = tuple(
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(n % 4)
        )
        bans.append(Ban(
            "sshd", network, 1e9 + n, None if n % 5 == 0 else 2e9 + n, n % 3 + 1,
            "account" if n % 2 else "failures", n, f"files:/var/log/{n % 3}", lines,
            "root" if n % 7 == 0 else "",
        ))  # fmt: skip
    values = ban_values(bans)
    assert len(values) == BAN_COLUMNS * len(bans)
    for at, ban in enumerate(bans):
        row = values[at * BAN_COLUMNS : (at + 1) * BAN_COLUMNS]
        assert row == [
            ban.jail, str(ban.network), ban.banned_at, ban.expires_at, ban.ban_count,
            ban.reason, ban.failures, ban.source, json.dumps(list(ban.lines)),
            ban.account or None,
        ]  # fmt: skip


def test_a_batchs_new_failures_as_json_dumps_writes_them(tmp_path: Path) -> None:
    """The failure log's text of a batch's new failures (state.commitrows: an encoder made
    once, no check for a list holding itself) is json.dumps's, odd times included."""
    from journalban.state.store import BatchCommit, StateStore

    rng = random.Random(11)
    odd = [0.0, -0.0, 1e16, 5e-324, float("inf"), float("-inf"), 7]  # (NaN: no newest)
    batches = []
    for n in range(40):
        failures = [
            (f"198.51.100.{rng.randint(0, 255)}/32", rng.choice([rng.uniform(1e9, 2e9), *odd]))
            for _ in range(n % 9)
        ]
        batches.append(BatchCommit("sshd", position=f"p{n}", new_failures=failures))
    store = StateStore(tmp_path / "state.sqlite")
    store.commit(batches)
    stored = [f for (f,) in store.db.execute("SELECT failures FROM failure_log ORDER BY seq")]
    assert stored == [json.dumps(b.new_failures) for b in batches if b.new_failures]
    store.close()


def test_slow_and_subnet_write_their_rows_as_json_dumps_writes_them() -> None:
    """``SlowWindow.changes`` and ``SubnetCrowd.changes`` write their rows' texts in their own
    comprehension over ``Tracked.changed`` (no call a row): each value as json.dumps writes
    it in every form kept (a first failure's int bucket, the flat pairs; a prefix's one
    network at a finite, infinite, nan or int time, its dict), a key dropped as None, in
    the order changed, and nothing again until changed."""
    from journalban.config.detectors import SlowConfig, SubnetConfig
    from journalban.jails.slow import SlowWindow
    from journalban.jails.subnet import SubnetCrowd

    slow = SlowWindow(SlowConfig(), 100)
    buckets: list[tuple[str, int | list[int] | None]] = [
        ("192.0.2.1/32", 70000),
        ("192.0.2.2/32", [69990, 2, 70000, 1]),
        ("2001:db8::/64", -3),
        ("192.0.2.1/32", [70000, 2]),  # (changed again: its place kept, the last value)
        ("192.0.2.9/32", None),
    ]
    for key, value in buckets:
        slow.keys.touch(key, 5 if value is None else value)
        if value is None:
            slow.keys.drop(key)
    assert slow.changes() == [
        ("192.0.2.1/32", json.dumps([70000, 2])),
        ("192.0.2.2/32", json.dumps([69990, 2, 70000, 1])),
        ("2001:db8::/64", json.dumps([-3, 1])),
        ("192.0.2.9/32", None),
    ]
    assert slow.changes() == []
    slow.keys.touch("192.0.2.5/32", 1)
    assert slow.keys.changed() == {"192.0.2.5/32": 1}  # (handed over once, as changes())
    assert slow.changes() == []

    crowd = SubnetCrowd(SubnetConfig(), 1000)
    ones = [1.7e9 + 0.25, float("inf"), float("-inf"), float("nan"), 7, 0.1]
    keys = ["192.0.2.1/32", 'a"b\\c', "ünï\x01code", "\ud800/32", "2001:db8::/64", "x"]
    expected: list[tuple[str, str | None]] = []
    for i, (network, when) in enumerate(zip(keys, ones, strict=True)):
        crowd.prefixes.touch(f"p{i}", (network, when))
        expected.append((f"p{i}", json.dumps({network: when})))
    many = {"192.0.2.1/32": 1.5, 'q"/32': float("nan"), "192.0.2.2/32": 3}
    crowd.prefixes.touch("p9", many)
    crowd.prefixes.touch("p10", ("192.0.2.3/32", 2.0))
    crowd.prefixes.drop("p10")
    assert crowd.changes() == [*expected, ("p9", json.dumps(many)), ("p10", None)]
    assert crowd.changes() == []


def test_known_good_rows_as_json_dumps_writes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """``KnownGood.changes`` writes a pair's time as json.dumps writes it: a finite float's
    ``repr`` in its own comprehension (``number_text`` not called: a call less a row), an
    int, an infinite or a nan time through ``number_text``; a forgotten pair as None."""
    from journalban.config.detectors import KnownGoodConfig
    from journalban.jails import knowngood
    from journalban.jails.knowngood import KnownGood

    good = KnownGood(KnownGoodConfig(keep=1e6, max_pairs=100))
    times: list[float] = [1.7e9 + 0.25, 0.0, 1e16, 5e-324, 7, float("inf"), float("nan")]
    for i, when in enumerate(times):
        good.pairs.touch(f"user{i}\x00192.0.2.{i}/32", when)
    good.pairs.touch("gone\x00192.0.2.99/32", 1.0)
    good.pairs.drop("gone\x00192.0.2.99/32")
    called: list[object] = []
    real = number_text

    def noted(value: float) -> str:
        called.append(value)
        return real(value)

    monkeypatch.setattr(knowngood, "number_text", noted)
    rows = good.changes()
    assert rows == [
        *((f"user{i}\x00192.0.2.{i}/32", json.dumps(when)) for i, when in enumerate(times)),
        ("gone\x00192.0.2.99/32", None),
    ]
    assert [type(v) for v in called] == [int, float, float]  # (7, inf, nan)
    assert good.changes() == []
