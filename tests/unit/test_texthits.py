"""The file lines' matching loop in C (journalban.matching._texthits, issue 19) against the
pure-Python loop it stands in for: the same hits, and the same dates counted, on every
packaged filter's samples, on crafted and randomly mangled sshd lines (other idents,
dates that are not dates, digits of other scripts, texts of two and four bytes a
character, NULs, lines of 64 KiB), with an ignoreregex, and across date formats the
general path settles. The pure-Python loop stays the reference (module not built, or
JOURNALBAN_NATIVE_TEXT=0), so both run here on the same inputs."""

from __future__ import annotations

import dataclasses
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence

import pytest

from journalban.events import Hit, LineBatch
from journalban.matching import _texthits, texthits
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.library import FilterLibrary
from support.filter_modes import every_filter_mode

NOW = 1796461644.0
HEAD = "Dec  4 09:{:02d}:{:02d} web1 sshd[41235]: "
LIBRARY = FilterLibrary(None)

CRAFTED = [
    "Failed password for root from 203.0.113.{} port 22 ssh2",
    "Failed password for invalid user x from 2001:db8::{} port 22 ssh2",
    "Failed publickey for bob from 198.51.100.{} port 40122 ssh2: RSA SHA256:AbCdEf0123",
    "Received disconnect from 198.51.100.{} port 4411:11: Bye Bye [preauth]",
    "Received disconnect from 198.51.100.{} port 4411:3: com.jcraft.jsch [preauth]",
    "Invalid user admin from 203.0.113.{} port 4411",
    "Connection closed by invalid user admin 198.51.100.{} port 4411 [preauth]",
    "Disconnected from authenticating user root 198.51.100.{} port 4411 [preauth]",
    "Illegal user invalid user z from 203.0.113.{}",
    "error: maximum authentication attempts exceeded for root from 203.0.113.{} port 2 ssh2",
    "Accepted password for alice from 192.0.2.{} port 22 ssh2",
    "Failed password for root from 203.0.113.{} port 22 ssh2 from 10.0.0.1",
    "Failed password for  from 203.0.113.{} port 22 ssh2",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=203.0.113.{}  user=root",
]
# Heads: other idents, ident-less, dates that are no dates or of another format.
HEADS = [
    HEAD,
    "Dec  4 09:{:02d}:{:02d} web1 cron[7]: ",
    "Dec  4 09:{:02d}:{:02d} web1 sshd: ",
    "Dec  4 09:{:02d}:{:02d} web1 sshd[]: ",
    "Dec  4 09:{:02d}:{:02d}.5 web1 sshd[41235]: ",
    "Dec 32 09:{:02d}:{:02d} web1 sshd[41235]: ",
    "Dec  4 09:{:02d}:{:02d} 2026 web1 sshd[41235]: ",
    "Feb 30 09:{:02d}:{:02d} web1 sshd[41235]: ",
    "2026-12-04T09:{:02d}:{:02d}+00:00 web1 sshd[41235]: ",
    "<34>Dec  4 09:{:02d}:{:02d} web1 sshd[41235]: ",
    "Dec  4 09:{:02d}:{:02d} web1 sshd[41235]: [ID 800047 auth.info] ",
    "",
]
SPICE = ["é", "€", "😀", "٣", "\x00", "\t", "[", "]", ":", " ", "from ", "user ", "99", "\r"]


def sshd_matcher(mode: str = "normal", ignore: Sequence[str] = ()) -> LineMatcher:
    """sshd's filter, successes too, as the file child matches (an ignoreregex added)."""
    fdef = LIBRARY.load("sshd")
    if ignore:
        fdef = dataclasses.replace(fdef, ignoreregex=tuple(re.compile(p) for p in ignore))
    return LineMatcher(CompiledFilter(fdef, mode, successes=True), lambda: NOW)


def c_loop() -> texthits.Run:
    """The C loop, also where JOURNALBAN_NATIVE_TEXT=0 leaves ``texthits`` without it."""
    if texthits.NATIVE is not None:
        return texthits.NATIVE
    assert _texthits.adopt(type(re.match("", "")))
    return _texthits.run


