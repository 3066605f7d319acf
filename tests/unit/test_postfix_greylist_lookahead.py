"""postfix's regex 0: its greylisting lookahead gives the lazy three-word form's answers.

The lookahead after a reject's reason says no greylisting word ("Greylisted", "Try again
later", "temporarily" ...) comes before the first ";". It used to be the lazy
``(?![^;]*?(?:[Gg]reylist|[Tt]ry again later|[Tt]emporar))``, which tries the three words
at every character (about 16 ns a character of a reason such as "User unknown in virtual
mailbox table"); it now steps over runs of characters that cannot start a word and tests
the words only at a G, g, T or t. These tests hold it to the lazy form's answers, on the
regex alone and on whole reject lines, whatever the sender writes around the reason.
"""

from __future__ import annotations

import random
import re

from journalban.matching.library import FilterLibrary

LAZY = r"(?![^;]*?(?:[Gg]reylist|[Tt]ry again later|[Tt]emporar))"


def _regex_0() -> str:
    fdef = FilterLibrary(override_dir=None).load("postfix")
    return fdef.failregex[0].regex.pattern


def _lookahead(pattern: str) -> str:
    """The lookahead that follows the reasons' alternation in regex 0."""
    start = pattern.index("Recipient address rejected)") + len("Recipient address rejected)")
    end = pattern.index(r")\b.*$", start)
    return pattern[start : end + 1]


def test_the_lookahead_no_longer_tries_the_words_at_every_character() -> None:
    pattern = _regex_0()
    assert "[^;]*?" not in pattern
    assert _lookahead(pattern).startswith("(?=[^;GgTt]*(?:")


def test_the_lookahead_answers_as_the_lazy_form_on_crafted_texts() -> None:
    new = re.compile(_lookahead(_regex_0()) + "(.*)", re.S)
    old = re.compile(LAZY + "(.*)", re.S)
    pieces = [
        "Greylisted", "greylisted", "Try again later", "try again later", "Temporary",
        "temporarily", "reylist", "ry again", "emporar", "Grey", "Try again late", "G", "g",
        "T", "t", "GGreylist", "tTemporar", "TTry again later", ";", "\n", " ", ", see ",
        "User unknown", "é", "\x00",
    ]  # fmt: skip
    rng = random.Random(19)
    for _ in range(20_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 9)))
        for pos in {0, rng.randint(0, len(text))}:
            for endpos in {len(text), rng.randint(pos, len(text))}:
                a, b = old.match(text, pos, endpos), new.match(text, pos, endpos)
                assert (a is None) == (b is None), (text, pos, endpos)
                assert a is None or b is None or a.span(1) == b.span(1)


def test_regex_0_finds_what_it_found_on_reject_lines_a_sender_shaped() -> None:
    pattern = _regex_0()
    lookahead = _lookahead(pattern)
    new = re.compile(pattern)
    old = re.compile(pattern.replace(lookahead, LAZY))
    head = "NOQUEUE: reject: RCPT from unknown[203.0.113.5]: "
    reasons = [
        "450 4.2.0 <a@example.org>: Recipient address rejected: Greylisted, see http://x/",
        "450 4.7.1 <a@example.org>: Recipient address rejected: Try again later",
        "451 4.3.0 <a@example.org>: Sender address rejected: temporarily unavailable",
        "550 5.1.1 <a@example.org>: Recipient address rejected: User unknown in table",
        "554 5.7.1 <Greylisted@example.org>: Relay access denied",
        "554 5.7.1 <a;b@example.org>: Relay access denied",
        "504 5.5.2 <Try again later>: Helo command rejected: need fully-qualified hostname",
        "450 4.7.25 Client host rejected: cannot find your hostname, [203.0.113.5]",
        "554 5.7.1 <a@example.org>: Relay access denied",
    ]
    tails = [
        "",
        "; from=<greylisted@x> to=<a@example.org> proto=ESMTP helo=<Try again later>",
        " Greylisted; from=<a@b>",
        "; from=<a@b> helo=<x;Temporary>",
        " (see the tempo rules); from=<T@t>",
    ]
    matched = 0
    for reason in reasons:
        for tail in tails:
            line = head + reason + tail
            a, b = old.match(line), new.match(line)
            assert (a is None) == (b is None), line
            if a is not None and b is not None:
                matched += 1
                assert a.groupdict() == b.groupdict(), line
                assert a.span() == b.span(), line
    assert 10 < matched < len(reasons) * len(tails)
