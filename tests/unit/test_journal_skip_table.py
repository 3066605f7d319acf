"""The native reader's literal test (sources.journalskip): its table finds exactly the
messages holding one of a prefilter's literals, as ``literal_scan`` does.

``_journalfile.Reader._scan`` searches each literal from its pivot byte, by the table
``scan_literals`` builds; ``holds`` is that search in Python. Both must agree with a
plain substring test on every packaged filter's literals (as the agent asks for them),
untuned and tuned by a sample, on the filters' own samples and on messages built to trip
it: the literal at the very start and end of a message, cut short on either side, with
a byte changed, repeated, overlapping. The C itself is tested on real journal files
(tests/real/test_journal_skip.py).
"""

from __future__ import annotations

import random

import pytest
from test_literal_scan import _agent_literals, _holds, _tricky

from journalban.matching.library import FilterLibrary
from journalban.sources.journalskip import MOST_LITERALS, holds, scan_literals
from journalban.sources.literalscan import literal_scan
from support.filter_modes import every_filter_mode


def _messages(name: str, literals: list[bytes], seed: int) -> list[bytes]:
    rng = random.Random(seed)
    fdef = FilterLibrary(None).load(name)
    out = [sample.line.encode("utf-8", "replace") for sample in fdef.samples]
    for literal in literals:
        out += _tricky(literal, rng)
        others = rng.sample(literals, min(3, len(literals)))
        out.append(b" ".join(other[: len(other) - 1] for other in others))
        out.append(b"".join(other[1:] for other in others))
    out += [b"", b"\x00", bytes(range(256)), b"\xff" * 40]
    return out


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_the_table_agrees_with_the_scan_on_every_filter(name: str, mode: str) -> None:
    literals = _agent_literals(name, mode)
    scan = literal_scan(literals)
    table = scan_literals(literals)
    assert (table is None) == (scan is None)
    if scan is None or table is None:
        return
    stripped = sorted({literal.strip().encode() for literal in literals})
    assert sorted(table[1]) == stripped
    messages = _messages(name, stripped, 19)
    sample = b"\n".join(messages)
    tuned = scan_literals(literals, sample)
    assert tuned is not None
    for message in messages:
        expected = _holds(message, stripped)
        assert (scan.search(message) is not None) == expected
        assert holds(message, table) == expected, message
        assert holds(message, tuned) == expected, message


def test_the_table_groups_the_literals_searched_from_one_byte() -> None:
    table, literals, at = scan_literals(["abc", "xbz", "q", "bbc", " zz "]) or (b"", (), b"")
    assert len(table) == 256
    assert len(at) == 2 * len(literals)
    pivot_bytes = [
        literal[int.from_bytes(at[2 * k : 2 * k + 2], "little")]
        for k, literal in enumerate(literals)
    ]
    assert pivot_bytes == sorted(pivot_bytes), "those of one byte together"
    for k, byte in enumerate(pivot_bytes):
        assert table[byte] - 1 <= k
        assert pivot_bytes[table[byte] - 1] == byte
        assert k == 0 or pivot_bytes[k - 1] != byte or table[byte] - 1 < k
    assert sum(1 for entry in table if entry) == len(set(pivot_bytes))
    assert holds(b"a zz a", (table, literals, at))
    assert holds(b"bbbc", (table, literals, at))
    assert not holds(b"ab xb bb z z", (table, literals, at))


def test_no_table_without_usable_literals() -> None:
    assert scan_literals([]) is None
    assert scan_literals(["  "]) is None
    assert scan_literals(["caf\u00e9"]) is None
    assert scan_literals([f"x{k}" for k in range(MOST_LITERALS + 1)]) is None
    assert scan_literals([f"x{k}" for k in range(MOST_LITERALS)]) is not None
