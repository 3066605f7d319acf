"""A network's first ban in C (decisions.nativeban, ``_banrun``: ``first_ban`` and
``apply_verdicts``) against the Python path.

The same traffic (test_first_failure_banned's: IPv4 and IPv6 networks, ignored and junk
addresses, known-good pairs, long lines cut and non-ASCII ones, bans ended by the clock
when decided, a reload and a restart) decided with the C ``first_ban`` and with the
Python one, for a jail whose actions read no lines and one whose do: every commit, ban,
kept line, count and stored row the same. Crafted network texts give the C module's
network what ``stored_network_text`` gives, or its very error; its ``Ban`` makers build
the dataclass's objects; and nothing it touches leaks a reference or memory.
"""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from test_first_failure_banned import NOW, _engine, _held, _rows, _traffic, committed_lines

from journalban.addresses import stored_network_text
from journalban.clock import FakeClock
from journalban.decisions import banmaker, nativeban, plainban
from journalban.decisions.engine import DecisionEngine
from journalban.decisions.runtime import Changes
from journalban.errors import AddressError
from journalban.events import Ban, LineBatch, lineless
from journalban.state.store import BatchCommit, StateStore

pytestmark = pytest.mark.skipif(nativeban.NATIVE is None, reason="_banrun not built")

MAIL = ({"type": "firewall"}, {"type": "mail", "to": "x"})


def _decide(path: Path, seed: int, actions: tuple[dict[str, str], ...]) -> list[Any]:
    """Everything decided and kept over ``_traffic(seed)``, a restart midway."""
    clock = FakeClock(NOW)
    store = StateStore(path)
    engine = _engine(store, clock, max_tracked=40)
    seen: list[Any] = []
    for i, hits in enumerate(_traffic(seed, 60)):
        if i == 30:
            store.close()
            store = StateStore(path)
            engine = _engine(store, clock, max_tracked=40)
            engine.load_bans()
        rt = engine.jails["sshd"]
        rt.config = dataclasses.replace(rt.config, actions=actions)
        batch = LineBatch("journal", [h[0] for h in hits], f"c{i}", prefixed=False)
        changes = engine.process_hits("sshd", batch, hits)
        seen.append(
            [
                (c.bans, c.history, c.new_failures, c.cleared, c.failed_delta, c.banned_delta)
                for c in changes.commits
            ]
            + [changes.bans, committed_lines(changes, changes.bans), changes.pending_bans]
            + [[(b.lines, b.account, type(b.network)) for b in changes.bans], _held(engine)]
            + [sorted(engine._virtual.items())]
        )
        store.commit(changes.commits)
        engine.forget_lines(changes.bans)
        if i % 7 == 6:
            clock.set(NOW + i)
            engine.expire()
    store.close()
    return [*seen, _rows(path)]


