"""The literal scan's C loop (journalban.matching._linescan, issue 19) against the
pure-Python scan it stands in for: the same lines and needle bits (``line_ends``) on random
texts, every packaged filter's samples, guarded needles (kept regexes and strings), texts
of other kinds than one byte a character, and crafted lines; linear on a 64 KiB line of
needle prefixes. The pure-Python path stays the fallback (module not built, or
JOURNALBAN_NATIVE_SCAN=0), so both run here on the same inputs."""

from __future__ import annotations

import importlib.machinery
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import journalban.matching
from journalban.events import LineBatch
from journalban.matching import _linescan, needles
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from journalban.matching.needles import Needle, line_ends, needles_for
from support.filter_modes import every_filter_mode

HEAD = "Dec  4 09:07:24 web1 sshd[41235]: "
NOW = 1796461644.0


def both(
    text: str,
    scan: list[Needle] | tuple[Needle, ...],
    lines_of: dict[int, re.Pattern[str] | tuple[str, ...]] | None = None,
) -> dict[int, int]:
    """``line_ends`` in C and in Python, checked equal; the result."""
    native, find, after = needles._NATIVE, needles._FIND, needles._AFTER_LINES
    assert native is not None, "the C module is built in a test run"
    assert find is not None
    in_c = line_ends(text, scan, lines_of)
    try:
        needles._NATIVE, needles._FIND, needles._AFTER_LINES = None, None, None
        in_python = line_ends(text, scan, lines_of)
    finally:
        needles._NATIVE, needles._FIND, needles._AFTER_LINES = native, find, after
    assert in_c == in_python
    return in_c


def test_the_scan_module_is_a_compiled_module_of_the_package() -> None:
    path = Path(_linescan.__file__ or "")
    assert path.parent == Path(journalban.matching.__file__ or "").parent
    assert path.name.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path.name
    assert _linescan.__name__ == "journalban.matching._linescan"
    source = path.with_name("_linescan.c")
    if source.is_file():  # a checkout: `pip install -e .` must have rebuilt it
        assert path.stat().st_mtime >= source.stat().st_mtime, "run pip install -e ."


def test_the_environment_switches_the_c_scan_off() -> None:
    code = "from journalban.matching import needles; print(needles._NATIVE is None)"
    for value, off in (("0", "True"), ("1", "False")):
        env = {**os.environ, "JOURNALBAN_NATIVE_SCAN": value}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.stdout.strip() == off, out.stderr


WORDS = ("Failed ", "password ", "for ", "invalid ", "user ", "from ", "port ", "Received ",
         "disconnect ", "reject: ", "RCPT ", "MAIL ", "auth ", "failed, ", "ssh2", "x", " ",
         "\n", "Faile", "Fa", "nvali", "Receiv", "é", "\xff")  # fmt: skip
LITERALS = ["Failed password for ", "nvalid user ", "Received disconnect from ",
            "reject: RCPT from ", "reject: MAIL from ", "auth failed, ", "d user f",
            "proxy dest auth failed"]  # fmt: skip


@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 0.9])
def test_random_texts_give_the_same_lines_in_c_and_python(density: float) -> None:
    rng = random.Random(int(density * 1000) + 7)
    scan = needles_for(LITERALS)
    for _ in range(60):
        parts = [
            rng.choice(LITERALS) if rng.random() < density * 0.1 else rng.choice(WORDS)
            for _ in range(rng.randint(0, 3000))
        ]
        both("".join(parts), scan)


def test_find_and_ends_by_find_are_str_find_and_the_python_loop() -> None:
    rng = random.Random(3)
    for _ in range(400):
        text = "".join(rng.choice("abF\nxy é") for _ in range(rng.randint(0, 300)))
        word = "".join(rng.choice("abF\n") for _ in range(rng.randint(1, 4)))
        pos = rng.randint(-3, len(text) + 3)
        for pivot in (-1, *range(len(word) + 1)):
            assert _linescan.find(text, word, pos, pivot) == text.find(word, max(pos, 0))
        first = text.find(word)
        if first < 0:
            continue
        literals = tuple({word + rng.choice("ab"), rng.choice("ab") + word})
        needle: Needle = (word, tuple((lit, lit.index(word)) for lit in literals))
        for pivot in (-1, 0, len(word) - 1):
            assert _linescan.ends_by_find(
                text, word, *needles._literals_of(needle), first, pivot
            ) == needles._ends_by_find(text, needle, first)
        assert _linescan.ends_by_find(text, word, (), (), first) == needles._ends_by_find(
            text, (word, ()), first
        )


