"""line_ends (the literal scan behind `journalban regex` and the agent's file path) finds
exactly the lines holding a literal, however dense or sparse the hits, by either search."""

from __future__ import annotations

import random

import pytest

from journalban.matching import needles
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.literals import Needle, line_ends, needles_for


@pytest.fixture(autouse=True, params=["c", "python"])
def scan_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test on the C loop (matching._linescan) and on the pure-Python scan."""
    if request.param == "python":
        monkeypatch.setattr(needles, "_NATIVE", None)
        monkeypatch.setattr(needles, "_FIND", None)
        monkeypatch.setattr(needles, "_AFTER_LINES", None)
    else:
        assert needles._NATIVE is not None, "the C module is built in a test run"


def reference(text: str, needles: list[Needle]) -> dict[int, int]:
    """Line by line: the end of each line holding a literal, with the needles' bits."""
    out: dict[int, int] = {}
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        mask = 0
        for bit, (needle, literals) in enumerate(needles):
            if any(lit in line for lit in ([lit for lit, _ in literals] or [needle])):
                mask |= 1 << bit
        if mask:
            out[end] = mask
        pos = end + 1
    return out


WORDS = ("Failed ", "password ", "for ", "invalid ", "user ", "from ", "port ", "Received ",
         "disconnect ", "reject: ", "RCPT ", "MAIL ", "auth ", "failed, ", "ssh2", "x", " ", "\n")  # fmt: skip


@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 0.9])
def test_random_texts_give_the_reference_lines(density: float) -> None:
    rng = random.Random(int(density * 100))
    literals = ["Failed password for ", "nvalid user ", "Received disconnect from ",
                "reject: RCPT from ", "reject: MAIL from ", "auth failed, ", "d user f"]  # fmt: skip
    needles = needles_for(literals)
    for _ in range(40):
        parts = []
        for _ in range(rng.randint(0, 3000)):
            parts.append(
                rng.choice(literals) if rng.random() < density * 0.1 else rng.choice(WORDS)
            )
        text = "".join(parts)
        assert line_ends(text, needles) == reference(text, needles)


@pytest.mark.parametrize("name", ["sshd", "dovecot", "postfix", "nginx-http-auth", "exim"])
def test_filters_needles_on_their_sample_lines(name: str) -> None:
    compiled = CompiledFilter(
        FilterLibrary(None).load(name), "aggressive" if name == "sshd" else None
    )
    lines = [s.line for s in compiled.fdef.samples if "\n" not in s.line]
    text = "\n".join(lines * 80)  # dense: the regex search; and one copy, sparse: str.find
    assert line_ends(text, compiled.scan) == reference(text, list(compiled.scan))
    one = "\n".join(["nothing here"] * 500 + lines[:1] + ["nor here"] * 500)
    assert line_ends(one, compiled.scan) == reference(one, list(compiled.scan))


@pytest.mark.parametrize("gap", [300, 1500, 2600, 5000, 40000])
@pytest.mark.parametrize("size", [1000, 9000, 300_000])
def test_long_needles_at_every_density_give_the_reference_lines(gap: int, size: int) -> None:
    """A needle of 12 characters or more takes the line regex only where its hits come
    more than one per 2 KiB (counted from its first), str.find's loop otherwise: both
    searches, the same lines."""
    from journalban.matching.needles import _dense

    rng = random.Random(gap + size)
    literals = [":auth): authentication failure; logname=", "auth failed, ", "unknown user"]
    needles = needles_for(literals)
    filler = "Dec  5 16:00:00 mail dovecot: imap(bob): Info: Connection closed in=0 out=1"
    lines: list[str] = []
    length = 0
    while length < size:
        if length // gap != (length + len(filler) + 1) // gap:  # each literal in turn
            literal = literals[len(lines) % len(literals)]
            lines.append(filler[:30] + literal + " user=<x>, rip=192.0.2.7")
        else:
            lines.append(filler + "x" * rng.randint(0, 40))
        length += len(lines[-1]) + 1
    text = "\n".join(lines)
    assert line_ends(text, needles) == reference(text, needles)
    if size == 300_000:  # each literal's hits come 3 x gap apart
        dense = {_dense(text, word, text.find(word), len(text)) for word, _ in needles}
        assert dense == ({True} if gap == 300 else {False}), (gap, dense)


