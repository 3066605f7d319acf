"""The ban rows' columns in C (``journalban.state._rowvalues``) are the pure-Python path's
(``commitrows.python_ban_values``), object for object and byte for byte: the state file
holds these values, and a difference would change what a restart reads back.

The lines are attacker text: quotes, backslashes, control characters, DEL, non-ASCII,
characters past U+FFFF and lone surrogates are escaped as ``json.dumps`` escapes them.
The pure-Python path runs where the module is not built or ``JOURNALBAN_NATIVE_ROWS=0``
(the whole unit suite runs so too: every other test of the commit then takes it)."""

from __future__ import annotations

import ipaddress
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from journalban.addresses import TEXT, IPNetwork, network_text, stored_network
from journalban.events import Ban
from journalban.netobjects import host_v4_network
from journalban.state import commitrows
from journalban.state.store import BatchCommit, StateStore

ALPHABET = 'ab "\\\n\t\r\b\f\x00\x01\x1f\x7f\x80\xff/:[],é€\u2028\ufffe😀\U0010ffff\ud800\udcff'


@pytest.fixture
def native() -> ModuleType:
    module: ModuleType = pytest.importorskip("journalban.state._rowvalues")
    return module


def _line(rng: random.Random, most: int = 40) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, most)))


def test_a_bans_lines_are_json_dumps_text(native: ModuleType) -> None:
    rng = random.Random(20)
    for n in range(2000):
        lines = [_line(rng) for _ in range(n % 7)]
        assert native.lines_text(lines) == json.dumps(lines)
        assert native.lines_text(tuple(lines)) == json.dumps(lines)
        assert native.lines_text(lines) == commitrows.lines_text(lines)
    for one in ["", '"', "\\", "\x7f", "\x00", "\ud83d", "\U0001f600", "é" * 1000, "a" * 100_000]:
        assert native.lines_text((one,)) == json.dumps([one])
    assert native.lines_text(()) == "[]"


def test_every_code_point_is_escaped_as_json_dumps_escapes_it(native: ModuleType) -> None:
    points = [*range(0x800), *range(0xD700, 0xE100), *range(0xFFF0, 0x10010), 0x10FFFF]
    for start in range(0, len(points), 97):
        line = "".join(map(chr, points[start : start + 97]))
        assert native.lines_text([line, line[::-1]]) == json.dumps([line, line[::-1]])


def test_a_line_that_is_not_text_is_refused_by_both_paths(native: ModuleType) -> None:
    for lines in [(b"bytes",), (None,), ("a", 3), 7]:
        with pytest.raises(TypeError):
            native.lines_text(lines)
        with pytest.raises(TypeError):
            commitrows.lines_text(lines)  # type: ignore[arg-type]


def _bans(rng: random.Random, count: int) -> tuple[list[Ban], dict[int, tuple[str, ...]]]:
    bans: list[Ban] = []
    lines_of: dict[int, tuple[str, ...]] = {}
    for n in range(count):
        kind = n % 4
        net: IPNetwork
        if kind == 0:
            net = host_v4_network(0xC6336400 + n)
            network_text(net)  # (its text kept on it)
        elif kind == 1:
            net = ipaddress.ip_network(f"2001:db8:{n:x}::/64")  # (no text kept yet)
        elif kind == 2:
            net = stored_network(f"203.0.{n % 256}.0/24")
        else:
            net = host_v4_network(0x0A000000 + n)
            object.__setattr__(net, TEXT, "")  # (an empty text: made again)
        lines = tuple(_line(rng) for _ in range(rng.randrange(0, 4)))
        ban = Ban(
            rng.choice(["sshd", "recidive", 'j"ail']), net, 1.8e9 + n * 0.5,
            rng.choice([None, 1.8e9 + 600.0]), rng.randint(1, 9), rng.choice(["failures", ""]),
            rng.randint(0, 50), rng.choice(["journal", "files:/var/log/x"]),
            () if rng.random() < 0.3 else lines, rng.choice(["", "root", "ü"]),
        )  # fmt: skip
        if not ban.lines and rng.random() < 0.7:
            lines_of[id(ban)] = lines
        bans.append(ban)
    return bans, lines_of


@pytest.mark.parametrize("seed", range(8))
def test_a_batchs_columns_are_the_python_paths(native: ModuleType, seed: int) -> None:
    rng = random.Random(seed)
    bans, lines_of = _bans(rng, 1 + seed * 17)
    for of in (lines_of, {}, None):
        ours = native.ban_values(bans, of, TEXT, network_text)
        theirs = commitrows.python_ban_values(bans, of)
        assert ours == theirs
        assert [*map(type, ours)] == [*map(type, theirs)]
        assert native.ban_values(tuple(bans), of, TEXT, network_text) == theirs
    assert native.ban_values([], lines_of, TEXT, network_text) == []