def test_texts_of_wider_characters_are_left_to_python() -> None:
    scan = needles_for(LITERALS)
    text = "\n".join(["Failed password for root € 10.0.0.1"] * 50 + ["nvalid user x \U0001f600"])
    assert _linescan.find(text, "Failed", 0) is None
    assert _linescan.ends_by_find(text, "Failed", (), (), 0) is None
    assert _linescan.join_lines(text, [3]) is None
    assert len(both(text, scan)) == 51


def test_join_and_pick_refuse_ends_out_of_order_or_outside_the_text() -> None:
    text = "ab\ncd\nef"
    assert _linescan.join_lines(text, [2, 8]) == "ab\nef"
    assert _linescan.pick_lines(text, [2, 5, 8], [1, 4, 7]) == [2, 5, 8]
    assert _linescan.pick_lines(text, [2, 5, 8], [4, 5]) == [5]
    for bad in ([5, 2], [2, 2], [9], [-1]):
        with pytest.raises(ValueError, match="ends must rise"):
            _linescan.join_lines(text, bad)
        with pytest.raises(ValueError, match="ends must rise"):
            _linescan.pick_lines(text, bad, [0])


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_every_filter_s_samples_give_the_same_lines(name: str, mode: str) -> None:
    compiled = CompiledFilter(FilterLibrary(None).load(name), mode)
    lines = [s.line for s in compiled.fdef.samples if "\n" not in s.line]
    dense = "\n".join(lines * 80)
    sparse = "\n".join(["nothing here"] * 500 + lines[:1] + ["nor here"] * 500)
    both(dense, compiled.scan)
    both(sparse, compiled.scan)


CRAFTED = [
    "Failed password for root from 203.0.113.{} port 22 ssh2",
    "Failed publickey for bob from 198.51.100.{} port 40122 ssh2: RSA SHA256:AbCdEf0123",
    "Failed publickey for invalid user x from 203.0.113.{} port 22 ssh2: RSA SHA256:Ab",
    "Received disconnect from 198.51.100.{} port 4411:11: Bye Bye [preauth]",
    "Received disconnect from 198.51.100.{} port 4411:3: com.jcraft.jsch [preauth]",
    "Received disconnect from 198.51.100.{} port 4411:14: No supported auth [preauth]",
    "Invalid user admin from 203.0.113.{} port 4411",
    "Connection closed by invalid user admin 198.51.100.{} port 4411 [preauth]",
    "Disconnected from invalid user admin 198.51.100.{} port 4411 [preauth]",
    "Illegal user invalid user z from 203.0.113.{}",
    "error: Invalid user " + "x" * 200 + " from 203.0.113.{}",
    "Accepted password for alice from 192.0.2.{} port 22 ssh2",
    "Failed Failed Received disconnect from Received disconnect from 3: {}",
]


def sshd_matcher() -> LineMatcher:
    """sshd's filter in its normal mode, successes too, as the file child matches."""
    return LineMatcher(
        CompiledFilter(FilterLibrary(None).load("sshd"), "normal", successes=True), lambda: NOW
    )


def crafted_lines(count: int = 1300) -> list[str]:
    """``count`` sshd lines made of ``CRAFTED`` in turn, 250 numbers round."""
    return [HEAD + CRAFTED[k % len(CRAFTED)].format(k % 250) for k in range(count)]