@pytest.mark.parametrize("actions", [(), MAIL])
@pytest.mark.parametrize("seed", range(6))
def test_the_c_first_bans_decide_as_the_python_path(
    tmp_path: Path, seed: int, actions: tuple[dict[str, str], ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[bool] = []
    native = nativeban.NATIVE
    assert native is not None

    def counted(*args: Any) -> Any:
        found = native(*args)
        calls.append(found is None)
        return found

    def refused(*args: Any) -> bool:
        raise AssertionError("PlainBans.ban called with the C path on")

    with monkeypatch.context() as patch:
        patch.setattr(nativeban, "first_ban", counted)
        patch.setattr(plainban.PlainBans, "ban", refused)
        ours = _decide(tmp_path / "c.sqlite", seed, actions)
    assert calls.count(True) > 5  # first bans
    assert False in calls  # and general ones
    assert not nativeban.use(False)
    try:
        theirs = _decide(tmp_path / "py.sqlite", seed, actions)
    finally:
        assert nativeban.use(True)
    assert len(ours) == len(theirs)
    for step, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert a == b, step


CRAFTED = [
    "0.0.0.0/32", "1.2.3.4/32", "255.255.255.255/32", "203.0.113.9/32", "10.0.0.255/32",
    "01.2.3.4/32", "1.2.3.04/32", "1.2.3.4/032", "256.0.0.1/32", "1.2.3/32", "1.2.3.4.5/32",
    "1.2.3.4 /32", " 1.2.3.4/32", "1.2.3.4/32 ", "1.2.3.4/32\n", "1.2.3.4\x00/32",
    "\u0661.2.3.4/32", "1.2.3.4\u0661/32", "1..3.4/32", ".1.2.3/32", "1.2.3./32", "1.2.3.4/",
    "1.2.3.4/33", "1.2.3.4", "/32", "", "1234.1.1.1/32", "1.2.3.4/31", "1.2.3.0/24",
    "2001:db8::/64", "2001:db8::1/128", "::ffff:1.2.3.4/128", "::/0", "1.2.3.4/32/32",
    "9999999999.1.1.1/32", "1.2.3.4x/32", "a.b.c.d/32", "1.2.3.4" + "/32" * 10,
]  # fmt: skip


@pytest.mark.parametrize("text", CRAFTED)
def test_a_crafted_text_gives_stored_network_texts_network_or_error(text: str) -> None:
    from journalban.decisions import _banrun

    try:
        theirs: Any = stored_network_text(text)
    except (AddressError, ValueError) as exc:
        with pytest.raises(type(exc)):
            _banrun.network_text(text)
        return
    ours = _banrun.network_text(text)
    assert ours[1] == theirs[1]
    assert nativeban._same_network(ours[0], theirs[0])
    assert ours[0] == ipaddress.ip_network(theirs[1])


def test_verdicts_the_c_loop_does_not_take_go_the_python_way(tmp_path: Path) -> None:
    """A subnet's verdict, or anything but a list or tuple of 6-tuples: the method itself
    (the same result, or the same error)."""
    apply = nativeban.apply_verdicts
    assert apply is not None
    engine = _engine(StateStore(tmp_path / "s.sqlite"), FakeClock(NOW), max_tracked=1000)
    rt = engine.jails["sshd"]
    commit = BatchCommit(jail="sshd", source="c")
    changes = Changes(commits=[commit])
    calls: list[int] = []
    method = engine._apply_verdicts

    def counted(*args: Any) -> list[str]:
        calls.append(len(args))
        return method(*args)

    engine._apply_verdicts = counted  # type: ignore[method-assign,assignment]
    banned = engine.bans.texts_of("sshd")
    virtual = engine._virtual.of("sshd")
    given = (rt, NOW - 5.0, "c", commit, changes, NOW, banned, virtual)

    def run(verdicts: Any) -> list[str]:
        return apply(engine, given[0], verdicts, *given[1:])

    assert isinstance(run([("subnet", "198.51.100.0/24", 4, None, None, ())]), list)
    assert calls == [9]
    with pytest.raises(ValueError, match="unpack"):
        run([("account", "203.0.113.1/32", 1, None)])
    assert run(iter([("account", "203.0.113.1/32", 1, -1.0, "root", ())])) == ["203.0.113.1/32"]
    assert len(calls) == 3
    assert run(()) == []
    assert run([("account", "203.0.113.2/32", 1, -1.0, "root", ())]) == ["203.0.113.2/32"]
    assert len(calls) == 3


def test_a_str_subclass_key_goes_the_python_way() -> None:
    from journalban.decisions import _banrun

    class Text(str):
        pass

    ours = _banrun.network_text(Text("192.0.2.7/32"))
    assert ours[0] == ipaddress.ip_network("192.0.2.7/32")


@pytest.mark.parametrize("expires", [None, 99.5])
def test_the_c_ban_makers_build_the_dataclasss_bans(expires: float | None) -> None:
    from journalban.decisions import _banrun

    net = stored_network_text("203.0.113.5/32")[0]
    args = ("sshd", net, 12.25, expires, 2, "account", 7, "journal", ("l1", "l2"), "root")
    ban, bare = _banrun.new_ban_pair(*args)
    assert banmaker._alike(_banrun.new_ban(*args), Ban(*args))
    assert banmaker._alike(ban, Ban(*args))
    assert banmaker._alike(bare, lineless(Ban(*args)))
    with pytest.raises(TypeError):
        _banrun.new_ban(*args[:9])  # type: ignore[call-arg]
    with pytest.raises(dataclasses.FrozenInstanceError):
        ban.jail = "x"  # type: ignore[misc]


def _first_bans(engine: DecisionEngine, names: list[str], source: str, line: str) -> int:
    """``first_ban`` of each network text in one step, flushed; how many were first bans
    (some ended by the clock when decided, some not)."""
    rt = engine.jails["sshd"]
    commit = BatchCommit(jail="sshd", source=source)
    changes = Changes(commits=[commit])
    plain = engine._plain = engine._plain_bans(rt, commit, changes)
    apply = nativeban.apply_verdicts
    assert apply is not None
    banned, virtual = engine.bans.texts_of("sshd"), engine._virtual.of("sshd")
    done = 0
    for i, key in enumerate(names):
        if i % 3 == 0:
            rt.recent_lines.held = (key, line)
        when, account = NOW - 100.0 + i % 120, "root" if i % 2 else None
        if i % 4 == 1:  # (the verdicts' loop in C: the same first ban)
            verdicts = [("account", key, 1, -1.0, account, ())]
            spent = apply(engine, rt, verdicts, when, source, commit, changes, NOW, banned,
                          virtual)  # fmt: skip
            done += spent == [key]
            continue
        done += nativeban.first_ban(plain, key, when, 1, source, NOW, "account", -1.0,
                                    account) is None  # fmt: skip
    engine._first.flush(engine.bans, engine._decided)
    return done


def test_the_c_first_bans_leak_no_reference_and_no_memory(tmp_path: Path) -> None:
    assert nativeban.use(True)
    source = "".join(["journal", ":", str(id(tmp_path))])  # (not interned: its own count)
    line = "".join(["Failed password for root from ", "x" * 3000])  # (cut)
    names = [f"203.0.{i // 256}.{i % 256}/32" for i in range(2000)]
    names += ["2001:db8::/64", "198.51.100.0/24"]
    before = sys.getrefcount(source), sys.getrefcount(line)
    rounds = iter(range(100))

    def one_round() -> None:
        n = next(rounds)
        store = StateStore(tmp_path / f"{n}.sqlite")
        engine = _engine(store, FakeClock(NOW), max_tracked=1000)
        rt = engine.jails["sshd"]  # (the pair made, or one ban: lines read or not)
        rt.config = dataclasses.replace(rt.config, actions=MAIL if n % 2 else ())
        store.ban_history(ipaddress.ip_network("192.0.2.1/32"), 0.0, "192.0.2.1/32")  # (known)
        assert _first_bans(engine, names, source, line) == len(names)
        store.close()

    one_round()
    one_round()
    gc.collect()
    tracemalloc.start()
    try:
        one_round()
        gc.collect()
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(5):
            one_round()
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert grown < 64 * 1024, grown
    assert (sys.getrefcount(source), sys.getrefcount(line)) == before


def test_the_c_makers_and_networks_leak_no_reference() -> None:
    from journalban.decisions import _banrun

    jail, text = "".join(["web", "-jail"]), "".join(["192.0.2.", "77/32"])
    net = stored_network_text(text)[0]
    lines = ("a", "b")
    counts = [sys.getrefcount(o) for o in (jail, text, net, lines)]
    for _ in range(10_000):
        _banrun.new_ban_pair(jail, net, 1.0, 2.0, 1, "r", 1, "s", lines, "")
        _banrun.new_ban(jail, net, 1.0, None, 1, "r", 1, "s", lines, "")
        _banrun.network_text(text)
    gc.collect()
    assert [sys.getrefcount(o) for o in (jail, text, net, lines)] == counts


def test_the_c_host_miss_answers_and_remembers_as_the_python_one() -> None:
    """``HostVerdicts.__missing__`` in C and in Python: the same answers for canonical and
    loose texts, IPv6, junk, a NUL, a lone surrogate, non-ASCII digits; the same memo,
    cleared whole when full."""
    import random

    from test_host_verdicts_text import _texts

    from journalban.decisions import pointverdict
    from journalban.decisions.ignore import IgnoreList

    if pointverdict.NATIVE_MISSING is None:
        pytest.skip("inet_pton takes loose texts here: the Python miss alone")
    texts = _texts(random.Random(20))[:6000]
    texts += ["1.2.3.4\ud800", "\ud800", "\u0661.2.3.4", "1.2.3.4" * 3, "9.9.9.9", "9.9.9.9"]
    ignore = IgnoreList(["10.0.0.0/8", "203.0.113.0/24", "198.51.100.7", "0.0.0.0/0"])
    answers, memos = [], []
    for native in (True, False):
        assert pointverdict.use_native(native) is native
        try:
            hosts = pointverdict.HostVerdicts(ignore.points)
            got = []
            for host in texts:
                got.append(hosts[host])
                if len(got) % 1500 == 0:
                    memos.append(dict(hosts))
            answers.append(got)
        finally:
            pointverdict.use_native(True)
    assert answers[0] == answers[1]
    assert memos[: len(memos) // 2] == memos[len(memos) // 2 :]
    assert any(a is not None and a[1] is not None for a in answers[0])
    assert answers[0][-1] == ("9.9.9.9/32", "in ignoreip")
    assert len({len(m) for m in memos}) > 1  # (the memo cleared when full)


def test_the_c_host_miss_leaks_no_reference() -> None:
    from journalban.decisions import pointverdict
    from journalban.decisions.ignore import IgnoreList

    ignore = IgnoreList(["10.0.0.0/8"])
    host = "".join(["10.1.2.", "3"])
    before = sys.getrefcount(host)
    for _ in range(3000):
        hosts = pointverdict.HostVerdicts(ignore.points)
        assert hosts[host] == ("10.1.2.3/32", "in ignoreip")
        assert hosts["::1"] is None
    del hosts
    gc.collect()
    assert sys.getrefcount(host) == before


def test_the_c_slot_reads_follow_the_type_as_getattr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PlainBans' attributes are read from their slots in C while the type is the one
    seen and unchanged: a property set on the class after a read is read (its version tag
    changed), a subclass's property too, the slot again once the class is as it was, and an
    unset slot gives getattr's AttributeError."""
    first_ban = nativeban.NATIVE
    assert first_ban is not None
    store = StateStore(tmp_path / "s.sqlite")
    engine = _engine(store, FakeClock(NOW), max_tracked=1000)
    store.ban_history(ipaddress.ip_network("192.0.2.9/32"), 0.0, "192.0.2.9/32")  # (known)
    rt = engine.jails["sshd"]
    commit = BatchCommit(jail="sshd", source="c")
    changes = Changes(commits=[commit])
    plain = engine._plain_bans(rt, commit, changes)
    assert plain.known is not None
    args = (NOW - 5.0, 1, "c", NOW, "account", -1.0, None)
    assert first_ban(plain, "192.0.2.1/32", *args) is None  # (a first ban: the slots read)
    held = frozenset({"192.0.2.2/32", "192.0.2.4/32"})
    with monkeypatch.context() as patch:
        patch.setattr(plainban.PlainBans, "known", property(lambda self: held))
        found = first_ban(plain, "192.0.2.2/32", *args)
        assert found is not None  # (known: not a first ban)
        assert found[1] == "192.0.2.2/32"
        assert first_ban(plain, "192.0.2.3/32", *args) is None
    assert first_ban(plain, "192.0.2.4/32", *args) is None  # (the slot's set again)

    class Knowing(plainban.PlainBans):
        __slots__ = ()
        known = property(lambda self: held)

    other = object.__new__(Knowing)
    for name in plainban.PlainBans.__slots__:
        if name != "known":
            setattr(other, name, getattr(plain, name))
    assert first_ban(other, "192.0.2.2/32", *args) is not None
    assert first_ban(other, "192.0.2.5/32", *args) is None
    assert first_ban(plain, "192.0.2.2/32", *args) is None  # (the slot again: not known)
    del plain.jail
    with pytest.raises(AttributeError, match="jail"):
        first_ban(plain, "192.0.2.6/32", *args)
    engine._first.run.clear()
    store.close()