def test_bad_arguments_raise_and_leave_nothing_half_made(native: ModuleType) -> None:
    bans, _ = _bans(random.Random(1), 4)
    with pytest.raises(TypeError):
        native.ban_values(bans, [], TEXT, network_text)
    with pytest.raises(TypeError):
        native.ban_values(bans, None, 5, network_text)
    with pytest.raises(TypeError):
        native.ban_values(bans, None, TEXT)
    with pytest.raises(AttributeError):
        native.ban_values([*bans, object()], None, TEXT, network_text)
    bad = Ban("sshd", host_v4_network(1), 1.0, None, 1, "", 0, "", ("ok", b"x"), "")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native.ban_values([bans[0], bad], None, TEXT, network_text)
    with pytest.raises(TypeError):
        commitrows.python_ban_values([bans[0], bad])


class _Renamed(Ban):
    """A ``Ban`` whose reason is a property: read as getattr reads it, not from the slot."""

    __slots__ = ()

    @property
    def reason(self) -> str:
        return "renamed"


class _Plain:
    """Not a ``Ban``: the fields of an object of another type (an instance dict)."""

    def __init__(self, ban: Ban) -> None:
        for name in ("jail", "network", "banned_at", "expires_at", "ban_count", "reason",
                     "failures", "source", "lines", "account"):  # fmt: skip
            setattr(self, name, getattr(ban, name))


def test_a_bans_fields_are_read_as_getattr_reads_them(native: ModuleType) -> None:
    """``ban_values`` reads a ``Ban``'s fields from their slots (looked up once per type in
    a call): bans of several types in one call, a subclass whose field is a property, an
    object of another type, a slot never set (its ``AttributeError``), and a type changed
    by the Python call the reading makes (``network_text``) each read as getattr does."""
    bans, lines_of = _bans(random.Random(5), 12)
    renamed = object.__new__(_Renamed)
    for name in Ban.__dataclass_fields__:  # (through Ban's slots: the property has no setter)
        Ban.__dict__[name].__set__(renamed, getattr(bans[0], name))
    mixed = [bans[1], renamed, bans[2], _Plain(bans[3]), bans[4], renamed, *bans[5:]]
    ours = native.ban_values(mixed, lines_of, TEXT, network_text)
    assert ours == commitrows.python_ban_values(mixed, lines_of)  # type: ignore[arg-type]
    assert ours[15] == "renamed"
    assert ours[55] == "renamed"

    unset = object.__new__(Ban)
    object.__setattr__(unset, "jail", "sshd")
    object.__setattr__(unset, "network", bans[0].network)
    with pytest.raises(AttributeError, match="banned_at"):
        native.ban_values([bans[0], unset], None, TEXT, network_text)

    class Changing(Ban):
        __slots__ = ()

    def changing_text(network: IPNetwork) -> str:  # (a network without its text kept)
        setattr(Changing, "source", property(lambda _self: "changed"))  # noqa: B010
        return network_text(network)

    plain = ipaddress.ip_network("203.0.113.0/24")  # (no text kept: network_text is called)
    first = Changing("sshd", plain, 1.0, None, 1, "r", 1, "journal", (), "")
    second = Changing("sshd", plain, 2.0, None, 1, "r", 1, "journal", (), "")
    values = native.ban_values([first, second], None, TEXT, changing_text)
    assert values[7] == values[17] == "changed"


def _store_rows(path: Path, batches: list[BatchCommit]) -> dict[str, list[tuple[object, ...]]]:
    store = StateStore(path)
    store.commit(batches)
    rows = {
        table: store.db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()  # noqa: S608
        for table in ("bans", "history")
    }
    store.close()
    return rows


