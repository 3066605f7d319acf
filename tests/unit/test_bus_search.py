"""FindBans (bus/search.py): filter and sort over the whole table, checked against plain Python.

The real bus and agent side is in tests/real/test_agent_dbus_pages.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import random
from typing import Any

import pytest
from dbus_fast import DBusError, Variant

from journalban import errors
from journalban.agent.api import JailInfo
from journalban.bus import search
from journalban.bus.paging import BanPages
from journalban.bus.search import BanSearch, Query
from journalban.events import Ban

NOW = 1_800_000_000.0
REASONS = ["failures", "manual", "recidive", "subnet", "account"]


class TableControl:
    """What BanPages reads of the agent: its start, its jails and its bans."""

    started_at = NOW - 100

    def __init__(self, bans: list[Ban]) -> None:
        self.bans = bans

    def jails(self) -> list[JailInfo]:
        return [JailInfo(n, True, n, (), (), (), 5, 600.0, 600.0) for n in ("sshd", "web")]

    def list_bans(self, jail: str | None = None) -> list[Ban]:
        return [b for b in self.bans if jail in (None, b.jail)]

    def active_bans(self) -> list[Ban]:
        return list(self.bans)


def _table(count: int) -> list[Ban]:
    rng = random.Random(16)
    bans = []
    for i in range(count):
        net = (
            ipaddress.ip_network(f"10.{i >> 8 & 255}.{i & 255}.{rng.randrange(256)}")
            if i % 3
            else ipaddress.ip_network(f"2001:db8:{i:x}::/64")
        )
        expires = None if i % 17 == 0 else NOW + rng.randrange(1, 50) * 60
        bans.append(
            Ban(rng.choice(["sshd", "web"]), net, NOW - rng.randrange(0, 40), expires,
                ban_count=rng.randrange(1, 4), reason=rng.choice(REASONS))
        )  # fmt: skip
    return bans


def _query(**values: Any) -> Query:
    sig = {"jail": "s", "text": "s", "sort": "s", "descending": "b"}
    return Query({k: Variant(sig[k], v) for k, v in values.items()})


def _expected(bans: list[Ban], q: Query) -> list[str]:
    """The obvious answer: GetBans's order, filtered, then a stable sort."""
    order = sorted(
        bans,
        key=lambda b: (-b.banned_at, b.jail, b.network.version, int(b.network.network_address),
                       b.network.prefixlen),
    )  # fmt: skip
    order = [b for b in order if q.jail in ("", b.jail)]
    if q.text:
        order = [b for b in order if q.text in f"{b.address}\0{b.jail}\0{b.reason}".lower()]
    if q.sort == "banned_at":
        order = order if q.descending else order[::-1]
    else:
        keys = {
            "expires_at": lambda b: math.inf if b.expires_at is None else b.expires_at,
            "count": lambda b: b.ban_count,
            "address": lambda b: (b.network.version, int(b.network.network_address)),
            "jail": lambda b: b.jail,
            "reason": lambda b: b.reason,
        }
        order = sorted(order, key=keys[q.sort], reverse=q.descending)
    return [f"{b.jail} {b.address}" for b in order]


def _find(bans: list[Ban], q: Query, offset: int = 0, limit: int = 100_000) -> list[str]:
    finder = BanSearch(BanPages(TableControl(bans)))  # type: ignore[arg-type]
    total, _, page = asyncio.run(finder.find(q, offset, limit))
    assert total >= len(page)
    return [f"{row[1]} {row[0]}" for row in page]


QUERIES = [
    {},
    {"text": "10.1."},
    {"text": "MANUAL"},
    {"text": "2001:db8:1"},
    {"jail": "web", "text": "sub"},
    {"sort": "expires_at"},
    {"sort": "expires_at", "descending": False},
    {"sort": "count", "text": "10."},
    {"sort": "address"},
    {"sort": "address", "descending": True},
    {"sort": "jail"},
    {"sort": "reason", "descending": True, "jail": "sshd"},
    {"sort": "banned_at", "descending": False},
    {"text": "no such thing"},
]


@pytest.mark.parametrize("values", QUERIES)
def test_find_selects_and_orders_the_whole_table(
    values: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "SLICE", 7)  # many slices and merged runs
    bans = _table(300)
    q = _query(**values)
    assert _find(bans, q) == _expected(bans, q)


def test_pages_of_a_search_are_cut_from_one_result() -> None:
    bans = _table(250)
    q = _query(text="10.", sort="address")
    whole = _expected(bans, q)
    pages = [p for offset in range(0, len(whole) + 50, 50) for p in _find(bans, q, offset, 50)]
    assert pages == whole


def test_kept_result_follows_the_generation() -> None:
    bans = _table(50)
    pages = BanPages(TableControl(bans))  # type: ignore[arg-type]
    finder = BanSearch(pages)
    q = _query(text="manual")

    async def scenario() -> tuple[int, int]:
        before = (await finder.find(q, 0, 1000))[0]
        extra = Ban("sshd", ipaddress.ip_network("192.0.2.9"), NOW, None, reason="manual")
        bans.append(extra)
        pages.banned(extra)
        return before, (await finder.find(q, 0, 1000))[0]

    before, after = asyncio.run(scenario())
    assert after == before + 1


@pytest.mark.parametrize(
    "bad",
    [
        {"colour": Variant("s", "red")},
        {"text": Variant("u", 3)},
        {"sort": Variant("s", "password")},
        {"text": Variant("s", "x" * 257)},
    ],
)
def test_bad_query_is_invalid_args(bad: dict[str, Variant]) -> None:
    with pytest.raises(DBusError) as caught:
        Query(bad)
    assert caught.value.type == "org.freedesktop.DBus.Error.InvalidArgs"


def test_unknown_jail_is_no_such_jail() -> None:
    with pytest.raises(errors.NoSuchJail):
        _find(_table(5), _query(jail="nope", text="x"))
