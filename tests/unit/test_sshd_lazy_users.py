"""sshd's regexes read their user lazily: each reads every line as the greedy <USER> did.

Nothing after the user's ``" from "`` (a blank in regex 10) may hold another ``" from "``
followed by an address and a port (the address, ``" port N"``, ``" sshN"``, ``": KEYTYPE
FINGERPRINT"``, ``" via HOST"``, ``" [preauth]"``: a fingerprint ``from`` is followed by
no address), so at most one place is followed by a match of the rest, and the first such
one (lazy) is the last (greedy). Greedy, sre tried the rest at every character back from
the line's end, over the port, the key's fingerprint: an ``Accepted publickey`` line cost
three times a ``Failed password`` line, and that one twice its lazy match (issue 19). The
lines matched and every group captured must be the greedy ones, plain and tuned.
"""

from __future__ import annotations

import itertools
import re

from journalban.matching.alternation import compile_quickly
from journalban.matching.library import FilterLibrary
from journalban.matching.tags import expand

LAZY = "(?P<user>.*?)"
HEADS = [
    "Accepted publickey for ", "Accepted password for ", "Accepted keyboard-interactive/pam for ",
    "Failed password for ", "Failed password for invalid user ", "Failed none for ",
    "Failed publickey for invalid user ", "error: PAM: Authentication failure for ",
    "PAM: User not known to the underlying authentication module for illegal user ",
    "Invalid user ", "error: illegal user ", "User ",
    "error: maximum authentication attempts exceeded for invalid user ",
    "Connection closed by invalid user ", "Disconnected from authenticating user ",
]  # fmt: skip
USERS = [
    "bob", "", "from", " from ", "a from 192.0.2.1", "x from 192.0.2.1 port 22 ssh2",
    "x from 192.0.2.1 port 22 ssh2: RSA SHA256:abc", "a from [2001:db8::1]", "é from ::1",
    "a 192.0.2.1 port 1", "b from 192.0.2.1 not allowed because listed in DenyUsers",
]  # fmt: skip
SEPARATORS = [" from ", " "]
HOSTS = ["198.51.100.21", "[2001:db8::20]", "::ffff:203.0.113.9", "host.example.org", "1.2.3"]
TAILS = [
    "", " port 51000", " port 51000 ssh2", " port 51000 ssh2: ED25519 SHA256:uK0Wq8r6bS0f+/=",
    " port 1 ssh2: RSA from [preauth]", " port 1 ssh2: RSA SHA256:x from 203.0.113.9 port 1",
    " port 22 [preauth]", " [preauth]", " via host.example", " via from ", " ",
    " from 203.0.113.9 port 1 ssh2", " not allowed because listed in DenyUsers",
    " not allowed because shell from does not exist", " port",
]  # fmt: skip


def _lines() -> list[str]:
    return [
        f"{head}{user}{separator}{host}{tail}"
        for head, user, separator, host, tail in itertools.product(
            HEADS, USERS, SEPARATORS, HOSTS, TAILS
        )
    ]


def _shipped() -> list[str]:
    fdef = FilterLibrary(None).load("sshd")
    return [r.pattern for r in (*fdef.failregex, *fdef.successregex) if LAZY in r.pattern]


def test_every_user_of_sshd_s_regexes_is_read_lazily() -> None:
    fdef = FilterLibrary(None).load("sshd")
    patterns = [r.pattern for r in (*fdef.failregex, *fdef.successregex)]
    assert not any("<USER>" in p or "(?P<user>.*)" in p for p in patterns)
    assert len(_shipped()) == 9  # failregexes 0-5, 9 and 10, and the success regex


def test_the_lazy_users_change_no_match_and_no_capture() -> None:
    lines = _lines()
    for pattern in _shipped():
        greedy_pattern = expand(pattern.replace(LAZY, "(?P<user>.*)"))
        matched = 0
        for compile_ in (re.compile, compile_quickly):  # plain, and as the reader child's
            greedy, lazy = compile_(greedy_pattern), compile_(expand(pattern))
            assert greedy is not None
            assert lazy is not None
            for line in lines:
                a, b = greedy.match(line), lazy.match(line)
                assert (a is None) == (b is None), (pattern, line)
                if a is not None and b is not None:
                    matched += 1
                    assert a.groupdict() == b.groupdict(), (pattern, line)
                    assert a.span() == b.span(), (pattern, line)
        # Each regex matches crafted lines, users holding " from " and an address among them.
        assert matched > 20, pattern


def test_a_user_holding_an_address_is_read_whole() -> None:
    (success,) = FilterLibrary(None).load("sshd").successregex
    m = re.compile(expand(success.pattern)).match(
        "Accepted password for x from 192.0.2.1 port 22 ssh2 from 198.51.100.21 port 1 ssh2"
    )
    assert m is not None
    assert m.group("host") == "198.51.100.21"
    assert m.group("user") == "x from 192.0.2.1 port 22 ssh2"