def test_a_commit_stores_the_same_rows_both_ways(
    native: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(4)
    batches = []
    for n in range(30):
        bans, lines_of = _bans(rng, rng.randrange(0, 70))
        bans = [b for b in {(b.jail, str(b.network)): b for b in bans}.values()]
        batches.append(BatchCommit(
            "sshd", source="journal", position=f"c{n}", bans=bans,
            history=[(b, False) for b in bans], lines_of=lines_of, banned_delta=len(bans),
        ))  # fmt: skip
    monkeypatch.setattr(commitrows, "NATIVE_VALUES", native.ban_values)
    ours = _store_rows(tmp_path / "c.sqlite", batches)
    monkeypatch.setattr(commitrows, "NATIVE_VALUES", None)
    theirs = _store_rows(tmp_path / "py.sqlite", batches)
    assert ours == theirs
    assert len(ours["bans"]) > 100  # (and re-bans of stored keys: rows written again)


def test_the_environment_switches_the_c_values_off() -> None:
    code = "from journalban.state import commitrows; print(commitrows.NATIVE_VALUES is None)"
    for value, off in (("0", "True"), ("1", "False")):
        env = {**os.environ, commitrows.NATIVE_ENV: value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if value == "1" and out.stdout.strip() == "True":
            pytest.skip("the C module is not built")
        assert out.stdout.strip() == off, out.stderr


def test_a_statements_shared_columns_are_chosen_as_in_python(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``_bans_statement``: the jail and source bound once when every row shares them, the
    reason too when it is shared as well, and then the lines; else every column of every
    row."""
    rng = random.Random(9)
    bans, lines_of = _bans(rng, 64)
    for n in range(400):
        size = rng.choice([1, 2, 3, 8, 31, 64])
        part = commitrows.python_ban_values(bans[:size], lines_of)
        for row in range(size):
            part[row * 10], part[row * 10 + 7], part[row * 10 + 5] = "sshd", "journal", "failures"
            if n % 3 == 0:  # (no lines: each its own '[]')
                part[row * 10 + 8] = str([])
        if n % 4 and size > 1:  # one row's jail, source, reason or lines apart
            at = rng.randrange(size) * 10 + rng.choice([0, 7, 5, 8])
            part[at] = rng.choice(["recidive", "files:/x", "", "sshd", "[]"])
        monkeypatch.setattr(commitrows, "NATIVE_SHARED", native.shared_params)
        ours = commitrows._bans_statement(size, part)
        monkeypatch.setattr(commitrows, "NATIVE_SHARED", None)
        theirs = commitrows._bans_statement(size, part)
        assert ours[0] is theirs[0]
        assert [*ours[1]] == [*theirs[1]]
    assert native.shared_params([]) == (0, [])
    with pytest.raises(TypeError):
        native.shared_params(("sshd",) * 10)


def test_the_detectors_packed_text_is_the_python_paths(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``detectorlog._text``: keys and values packed, or JSON where a key or a value holds
    the separator or the gone mark, or is not text, or nothing changed."""
    from journalban.state import detectorlog

    rng = random.Random(13)
    alphabet = 'a1./:[]," \\\x1d\x1e\x1f\x00é€😀\ud800'
    odd: dict[str, object] = {"k": 3}  # (a value not text)
    cases: list[dict[str, str | None]] = [
        {}, {"k": None}, {"": ""}, {"a\x1fb": "1"}, {"k": "v\x1d"}, odd,  # type: ignore[list-item]
    ]  # fmt: skip

    def text(chars: str, most: int) -> str:
        return "".join(rng.choice(chars) for _ in range(rng.randint(0, most)))

    for n in range(600):
        keys = alphabet if n % 3 == 0 else "a1./:"
        values = alphabet if n % 5 == 0 else '[]0123456789,. "'
        cases.append({
            text(keys, 9): None if rng.random() < 0.3 else text(values, 30)
            for _ in range(rng.randint(0, 12))
        })  # fmt: skip
    packed = 0
    for changes in cases:
        monkeypatch.setattr(detectorlog, "NATIVE_PACKED", native.packed)
        ours = detectorlog._text(changes)
        monkeypatch.setattr(detectorlog, "NATIVE_PACKED", None)
        theirs = detectorlog._text(changes)
        assert ours == theirs
        if all(type(v) is str or v is None for v in changes.values()):
            assert detectorlog._changes(ours) == changes
        packed += ours.startswith(detectorlog.PACKED)
        if native.packed(changes, detectorlog.PACKED, detectorlog.SEP, detectorlog.GONE) is None:
            assert not theirs.startswith(detectorlog.PACKED)
    assert 300 < packed < len(cases) - 50
    with pytest.raises(TypeError):
        native.packed({"k": "v"}, "ab", detectorlog.SEP, detectorlog.GONE)
    with pytest.raises(TypeError):
        native.packed([("k", "v")], detectorlog.PACKED, detectorlog.SEP, detectorlog.GONE)


def test_a_batchs_other_history_rows_are_the_python_paths(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``unstored_rows``: the history rows of the bans decided already over, or None where
    a stored ban is manual or not met in order; NotImplemented (the Python loop) for a
    history item not a pair."""
    rng = random.Random(17)
    pool, _ = _bans(rng, 40)
    kinds = {"none": 0, "rows": 0}
    for n in range(1500):
        bans = rng.sample(pool, rng.randrange(0, 8))
        history: list[tuple[Ban, bool]] = [(b, rng.random() < 0.05) for b in bans]
        for _ in range(rng.randrange(0, 4) if n % 2 else 0):  # (bans already over)
            over = rng.choice(pool)
            history.insert(rng.randrange(len(history) + 1), (over, rng.random() < 0.3))
        if n % 7 == 0 and history:
            del history[rng.randrange(len(history))]  # (a stored ban not met)
        if n % 11 == 0 and len(history) > 1:
            history.reverse()
        monkeypatch.setattr(commitrows, "NATIVE_UNSTORED", native.unstored_rows)
        ours = commitrows.unstored_rows(history, bans)
        assert native.unstored_rows(history, bans, TEXT, network_text) == ours
        monkeypatch.setattr(commitrows, "NATIVE_UNSTORED", None)
        theirs = commitrows.unstored_rows(history, bans)
        assert ours == theirs
        if ours is not None:
            assert [*map(type, (x for row in ours for x in row))] == [
                *map(type, (x for row in theirs or () for x in row))
            ]
        if ours is None:
            kinds["none"] += 1
        elif ours:
            kinds["rows"] += 1
    assert kinds["none"] > 100
    assert kinds["rows"] > 100
    ban = pool[0]
    odd: list[object] = [[ban, False]]
    assert native.unstored_rows(odd, [ban], TEXT, network_text) is NotImplemented
    assert native.unstored_rows((), [], TEXT, network_text) is NotImplemented
    assert native.unstored_rows([], [], TEXT, network_text) == []
