"""The restore from stored rows: keys straight from network texts, elements packed in one call.

Each fast path is checked against the general one it stands for: ``book_of``
against ``BanBook.record`` on ``BanEntry`` objects, ``address_elements``
against ``element``, and the element messages against those built one
element at a time.
"""

from __future__ import annotations

import ipaddress
import random

import pytest

from journalban.addresses import network_text
from journalban.firewall.base import BanEntry
from journalban.firewall.nftables import builder
from journalban.firewall.nftables.backend import build_element_batch
from journalban.firewall.nftables.constants import NFT_MSG_DELSETELEM, NFT_MSG_NEWSETELEM
from journalban.firewall.nftables.elements import (
    V4_BLOCKS,
    V4_TIMED_SIZE,
    address_elements,
    element,
    element_message,
    network_elements,
    timed_address_elements,
    timed_v4_block,
)
from journalban.firewall.nftables.netlink import MAX_ATTR_PAYLOAD, Message
from journalban.firewall.nftables.plan import INF, BanBook, ElementOp, key_of, kind_of
from journalban.firewall.nftables.stored import book_of, key_text
from journalban.state.rowcheck import host_rows

NOW = 1_000_000.0
STORED = [
    ("sshd", "192.0.2.1/32", NOW + 600),
    ("sshd", "192.0.2.2/32", None),
    ("sshd", "192.0.2.3/32", NOW - 1),  # expired
    ("sshd", "192.0.2.4/32", NOW),  # expires now: not running
    ("sshd", "2001:db8::5/128", NOW + 60),
    ("sshd", "2001:db8::/32", NOW + 60),  # an IPv6 /32: not the IPv4 shortcut
    ("sshd", "198.51.100.0/24", NOW + 900),
    ("sshd", "2001:db8:1::/64", None),
    ("sshd", "not-an-address/32", NOW + 60),  # skipped, as the state's reader does
    ("sshd", "256.1.1.1/32", NOW + 60),
    ("sshd", "010.1.1.1/32", NOW + 60),  # not canonical: the general parser decides
    ("web", "203.0.113.9/32", NOW + 60),
    ("gone", "203.0.113.10/32", NOW + 60),  # a jail without sets
]


def _entries(stored: list[tuple[str, str, float | None]]) -> list[BanEntry]:
    out = []
    for jail, text, expires in stored:
        try:
            network = ipaddress.ip_network(text)
        except ValueError:
            continue
        out.append(BanEntry(jail, network, expires))
    return out


def test_book_of_stored_bans_is_what_record_makes_of_the_same_bans() -> None:
    jails = {"sshd", "web"}
    book = BanBook()
    book.record([e for e in _entries(STORED) if e.jail in jails], NOW)
    assert book_of(STORED, jails, NOW) == book.bans
    assert book.bans[("sshd", "v4")] == {
        (int(ipaddress.IPv4Address("192.0.2.1")), 32): NOW + 600,
        (int(ipaddress.IPv4Address("192.0.2.2")), 32): INF,
    }


def test_book_of_parsed_rows_is_book_of_the_rows() -> None:
    rows = [
        ("sshd", "192.0.2.1/32", NOW + 600),
        ("sshd", "192.0.2.3/32", NOW - 1),  # expired
        ("sshd", "192.0.2.4/32", NOW),  # expires now: not running
        ("web", "203.0.113.9/32", NOW + 60),
        ("gone", "203.0.113.10/32", NOW + 60),  # a jail without sets
        ("sshd", "192.0.2.1/32", NOW + 700),  # the same address again: the last one counts
        ("web", "203.0.113.8/32", NOW - 5),
    ]
    for stored in (rows, rows[:1], rows[1:3], rows[3:5], rows[4:5]):
        hosts = host_rows(stored)
        assert hosts is not None
        assert book_of(hosts, {"sshd", "web"}, NOW) == book_of(list(stored), {"sshd", "web"}, NOW)
    assert book_of(host_rows(rows[1:3]), {"sshd"}, NOW) == {}  # type: ignore[arg-type]


def test_key_text_is_the_network_text_the_state_writes() -> None:
    for text in ("192.0.2.1/32", "198.51.100.0/24", "2001:db8::5/128", "2001:db8:1::/64"):
        network = ipaddress.ip_network(text)
        assert key_text(kind_of(network), key_of(network)) == network_text(network) == text


def test_address_elements_are_the_elements_one_at_a_time() -> None:
    rng = random.Random(7)
    for width in (4, 16):
        keys = [(rng.getrandbits(8 * width), rng.choice([None, rng.getrandbits(40) + 1]))]
        keys += [(0, None), ((1 << (8 * width)) - 1, 1)]
        keys += [(rng.getrandbits(8 * width), rng.getrandbits(30)) for _ in range(200)]
        assert address_elements(width, keys) == [
            element(a.to_bytes(width, "big"), t) for a, t in keys
        ]