def both(make: Callable[[], LineMatcher], batches: Sequence[Sequence[str]]) -> list[list[Hit]]:
    """The hits of ``batches``, in turn, by a matcher from ``make`` with the C loop and by
    one without, checked equal with the dates each counted; the hits."""
    native = texthits.NATIVE
    out, counted = [], []
    for loop in (c_loop(), None):
        texthits.NATIVE = loop
        try:
            matcher = make()
            out.append([matcher.hits(LineBatch("f", list(lines), "0")) for lines in batches])
            counted.append(dict(matcher.dates.hits))
        finally:
            texthits.NATIVE = native
    assert out[0] == out[1]
    assert counted[0] == counted[1]
    return out[0]


def made_lines(rng: random.Random, count: int, heads: Sequence[str] = (HEAD,)) -> list[str]:
    """``count`` lines of ``CRAFTED`` behind ``heads``, a few minutes round."""
    lines = []
    for k in range(count):
        head = rng.choice(heads)
        minute, second = divmod(k // 7, 60)
        head = head.format(minute % 60, second) if "{" in head else head
        lines.append(head + rng.choice(CRAFTED).format(rng.randint(0, 255)))
    return lines


def mangled(rng: random.Random, line: str) -> str:
    """``line`` with a few characters put in, taken out or changed at random places."""
    chars = list(line)
    for _ in range(rng.randint(1, 4)):
        at = rng.randint(0, len(chars))
        what = rng.random()
        if what < 0.5:
            chars.insert(at, rng.choice(SPICE))
        elif what < 0.8 and at < len(chars):
            del chars[at]
        elif at < len(chars):
            chars[at] = rng.choice("0123456789:. x")
    return "".join(chars)


def test_the_match_layout_is_read_as_re_answers() -> None:
    """What the C loop reads of a match object is what ``re`` says of it, on random
    regexes of groups taking part or not."""
    c_loop()  # (adopted)
    rng = random.Random(3)
    pieces = ["(a)", "(b)?", "(c*)", "(?:(d)|(e))", "(f|)", "x", "(é)?", "((g)h)?"]
    for _ in range(300):
        pattern = "".join(rng.choice(pieces) for _ in range(rng.randint(1, 6)))
        text = "".join(rng.choice("abcdefghxé") for _ in range(rng.randint(0, 12)))
        m = re.compile(pattern).search(text)
        if m is None:
            continue
        spans = [x for g in range(len(m.regs)) for x in m.span(g)]
        last = -1 if m.lastindex is None else m.lastindex
        assert _texthits.marks(m) == (last, len(m.regs), spans)
    with pytest.raises(TypeError):
        _texthits.marks("not a match")  # type: ignore[arg-type]


def test_sshd_crafted_lines_give_the_same_hits() -> None:
    rng = random.Random(7)
    lines = made_lines(rng, 3000)
    hits = both(sshd_matcher, [lines[a : a + 250] for a in range(0, 3000, 250)])
    assert sum(map(len, hits)) > 1000


@pytest.mark.parametrize("mode", ["normal", "ddos", "aggressive"])
def test_sshd_mangled_lines_and_heads_give_the_same_hits(mode: str) -> None:
    """Lines mangled at random, behind heads of other idents and dates (the general path
    settles other formats on the way), in many small batches: the same hits."""
    rng = random.Random(hash(mode) % 1000)
    for _ in range(6):
        lines = made_lines(rng, 1200, HEADS)
        lines = [mangled(rng, x) if rng.random() < 0.4 else x for x in lines]
        both(lambda: sshd_matcher(mode), [lines[a : a + 100] for a in range(0, 1200, 100)])


def test_ignoreregex_and_texts_of_wider_characters_give_the_same_hits() -> None:
    rng = random.Random(13)
    lines = made_lines(rng, 1500)
    lines[10] += " €"  # the batch's text two bytes a character
    lines[900] += " 😀"  # four
    both(lambda: sshd_matcher(ignore=[r"root", r"port 4411"]), [lines[:750], lines[750:]])
    both(sshd_matcher, [lines[:750], lines[750:]])


@pytest.mark.parametrize(("name", "mode"), every_filter_mode())
def test_every_filter_samples_give_the_same_hits(name: str, mode: str) -> None:
    """Each packaged filter's samples, in order and shuffled, with file heads."""
    fdef = LIBRARY.load(name)
    rng = random.Random(len(name))
    lines = [s.line for s in fdef.samples if "\n" not in s.line]
    lines = lines * 3
    rng.shuffle(lines)

    def make() -> LineMatcher:
        return LineMatcher(CompiledFilter(fdef, mode, successes=True), lambda: NOW)

    both(make, [lines, [mangled(rng, x) for x in lines]])


def test_crafted_long_lines_neither_stall_nor_differ() -> None:
    """Lines of 64 KiB (a needle's words over and over, a host group's worth of digits)
    among real failures: the same hits, at no more than the regexes' own cost."""
    crafted = [
        "Failed password for " + "root " * 13_000 + "from 203.0.113.9 port 22 ssh2",
        "Failed password for root from " + "1" * 65_000,
        "Invalid user " + "x" * 65_000 + " from 203.0.113.7",
        "Received disconnect from " * 2_600,
    ]
    lines = [HEAD.format(0, k) + c for k, c in enumerate(crafted)]
    lines += made_lines(random.Random(1), 200)
    started = time.process_time()
    both(sshd_matcher, [lines] * 3)
    assert time.process_time() - started < 20.0


def test_the_switch_turns_the_c_loop_off() -> None:
    env = {**os.environ, "JOURNALBAN_NATIVE_TEXT": "0"}
    code = "from journalban.matching import texthits; print(texthits.NATIVE)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "None"


HOSTS = [
    "203.0.113.9", "203.0.113.9", "10.0.0.1", "01.2.3.4", "1.2.3", "256.1.1.1", " 1.2.3.4",
    "1.2.3.4 ", "1.2.3.4\x00", "\u0661.\u0662.\u0663.\u0664", "\ud800", "", "0.0.0.0", "255.255.255.255",
    "2001:db8::1", "2001:db8::1", "2001:db8:0:1::7", "::ffff:1.2.3.4", "fe80::1%eth0", ":",
    "2001:db8::1\x00", "1.2.3.4.5", "1..2.3", "0x1.2.3.4", "example.org", "é:é",
]  # fmt: skip


@pytest.mark.parametrize("prefix", [None, 64, 48, 128])
def test_address_keys_in_c_are_the_python_ones(
    prefix: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``AddressKeys.of`` in C and in Python: the same entries, batch after batch, for
    addresses valid or crafted, seen before or not, past the memo's size."""
    from journalban.sources import hitkeys

    rng = random.Random(prefix or 0)
    monkeypatch.setattr(hitkeys, "SENT_MAX", 7)
    batches = []
    for _ in range(40):
        hosts = [rng.choice(HOSTS) for _ in range(rng.randint(0, 12))]
        hosts += [f"198.51.100.{rng.randint(0, 300)}" for _ in range(rng.randint(0, 4))]
        hosts += [f"2001:db8:{rng.randint(0, 9)}::{rng.randint(0, 99)}" for _ in range(2)]
        batches.append([("line", h, NOW, None, 0) for h in hosts])
    monkeypatch.setattr(texthits, "NATIVE", c_loop())  # (JOURNALBAN_NATIVE_TEXT=0 too)
    outs = []
    for on in (_texthits.keys_of, None):
        monkeypatch.setattr(hitkeys, "_KEYS_OF", on)
        keys = hitkeys.AddressKeys(prefix)
        outs.append([keys.of(list(batch)) for batch in batches])
    assert outs[0] == outs[1]
    assert any(outs[0])