def test_a_short_needle_is_first_looked_for_by_its_rarest_part() -> None:
    """A needle shorter than 12 characters whose last character is common is looked for by
    a part ending at its rarest character (``_probe``): absent, the needle is; present,
    the needle is searched from just before it, and its first occurrence is the same."""
    from journalban.matching.literals import _probe

    assert _probe("llegal user") == ("lleg", 0)
    assert _probe("PAM:") == ("PAM", 0)
    assert _probe("Failed") == ("Failed", -1)  # its rarest character comes first
    assert _probe("maximum authentication attempts exceeded for")[1] == -1  # long: two-way
    literals = ["llegal user ", "PAM: ", "Failed "]
    needles = needles_for(literals)
    rng = random.Random(7)
    parts = ["lleg", "llegal", "llegal use", "PAM", "PA", "AM:", "Failed", "x ", " ", "\n"]
    for _ in range(50):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 400)))
        if rng.random() < 0.5:
            at = rng.randint(0, len(text))
            text = text[:at] + rng.choice(literals) + text[at:]
        assert line_ends(text, needles) == reference(text, needles)


def test_a_long_needle_is_first_found_by_memmem_in_an_ascii_text() -> None:
    """In an ASCII text a needle of 8 characters or more is looked for by the C library's
    ``memmem`` over the text's bytes (``memfind``): the same first occurrence as
    ``str.find``, wherever it is and however near misses crowd it; a text that is not
    ASCII keeps to ``str.find``, and the lines found are those of the reference."""
    from journalban.matching.memfind import ascii_text, first_index

    assert ascii_text("caf\u00e9 not allowed because") is None
    words = ["not allowed because", "refused connect from", "llegal user", "PAM:", "Failed"]
    parts = ["not allowed", "because", "refused conn", "llegal", " user", "\x00", "\n", "é"]
    rng = random.Random(11)
    for _ in range(300):
        text = "".join(rng.choice(parts[:-1]) for _ in range(rng.randint(0, 200)))
        for word in rng.sample(words, rng.randint(0, 2)):
            at = rng.randint(0, len(text))
            text = text[:at] + word + text[at:]
        if rng.random() < 0.1:
            text += parts[-1]  # not ASCII
        raw = ascii_text(text)
        assert (raw is None) == (not text.isascii())
        for word in words:
            assert first_index(text, raw, word) == text.find(word), (word, text)
            if raw is not None:
                start = rng.randint(0, len(text))
                assert raw.find(word, start) == text.find(word, start), (word, start, text)
    assert ascii_text("x" * 100) is not None  # memmem is there (glibc)
    literals = ["not allowed because ", "refused connect from ", "llegal user ", "PAM: "]
    needles = needles_for(literals)
    for _ in range(50):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 400)))
        for literal in rng.sample(literals, rng.randint(0, 3)):
            at = rng.randint(0, len(text))
            text = text[:at] + literal + text[at:]
        assert line_ends(text, needles) == reference(text, needles)


def test_memmem_is_never_given_a_start_outside_the_text() -> None:
    """A start past the text's end (or before it) finds nothing instead of handing
    ``memmem`` a length that wraps around to read beyond the text's bytes."""
    from journalban.matching.memfind import ascii_text

    raw = ascii_text("Failed password for root from 192.0.2.1")
    assert raw is not None
    assert raw.find("192.0.2.1", 0) == 30
    assert raw.find("192.0.2.1", 39) == -1
    for start in (40, 41, 10**6, -1, -(10**6)):
        assert raw.find("192.0.2.1", start) == -1
        assert raw.find("root", start) == -1


def test_literals_at_one_offset_cost_one_startswith_per_hit() -> None:
    """str.find's loop tests a needle's literals at one offset (postfix's 11 ``reject: X
    from ``) by one startswith of them all per hit, not one per literal; the same lines,
    and literals at different offsets still each tried."""
    from journalban.matching.needles import _ends_by_find

    calls: list[object] = []

    class Counted(str):
        def startswith(self, prefix: str | tuple[str, ...], *args: int) -> bool:  # type: ignore[override]
            calls.append(prefix)
            return super().startswith(prefix, *args)

    verbs = ("BDAT", "CONNECT", "DATA", "EHLO", "ETRN", "EXPN", "HELO", "MAIL", "RCPT", "VRFY")
    needle = needles_for([f"reject: {verb} from " for verb in verbs])[0]
    assert needle[0] == "reject:"
    assert len(needle[1]) == len(verbs)
    lines = [f"x reject: {'VRFY' if k % 3 else 'NOPE'} from a[192.0.2.{k}]" for k in range(30)]
    text = Counted("\n".join(lines))
    ends = _ends_by_find(text, needle, text.find("reject:"))
    assert {end: 1 for end in ends} == reference(str(text), [needle])
    assert len(ends) == 20
    assert len(calls) == 30  # one per hit, whichever of the 10 literals it holds
    shifted = ("ab", (("xab", 1), ("abc", 0)))  # two offsets: each literal on its own
    text = Counted("xab\nab\nabc\nzab")
    assert _ends_by_find(text, shifted, 1) == [3, 10]


