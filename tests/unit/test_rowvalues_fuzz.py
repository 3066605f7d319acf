"""Differential fuzz of journalban.state._rowvalues against its pure-Python references
(issue 19's audit): random bans whose texts and lines hold every class of character (NUL,
controls, DEL, quotes, backslashes, non-ASCII, astral, lone surrogates, very long),
networks of both families with odd remembered texts, odd numbers and values of the wrong
type; detector changes holding the packed text's marks. For each, the C function and the
Python path give the same result, or raise the same type of exception. Seeded (the same
cases every run); run under AddressSanitizer too."""

from __future__ import annotations

import json
import random
from types import ModuleType
from typing import Any

import pytest

from journalban.addresses import TEXT, network_text
from journalban.state import commitrows, detectorlog
from support import fuzzvalues as fz


@pytest.fixture
def native() -> ModuleType:
    module: ModuleType = pytest.importorskip("journalban.state._rowvalues")
    return module


def _same(one: Any, other: Any) -> bool:
    """Equal, the same types item by item, and NaN equal to NaN (``repr``)."""
    return repr(one) == repr(other) and type(one) is type(other)


def test_lines_text_is_json_dumps(native: ModuleType) -> None:
    rng = random.Random(2101)
    for _ in range(3000):
        lines = fz.lines(rng)
        ours = fz.outcome(native.lines_text, lines)
        theirs = fz.outcome(lambda lines=lines: json.dumps(list(lines)))
        if isinstance(ours, type):  # (a line not str: json writes a number or null)
            assert ours is TypeError
            assert theirs is TypeError or any(type(line) is not str for line in lines)
            continue
        assert ours == theirs, lines


def test_ban_values_are_the_python_paths(native: ModuleType) -> None:
    rng = random.Random(2102)
    for _ in range(700):
        bans = [fz.anything(rng) for _ in range(rng.randrange(1, 6))]
        lines_of = None
        if rng.random() < 0.3:
            lines_of = {id(ban): fz.lines(rng) for ban in bans if rng.random() < 0.5}
            lines_of[12345] = ("not a ban's",)
        ours = fz.outcome(native.ban_values, bans, lines_of, TEXT, network_text)
        theirs = fz.outcome(commitrows.python_ban_values, bans, lines_of)
        if isinstance(ours, list) or isinstance(theirs, list):
            assert _same(ours, theirs), bans
        # (both raise: which wrong value is met first may differ, the Python path reads
        # every ban's lines before anything else)


def test_a_ban_alones_values_are_the_python_paths(native: ModuleType) -> None:
    rng = random.Random(2103)
    for _ in range(2500):
        ban = fz.anything(rng)
        ours = fz.outcome(native.ban_values, [ban], None, TEXT, network_text)
        theirs = fz.outcome(commitrows.python_ban_values, [ban], None)
        if isinstance(ours, type) and isinstance(theirs, type):
            continue  # (which of two wrong values is met first: the Python path's lines)
        assert _same(ours, theirs), ban


def _part(rng: random.Random) -> list[Any]:
    """A statement's values: rows of ten, their shared columns often equal (some equal but
    not the same object, NaN among them), of any type."""
    pool: list[Any] = ["sshd", "".join(map(str, "sshd")), "", float("nan"), None, 1, True, 1.0]
    shared = [rng.choice(pool) for _ in range(4)]
    out: list[Any] = []
    for _ in range(rng.randrange(1, 7)):
        row: list[Any] = [rng.random() for _ in range(10)]
        for column, value in zip((0, 7, 5, 8), shared, strict=True):
            row[column] = value if rng.random() < 0.85 else rng.choice(pool)
        out += row
    return out


def test_shared_params_are_the_python_statements(
    native: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(2104)
    parts = [_part(rng) for _ in range(3000)]
    ours = [commitrows._bans_statement(len(part) // 10, part) for part in parts]
    monkeypatch.setattr(commitrows, "NATIVE_SHARED", None)
    theirs = [commitrows._bans_statement(len(part) // 10, part) for part in parts]
    for part, one, other in zip(parts, ours, theirs, strict=True):
        assert one[0] == other[0], part
        assert len(one[1]) == len(other[1])
        assert all(a is b for a, b in zip(one[1], other[1], strict=True)), part


def _changes(rng: random.Random) -> Any:
    marks = [detectorlog.SEP, detectorlog.GONE, detectorlog.PACKED]
    out: dict[Any, Any] = {}
    for _ in range(rng.randrange(6)):
        key = fz.text(rng, 12) if rng.random() < 0.9 else rng.choice([*marks, 5, None, b"k"])
        value = rng.choice(
            [None, fz.text(rng, 30), fz.text(rng, 30), rng.choice(marks) + "x", 7, b"v", ["l"]]
        )
        out[key] = value
    return out


def test_packed_text_is_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    if detectorlog.NATIVE_PACKED is None:
        pytest.skip("journalban.state._rowvalues is not built")
    rng = random.Random(2105)
    cases = [_changes(rng) for _ in range(3000)]
    ours = [fz.outcome(detectorlog._text, changes) for changes in cases]
    monkeypatch.setattr(detectorlog, "NATIVE_PACKED", None)
    theirs = [fz.outcome(detectorlog._text, changes) for changes in cases]
    for changes, one, other in zip(cases, ours, theirs, strict=True):
        assert one == other, changes
    assert sum(type(one) is str and one[:1] == detectorlog.PACKED for one in ours) > 150


def test_unstored_rows_are_the_python_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    if commitrows.NATIVE_UNSTORED is None:
        pytest.skip("journalban.state._rowvalues is not built")
    rng = random.Random(2106)
    cases = []
    for _ in range(1500):
        pool = [fz.anything(rng) for _ in range(rng.randrange(1, 6))]
        history: list[Any] = [(rng.choice(pool), rng.choice([False, False, True, 0, 2, None]))
                              for _ in range(rng.randrange(6))]  # fmt: skip
        if rng.random() < 0.05:
            history.append(rng.choice([(pool[0],), [pool[0], False], pool[0]]))
        stored = [pair[0] for pair in history if type(pair) is tuple and rng.random() < 0.6]
        if rng.random() < 0.1:
            stored.append(rng.choice(pool))
        cases.append((history, stored))
    ours = [fz.outcome(commitrows.unstored_rows, *case) for case in cases]
    monkeypatch.setattr(commitrows, "NATIVE_UNSTORED", None)
    theirs = [fz.outcome(commitrows.unstored_rows, *case) for case in cases]
    for case, one, other in zip(cases, ours, theirs, strict=True):
        assert _same(one, other), case