def test_guarded_needles_give_the_same_lines_and_hits() -> None:
    """sshd's guards decided on crafted lines (kept regexes: a search of starts and the line
    regex after the literals; kept strings), then the scan with them in C and in Python."""
    rng = random.Random(11)
    lines, matcher = crafted_lines(), sshd_matcher()
    for at in range(0, 600, 50):
        matcher.hits(LineBatch("f", lines[at : at + 50], "0"))
    lines_of = matcher._guarded_lines()
    assert lines_of, "the crafted lines decide guards"
    # ``Failed``'s search of starts, looked for as strings in C (needles.one_of_lines).
    assert any(
        isinstance(p, re.Pattern) and p.pattern in needles._ONE_OF for p in lines_of.values()
    )
    for _ in range(20):
        rng.shuffle(lines)
        picked = lines[: rng.randint(1, len(lines))]
        text = "\n".join(picked)
        both(text, matcher.filter.scan, lines_of)
        gaps = "\n".join(x for line in picked[:40] for x in (line, "y" * rng.randint(0, 9000)))
        both(gaps, matcher.filter.scan, lines_of)
    # The hits themselves: the frames' first step, in C and in Python.
    text_lines = crafted_lines(2000)
    native, find, after = needles._NATIVE, needles._FIND, needles._AFTER_LINES
    out = []
    for on in (True, False):
        needles._NATIVE, needles._FIND, needles._AFTER_LINES = (
            (native, find, after) if on else (None, None, None)
        )
        try:
            m = sshd_matcher()
            out.append(
                [m.hits(LineBatch("f", text_lines[a : a + 100], "0")) for a in range(0, 2000, 100)]
            )
        finally:
            needles._NATIVE, needles._FIND, needles._AFTER_LINES = native, find, after
    assert out[0] == out[1]
    assert sum(map(len, out[0])) > 0


def test_a_64_kib_line_of_needle_prefixes_stays_linear() -> None:
    """A crafted line of 64 KiB holding a needle's prefix (or the needle itself) at every
    few characters: each occurrence costs a comparison per literal, never a rescan."""
    scan = needles_for(LITERALS)
    crafted = [
        "Faile" * 13_107,
        "Failed passwor" * 4_681,
        "Received disconnect from " * 2_621,
        "nvalid user " * 5_461,
        "FFFFFFFF" * 8_192,
        "d user f" * 8_192,
    ]
    for line in crafted:
        text = "\n".join([HEAD + "x", line, HEAD + "Failed password for root"])
        started = time.process_time()
        both(text, scan)
        assert time.process_time() - started < 2.0  # quadratic: minutes
    for line in crafted:  # and a hundred of them, in C alone: a few ms each
        text = "\n".join([line] * 100)
        started = time.process_time()
        line_ends(text, scan)
        assert time.process_time() - started < 5.0


def test_line_regex_after_at_its_reach_gives_the_same_lines() -> None:
    """The lines told by a needle's literals with a guard's strings after them, in C
    (``after_lines``) and by the regex: the strings just within and just past the reach of
    128 characters, the line's rest 127/128/129 long, the needle twice in a line, the
    strings before it or cut by the newline."""
    lines, matcher = crafted_lines(), sshd_matcher()
    for at in range(0, 600, 50):
        matcher.hits(LineBatch("f", lines[at : at + 50], "0"))
    lines_of = matcher._guarded_lines()
    afters = [
        b
        for b, p in lines_of.items()
        if isinstance(p, re.Pattern) and p.pattern in needles._AFTER_OF
    ]
    assert afters
    rng = random.Random(5)
    bits = ("nvalid user ", "Received disconnect from ", " from ", "3: ", "14: ", ":3: ",
            "4: ", " fro", "m ", "x", " ", "Invalid user ", "1")  # fmt: skip
    for _ in range(30):
        made = []
        for _ in range(300):
            head = rng.choice(["nvalid user ", "Received disconnect from ", "Invalid user "])
            gap = "".join(
                rng.choice("xy ")
                for _ in range(
                    rng.choice([0, 5, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 130, 131])
                )
            )
            tail = rng.choice([" from 10.0.0.1", "3: ", "14: ", ":3: b", "", " fro", "4: "])
            made.append(
                HEAD
                + "".join(rng.choice(bits) for _ in range(rng.randint(0, 3)))
                + head
                + gap
                + tail
                + "".join(rng.choice(bits) for _ in range(rng.randint(0, 4)))
            )
        text = "\n".join(made)
        both(text, matcher.filter.scan, lines_of)
        both(text.replace("\n", "\n" + "z" * 200 + "\n", 5), matcher.filter.scan, lines_of)
