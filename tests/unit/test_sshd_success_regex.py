"""sshd's success regex: its lazy user reads every line as the greedy <USER> does.

Nothing after the user's ``" from "`` may hold another ``" from "`` (the address,
``" port N"``, ``" sshN"``, ``": KEYTYPE FINGERPRINT"``), so at most one ``" from "``
is followed by a match of the rest, and the first such one (lazy) is the last (greedy).
Greedy, sre tried the rest at every character back from the line's end, over the key's
fingerprint: an ``Accepted publickey`` line cost three times a ``Failed password``
line (issue 19). The lines matched and every group captured must be the greedy ones.
"""

from __future__ import annotations

import itertools
import re

from journalban.matching.alternation import compile_quickly
from journalban.matching.library import FilterLibrary
from journalban.matching.tags import expand

GREEDY = (
    r"^Accepted (?:password|publickey|keyboard-interactive(?:/\w+)?|hostbased|gssapi-with-mic)"
    r" for <USER> from <ADDR> port \d+(?: ssh\d?)?(?:: [A-Z][\w@.-]* [\w:+/=$.-]+)?$"
)
METHODS = ["password", "publickey", "keyboard-interactive/pam"]
USERS = [
    "bob", "", "from", " from ", "a from 192.0.2.1", "x from 192.0.2.1 port 22 ssh2",
    "x from 192.0.2.1 port 22 ssh2: RSA SHA256:abc", "a from [2001:db8::1]", "é from ::1",
]  # fmt: skip
HOSTS = [
    "198.51.100.21", "[198.51.100.21]", "2001:db8::20", "[2001:db8::20]", "::ffff:203.0.113.9",
    "host.example.org", "1.2.3",
]  # fmt: skip
PORTS = [" port 51000", " port 51000 ssh2", " port 51000 ssh", " port", ""]
TAILS = [
    "", ": ED25519 SHA256:uK0Wq8r6bS0f0eX9cUuY1u3VwN2Jx8Ue3r+YdKc1o7E", ": RSA SHA256:x from",
    ": RSA SHA256:x from 203.0.113.9 port 1 ssh2", " from 203.0.113.9 port 1 ssh2",
    ": ED25519 from 203.0.113.9 port 1 ssh2: RSA y", " [preauth]", ": rsa x",
]  # fmt: skip


def _lines() -> list[str]:
    return [
        f"Accepted {method} for {user} from {host}{port}{tail}"
        for method, user, host, port, tail in itertools.product(METHODS, USERS, HOSTS, PORTS, TAILS)
    ]


def _shipped() -> str:
    (success,) = FilterLibrary(None).load("sshd").successregex
    return success.pattern


def test_the_success_regex_reads_the_user_lazily() -> None:
    assert "(?P<user>.*?) from <ADDR>" in _shipped()


def test_the_lazy_user_changes_no_match_and_no_capture() -> None:
    shipped = _shipped()
    matched = 0
    for compile_ in (re.compile, compile_quickly):  # plain, and as the reader child's class
        greedy, lazy = compile_(expand(GREEDY)), compile_(expand(shipped))
        assert greedy is not None
        assert lazy is not None
        for line in _lines():
            a, b = greedy.match(line), lazy.match(line)
            assert (a is None) == (b is None), line
            if a is not None and b is not None:
                matched += 1
                assert a.groupdict() == b.groupdict(), line
                assert a.span() == b.span(), line
    # Both verdicts occur, and users holding " from " and an address are read whole.
    assert 100 < matched < 2 * len(_lines())
    m = re.compile(expand(shipped)).match(
        "Accepted password for x from 192.0.2.1 port 22 ssh2 from 198.51.100.21 port 1 ssh2"
    )
    assert m is not None
    assert m.group("host") == "198.51.100.21"
    assert m.group("user") == "x from 192.0.2.1 port 22 ssh2"
