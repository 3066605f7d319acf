"""Differential fuzz of journalban._announce against its pure-Python references (issue 19's
audit): random bans whose texts hold every class of character (NUL, controls, DEL, quotes,
backslashes, non-ASCII, astral, lone surrogates, very long), networks of both families
with odd remembered texts, odd numbers and times (0, negative, NaN, inf, 2**63) and values
of the wrong type. For each, the C function and the Python path give the same result, or
raise the same type of exception. Seeded (the same cases every run); run under
AddressSanitizer too (a build with -fsanitize=address,undefined)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from journalban import announcec
from journalban.addresses import format_network
from journalban.agent import banlines
from journalban.agent.banlines import ban_message, ban_messages
from journalban.agent.deciding import AgentDeciding
from journalban.bus import bannedwire
from journalban.firewall.base import BanEntry
from journalban.firewall.dryrun import DryRunBackend
from support import fuzzvalues as fz

if announcec.NATIVE is None:
    pytest.skip("journalban._announce is not built", allow_module_level=True)
native: announcec.Native = announcec.NATIVE

_HEAD = bannedwire._START.to_bytes(4, "little")


def _python_signal(ban: Any, serial: int) -> Any:
    """The Python path's signal of ``ban``: its bytes, or the type it is refused with."""
    out: list[bytes] = []
    try:
        refused = bannedwire._pack_run(iter((ban,)), lambda: serial, out)
    except Exception as exc:
        return type(exc)
    return out[0] if refused is None else type(refused[2])


def test_a_signal_c_packs_is_the_python_paths_bytes() -> None:
    """C packs a ban only where the Python path packs the same bytes; a ban it leaves
    (stop 0, no serial taken) the Python path packs or refuses itself."""
    rng = random.Random(2001)
    packed = left = 0
    for i in range(4000):
        ban = fz.anything(rng)
        serial = rng.choice([1, 2**31, 2**32 - 1, i + 1])
        ours = fz.outcome(
            native.pack_banned, [ban], 0, lambda s=serial: s, format_network, _HEAD,
            bannedwire._FIELDS,
        )  # fmt: skip
        theirs = _python_signal(ban, serial)
        if isinstance(ours, type):  # (raised: only what the Python path raises too)
            assert ours is theirs, (ban, ours, theirs)
            continue
        data, stop, taken = ours
        assert taken is None
        if stop == 1:
            assert data == theirs, ban
            packed += 1
        else:
            assert (data, stop) == (b"", 0)
            left += 1
    assert packed > 1000, (packed, left)
    assert left > 500, (packed, left)


def test_a_run_packs_as_its_bans_one_by_one() -> None:
    """Runs of odd bans: up to the first ban left, the bytes of each packed alone."""
    rng = random.Random(2002)
    for _ in range(300):
        bans = [fz.ban(rng, usual=0.8) for _ in range(rng.randrange(1, 12))]
        serials = iter(range(100, 10**6)).__next__
        data, stop, taken = native.pack_banned(
            bans, 0, serials, format_network, _HEAD, bannedwire._FIELDS
        )
        assert taken is None
        expected = b""
        for at in range(stop):
            expected += native.pack_banned(
                [bans[at]], 0, lambda at=at: 100 + at, format_network, _HEAD,  # type: ignore[misc]
                bannedwire._FIELDS,
            )[0]  # fmt: skip
        assert data == expected
        if stop < len(bans):
            assert (
                native.pack_banned(
                    [bans[stop]], 0, serials, format_network, _HEAD, bannedwire._FIELDS
                )[1]
                == 0
            )


def test_ban_lines_are_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2003)
    runs = [[fz.anything(rng) for _ in range(rng.randrange(1, 8))] for _ in range(700)]

    def each() -> list[Any]:
        banlines._rests.clear()
        return [fz.outcome(ban_messages, run) for run in runs]

    ours = each()
    monkeypatch.setattr(announcec, "NATIVE", None)
    theirs = each()
    for run, one, other in zip(runs, ours, theirs, strict=True):
        if isinstance(one, type) and isinstance(other, type):
            continue  # (two wrong values in a run: the Python path formats every network
            # first, so which one raises first may differ; each alone is compared below)
        assert one == other, run
    assert sum(isinstance(one, list) for one in ours) > 250