def test_a_literal_alone_is_found_through_the_needle_it_shares_a_word_with() -> None:
    """dovecot's ``proxy dest auth failed`` (a group of its own by its first word) holds
    ``auth failed``, one character short of ``auth failed, ``'s needle: both are searched
    as ``auth failed`` in one pass (``_join_alone``), the line regex then telling them
    apart by a lookbehind; the lines are those of the reference on crafted near misses,
    dense (the line regex) and sparse (str.find's loop), in an ASCII text or not."""
    from journalban.matching.needles import _line_regex

    literals = ["auth failed, ", "proxy dest auth failed", "tried to use disabled "]
    needles = needles_for(literals)
    assert needles[0] == ("auth failed", (("auth failed, ", 0), ("proxy dest auth failed", 11)))
    assert len(needles) == 2
    regex = _line_regex(needles[0])
    assert regex is not None
    assert [m.group() for m in regex.finditer("x proxy dest auth failed)\nauth failed,x")] == [
        "auth failed)"
    ]
    # Where the shared text would be much shorter than a needle, the groups stay apart.
    assert len(needles_for(["ad password attempt for '", "ogin attempt for nonexistent"])) == 2
    parts = ["proxy dest ", "proxy dest", "dest ", "auth failed", "auth failed, ", "auth ",
             "failed", ", ", ")", "proxy dest auth failed", "x", " ", "\n", "\n", "é"]  # fmt: skip
    rng = random.Random(19)
    for density in (3, 60, 400):
        for _ in range(60):
            text = "".join(
                rng.choice(parts[:-1] if rng.random() < 0.8 else parts)
                for _ in range(rng.randint(0, density * 4))
            )
            assert line_ends(text, needles) == reference(text, needles), text
            lines = text.split("\n") * (4000 // density)
            dense = "\n".join(lines)
            assert line_ends(dense, needles) == reference(dense, needles)


def test_dovecot_scans_proxy_dest_auth_failed_with_auth_failed() -> None:
    """dovecot's filter: one needle fewer (``proxy dest auth failed`` joins ``auth failed,
    ``'s group), both of regex 0's, so a line holding either is tried against it alone."""
    compiled = CompiledFilter(FilterLibrary(None).load("dovecot"), None)
    words = [word for word, _ in compiled.scan]
    assert "auth failed" in words
    assert "proxy dest auth failed" not in words
    assert "auth failed," not in words
    bit = words.index("auth failed")
    assert compiled.regexes_needing(1 << bit) == 1  # regex 0 only


def test_an_ascii_str_is_searched_in_place_and_any_other_through_a_copy() -> None:
    """memmem reads a compact ASCII ``str``'s own characters (no copy of each burst); a
    ``str`` subclass, or one whose size does not say compact, is encoded first: the same
    occurrences either way, up to the text's last character."""
    from journalban.matching.memfind import ascii_text

    class Other(str):
        pass

    rng = random.Random(23)
    parts = ["auth failed", "auth", " failed", "Password mismatch", "x", "\n", ", "]
    for _ in range(200):
        text = "".join(rng.choice(parts) for _ in range(rng.randint(0, 300)))
        for made in (text, Other(text), (text + "zz")[:-2], text.encode().decode()):
            raw = ascii_text(made)
            assert raw is not None
            in_place = type(made) is str
            assert (raw._raw is made) == in_place, type(made)
            for needle in ("auth failed", "Password mismatch", "ailed\n", made[-9:] or "x"):
                for start in (0, rng.randint(0, len(made)), len(made)):
                    assert raw.find(needle, start) == made.find(needle, start), (needle, start)
