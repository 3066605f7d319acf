"""sshd's "Received disconnect" regexes: the early lookahead changes no verdict.

Regexes 8 and 8b say first (a lookahead over the rest of the line) which reason
the tail must hold, so that a line of another reason fails at once instead of
after every reading of the address (issue 19: 202k such lines were an eighth of
`journalban regex`'s time on sshd-flood). The lines matched and every group
captured must be those of the regex without it.
"""

from __future__ import annotations

import itertools
import re

from journalban.matching.library import FilterLibrary
from journalban.matching.tags import expand

PLAIN = {
    "8": r"^(?:error: )?Received disconnect from <HOST>(?: port \d+)?: ?(?:3|14): .*$",
    "8b": r"^(?:error: )?Received disconnect from <HOST>(?: port \d+)?: ?11: .*\[preauth\]$",
}
HOSTS = [
    "198.51.100.9", "[198.51.100.9]", "2001:db8::17", "[2001:db8::17]",
    "2a05:d014:6e2d:ac1f:2721:70bb:7fd6:43bb", "::ffff:203.0.113.9", "host.example.org",
    "1.2.3", "2001:db8::3: 14", "198.51.100.9 port 22: 3",
]  # fmt: skip
PORTS = ["", " port 4411", " port 22:3", " port"]
REASONS = [":3: ", ": 3: ", ":14: ", ":11: ", ": 11: ", ":1: ", ":113: ", ":3:", ": ", ""]
TAILS = [
    "com.jcraft.jsch.JSchException: Auth fail [preauth]", "Bye Bye [preauth]", "Bye Bye",
    "x: 3: y [preauth]", "from 203.0.113.7 port 1:3: z", "", "[preauth]",
]  # fmt: skip


def _lines() -> list[str]:
    return [
        f"{pre}Received disconnect from {host}{port}{reason}{tail}"
        for pre, host, port, reason, tail in itertools.product(
            ["", "error: "], HOSTS, PORTS, REASONS, TAILS
        )
    ]


def _shipped() -> dict[str, re.Pattern[str]]:
    fdef = FilterLibrary().load("sshd")
    found = {}
    for r in fdef.failregex:
        if "Received disconnect" in r.pattern:
            found["8b" if "11: " in r.pattern else "8"] = re.compile(expand(r.pattern))
    return found


def test_the_lookahead_changes_no_match_and_no_capture() -> None:
    shipped = _shipped()
    assert set(shipped) == {"8", "8b"}
    lines = _lines()
    matched = 0
    for name, pattern in PLAIN.items():
        plain = re.compile(expand(pattern))
        for line in lines:
            a, b = plain.match(line), shipped[name].match(line)
            assert (a is None) == (b is None), (name, line)
            if a is not None and b is not None:
                matched += 1
                assert a.groupdict() == b.groupdict(), (name, line)
                assert a.span() == b.span(), (name, line)
    # Both verdicts occur: reasons 3 and 14 for 8, 11 for 8b, the rest for neither.
    assert 100 < matched < len(lines)


def test_a_bye_bye_line_is_no_failure_in_normal_mode() -> None:
    regex = _shipped()["8"]
    assert (
        regex.match("Received disconnect from 198.51.100.29 port 4412:11: Bye Bye [preauth]")
        is None
    )
    m = regex.match("Received disconnect from 2001:db8::9 port 4411:3: Auth fail [preauth]")
    assert m is not None
    assert m.group("host") == "2001:db8::9"