def test_a_ban_alones_line_is_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    """One ban a run, twice (the rest remembered the second time): the same line, or the
    same exception, but for a network the Python path cannot format whose other values are
    wrong too (it formats the networks first; ban_message computes the length first)."""
    rng = random.Random(2007)
    bans = [fz.anything(rng) for _ in range(2500)]

    def each() -> list[Any]:
        banlines._rests.clear()
        return [(fz.outcome(ban_messages, [ban]), fz.outcome(ban_messages, [ban])) for ban in bans]

    ours = each()
    monkeypatch.setattr(announcec, "NATIVE", None)
    theirs = each()
    for ban, one, other in zip(bans, ours, theirs, strict=True):
        if one != other:
            assert isinstance(fz.outcome(format_network, getattr(ban, "network", None)), type)
            assert isinstance(one[0], type), ban
            assert isinstance(other[0], type), ban


class _Agent:
    """What ``AgentDeciding._entries`` uses of the agent: which jails use the firewall."""

    def __init__(self, answers: dict[Any, Any]) -> None:
        self.answers = answers
        self.asked: list[Any] = []

    def _uses_firewall(self, jail: Any) -> Any:
        self.asked.append(jail)
        return self.answers.get(jail, jail == "sshd")


def test_ban_entries_are_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2004)
    runs = [[fz.anything(rng) for _ in range(rng.randrange(1, 8))] for _ in range(700)]
    answers = {"": None, "postfix": 0, "日本": "yes"}  # (not bools: as the Python path takes them)

    def each() -> list[Any]:
        out = []
        for run in runs:
            agent = _Agent(answers)
            got = fz.outcome(AgentDeciding._entries, agent, run)
            if isinstance(got, list):
                got = [(type(e), e.jail, e.network, e.expires_at) for e in got]
            out.append((got, agent.asked))
        return out

    ours = each()
    monkeypatch.setattr(announcec, "NATIVE", None)
    theirs = each()
    for run, one, other in zip(runs, ours, theirs, strict=True):
        assert repr(one) == repr(other), run


def test_hold_entries_is_the_python_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(2005)
    runs = []
    for _ in range(600):
        run: list[Any] = []
        for _ in range(rng.randrange(1, 8)):
            ban = fz.anything(rng)
            if rng.random() < 0.9 and all(hasattr(ban, f) for f in ("jail", "network")):
                run.append(BanEntry(ban.jail, ban.network, getattr(ban, "expires_at", None)))
            else:
                run.append(ban)
        runs.append((run, rng.choice([1_700_000_000.0, 0.0, float("nan"), 5, None])))

    def each() -> list[Any]:
        out = []
        for run, now in runs:
            backend = DryRunBackend()
            backend._bans = {"sshd": {}}
            banned: dict[Any, Any] = {}
            got = fz.outcome(backend.apply, run, [], now)
            out.append(repr((got, backend._bans, banned)))
        return out

    ours = each()
    monkeypatch.setattr(announcec, "NATIVE", None)
    theirs = each()
    for (run, _), one, other in zip(runs, ours, theirs, strict=True):
        assert one == other, run


def test_ban_lines_with_a_crafted_rests_dict() -> None:
    """rests holding values that are not str, and keys of every type: no line from them
    but ban_message's."""
    rng = random.Random(2006)
    bans = [fz.ban(rng, usual=1.0) for _ in range(400)]
    bans = [ban for ban in bans if type(fz.outcome(format_network, ban.network)) is str]
    rests: dict[Any, Any] = {}
    for ban in bans:
        length = None if ban.expires_at is None else max(0.0, ban.expires_at - ban.banned_at)
        key = (ban.jail, length, ban.source, ban.reason, ban.account)
        rests[key] = rng.choice([None, 5, b" x", " for 10m"])
    got = native.ban_lines(bans, rests, ban_message, format_network)
    for ban, line in zip(bans, got, strict=True):
        assert line.startswith("Ban " + format_network(ban.network))