def _one_at_a_time(table: str, ops: list[ElementOp], now: float) -> list[Message]:
    """The element messages as built before the fast path: element by element."""
    grouped: dict[tuple[bool, str], list[bytes]] = {}
    for op in ops:
        timeout = None
        if not op.delete and op.expiry != INF:
            timeout = max(1, int((op.expiry - now) * 1000))
        found = grouped.setdefault((not op.delete, builder.set_name(op.jail, op.kind)), [])
        if op.kind in ("v4", "v6"):
            found.append(element(op.key[0].to_bytes(op.key[1] // 8, "big"), timeout))
        else:
            found += network_elements(op.network, timeout)
    messages = []
    for (adding, name), elements in sorted(grouped.items(), key=lambda kv: kv[0][0]):
        kind = NFT_MSG_NEWSETELEM if adding else NFT_MSG_DELSETELEM
        chunk: list[bytes] = []
        for elem in elements:
            if chunk and sum(map(len, chunk)) + len(elem) > MAX_ATTR_PAYLOAD:
                messages.append(element_message(kind, table, name, chunk))
                chunk = []
            chunk.append(elem)
        if chunk:
            messages.append(element_message(kind, table, name, chunk))
    return messages


def test_element_messages_are_those_built_one_element_at_a_time() -> None:
    rng = random.Random(3)
    ops = []
    for i in range(6000):  # several messages per set (60,000 bytes each)
        expiry = rng.choice([INF, NOW + rng.randint(1, 10**6), NOW - 5])
        ops.append(ElementOp("sshd", "v4", (rng.getrandbits(32), 32), expiry, i % 7 == 0))
    for i in range(700):
        ops.append(ElementOp("web", "v6", (rng.getrandbits(128), 128), NOW + i, i % 5 == 0))
    for text in ("198.51.100.0/24", "255.255.255.0/24", "2001:db8:1::/64"):
        network = ipaddress.ip_network(text)
        ops.append(ElementOp("sshd", kind_of(network), key_of(network), NOW + 60))
        ops.append(ElementOp("sshd", kind_of(network), key_of(network), NOW + 60, True))
    ops.sort(key=lambda op: not op.delete)
    got = build_element_batch("journalban", ops, NOW)
    want = _one_at_a_time("journalban", ops, NOW)
    assert len(got) > 4
    assert [(m.kind, m.flags, m.payload) for m in got] == [
        (m.kind, m.flags, m.payload) for m in want
    ]


def test_a_restores_elements_built_as_one_block_are_those_built_one_at_a_time() -> None:
    rng = random.Random(5)
    assert V4_BLOCKS  # (on this machine: the block is what the test below checks)
    for count in (1, 2, 2141, 2142, 2143, 6000):  # (2,142 elements of 28 bytes a message)
        ops = [
            ElementOp("sshd", "v4", (rng.getrandbits(32), 32), NOW + rng.randint(-5, 10**7))
            for _ in range(count)
        ]
        ops[0] = ElementOp("sshd", "v4", (0xFFFFFFFF, 32), NOW + 0.0004)  # (under 1 ms: 1)
        got = build_element_batch("journalban", ops, NOW)
        want = _one_at_a_time("journalban", ops, NOW)
        assert [(m.kind, m.flags, m.payload) for m in got] == [
            (m.kind, m.flags, m.payload) for m in want
        ]
    addresses = [rng.getrandbits(32) for _ in range(300)] + [0, 0xFFFFFFFF]
    timeouts = [rng.getrandbits(63) + 1 for _ in range(301)] + [(1 << 64) - 1]
    block = timed_v4_block(addresses, timeouts)
    assert block == b"".join(timed_address_elements(4, addresses, timeouts))
    assert len(block) == V4_TIMED_SIZE * len(addresses)
    with pytest.raises(ValueError, match="one timeout per address"):
        timed_v4_block(addresses, timeouts[1:])


def test_commit_records_deletes_and_adds_per_set() -> None:
    book = BanBook()
    book.held[("sshd", "v4")] = {(1, 32): NOW + 5, (2, 32): NOW + 5}
    book.commit([
        ElementOp("sshd", "v4", (1, 32), NOW + 5, True),
        ElementOp("sshd", "v4", (3, 32), NOW + 9),
        ElementOp("sshd", "v4", (1, 32), NOW + 7),
        ElementOp("web", "v6", (4, 128), INF),
        ElementOp("sshd", "v4", (2, 32), NOW + 5, True),
    ])  # fmt: skip
    assert book.held == {
        ("sshd", "v4"): {(1, 32): NOW + 7, (3, 32): NOW + 9},
        ("web", "v6"): {(4, 128): INF},
    }


def test_plan_all_sends_deletes_first_in_their_order() -> None:
    book = BanBook()
    book.held[("sshd", "v4")] = {(1, 32): NOW + 5, (2, 32): NOW + 5}
    book.take({("sshd", "v4"): {(2, 32): NOW + 500, (3, 32): NOW + 9}})
    ops = book.plan_all(NOW, slack=2.0)
    assert [(op.key, op.delete) for op in ops] == [
        ((1, 32), True),
        ((2, 32), True),
        ((2, 32), False),
        ((3, 32), False),
    ]


def _same(a: float, b: float, slack: float) -> bool:
    if a == INF or b == INF:
        return a == b
    return abs(a - b) <= slack


def test_the_diff_is_the_one_of_expiries_within_the_slack() -> None:
    """``_diff`` (its comparison written out) against the rule it states, on random books."""
    from journalban.firewall.nftables.plan import _diff

    rng = random.Random(11)
    values = [INF, NOW - 1, NOW, NOW + 1, NOW + 2, NOW + 2.5, NOW + 3, NOW + 60]
    for _ in range(300):
        held = {(rng.randrange(20), 32): rng.choice(values) for _ in range(rng.randrange(12))}
        wanted = {(rng.randrange(20), 32): rng.choice(values) for _ in range(rng.randrange(12))}
        want_ops = [
            ElementOp("sshd", "v4", k, have, True)
            for k, have in held.items()
            if have > NOW and (k not in wanted or not _same(have, wanted[k], 2.0))
        ] + [
            ElementOp("sshd", "v4", k, want)
            for k, want in wanted.items()
            if k not in held or held[k] <= NOW or not _same(held[k], want, 2.0)
        ]
        assert _diff("sshd", "v4", held, wanted, NOW, 2.0) == want_ops


def test_a_restart_into_a_kernel_holding_every_ban_sends_nothing() -> None:
    """``_diff``'s shortcut (every held element as wanted, within the slack) against its loop."""
    from journalban.firewall.nftables.plan import _all_alike, _diff

    wanted = {(i, 32): NOW + 100 + i for i in range(50)}
    held = {key: expiry + 1.5 for key, expiry in reversed(wanted.items())}
    assert _all_alike(held, wanted, NOW, 2.0)
    assert _diff("sshd", "v4", held, wanted, NOW, 2.0) == []
    changed = [
        {**held, (3, 32): NOW + 103 + 2.5},  # beyond the slack
        {**held, (3, 32): NOW},  # run out in the kernel
        {**{k: e for k, e in held.items() if k != (3, 32)}, (99, 32): NOW + 5},  # another key
        {k: e for k, e in held.items() if k != (3, 32)},  # one missing
        {**held, (99, 32): NOW + 5},  # one more
        {**held, (3, 32): INF},  # permanent in the kernel
    ]
    for other in changed:
        assert not _all_alike(other, wanted, NOW, 2.0)
        ops = _diff("sshd", "v4", other, wanted, NOW, 2.0)
        assert ops, other
    assert not _all_alike({**held, (3, 32): INF}, {**wanted, (3, 32): INF}, NOW, 2.0)
    assert _diff("sshd", "v4", {**held, (3, 32): INF}, {**wanted, (3, 32): INF}, NOW, 2.0) == []


class _Socket:
    """Takes element batches as the kernel would, refusing the ``refuse``-th (from 0)."""

    def __init__(self, refuse: int = -1) -> None:
        self.refuse, self.sent = refuse, 0

    def transact(self, messages: list[Message]) -> None:
        if self.sent == self.refuse:
            from journalban.errors import BackendError

            raise BackendError("refused", 22)
        self.sent += 1

    def close(self) -> None:
        pass


def test_chunks_are_sent_in_turn_and_a_refused_one_stops_the_rest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from journalban.errors import BackendError
    from journalban.firewall.nftables import backend as backend_module
    from journalban.firewall.nftables.backend import NftablesBackend

    monkeypatch.setattr(backend_module, "SEND_CHUNK", 10)
    ops = [ElementOp("sshd", "v4", (i, 32), NOW + 60) for i in range(45)]  # five chunks
    whole = NftablesBackend()
    whole._sock = _Socket()  # type: ignore[assignment]
    whole._send(ops, NOW)
    assert whole._sock.sent == 5  # type: ignore[union-attr]
    assert whole._book.held[("sshd", "v4")] == {(i, 32): NOW + 60 for i in range(45)}

    cut = NftablesBackend()
    cut._sock = _Socket(refuse=2)  # type: ignore[assignment]
    with pytest.raises(BackendError):
        cut._send(ops, NOW)
    assert cut._sock.sent == 2  # type: ignore[union-attr]  # nothing after the refused chunk
    assert cut._book.held[("sshd", "v4")] == {(i, 32): NOW + 60 for i in range(20)}
