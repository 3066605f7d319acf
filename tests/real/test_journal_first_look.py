"""After the first look, a finder that matches one message at a time decides alone.

Where few messages hold a literal, the reader child first looks at a translated
copy of each message (``literalscan.first_look``), which finds every message
holding one and a few holding none. The exact scan after it spared those few a
decode and a match, and cost every candidate a second scan (dovecot's corpus:
2% of the child's instructions). A finder without sessions whose match decides
each message (``match_one``) now matches them: a failregex match holds a literal,
so it finds the same failures. The exact scan is still asked of a message that
cannot be decoded, so that ``unreadable`` counts the candidates only. On real
files from journal-remote, in this process as the reader child.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from test_journal_child import wait_entries
from test_journal_source import SSHD_GROUPS

from journalban.agent.journalreader import finder
from journalban.matching.engine import CompiledFilter
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec
from journalban.sources.journalwire import Request
from journalban.sources.journalworker import Follower
from journalban.sources.literalscan import first_look, literal_scan
from support.journal import JournalWriter, sshd_fields
from support.readerchild import frames_in

pytestmark = pytest.mark.real

SPEC = MatcherSpec("dovecot", None, None, check_idents=False)


def near_miss(literal: str, table: bytes) -> bytes:
    """``literal`` with one byte the first look stops at put in place of another: the
    first look finds it, the exact scan does not."""
    raw = literal.encode()
    stops = [byte for byte in range(1, 256) if table[byte] == 0]
    at = next(k for k, byte in enumerate(raw) if byte in stops)
    other = next(byte for byte in stops if byte != raw[at])
    return raw[:at] + bytes((other,)) + raw[at + 1 :]


def test_the_match_decides_after_the_first_look(tmp_path: Path) -> None:
    literals = CompiledFilter(FilterLibrary(None).load("dovecot"), None).literals
    assert literals is not None
    look = first_look(literals)
    exact = literal_scan(literals)
    assert look is not None
    assert exact is not None
    table, first = look
    fail = "imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<{u}>, rip={a}"
    misses = [near_miss(literal, table) for literal in literals]
    messages: list[str | bytes] = []
    for k in range(60):
        address = f"198.51.100.{k + 1}"
        messages.append(fail.format(u=f"u{k}", a=address))
        messages.append(b"imap-login: " + misses[k % len(misses)] + f" rip={address}".encode())
        messages.append(f"imap-login: Login: user=<u{k}>, rip={address}, TLS")
    messages.append(misses[0] + b" \xff rip=198.51.100.99")  # undecodable, no literal
    messages.append(fail.format(u="\udcff", a="198.51.100.98").encode("utf-8", "surrogateescape"))
    for raw in misses:
        assert first(raw.translate(table)) is not None
        assert exact.search(raw) is None
    with JournalWriter(tmp_path) as writer:
        writer.write([{**sshd_fields(""), "MESSAGE": message} for message in messages])
        writer.wait_visible(len(messages))
    wait_entries(tmp_path, len(messages))

    request_finder = finder(SPEC.to_json())
    out = tmp_path / "frames"
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        request = Request(
            matches=SSHD_GROUPS, directory=str(tmp_path), prefilter=literals,
            matcher=SPEC.to_json(),
        )  # fmt: skip
        follower = Follower(request, fd, fd, request_finder)
        follower.first_look = look
        asked: list[bytes] = []
        assert follower.scan is not None
        search = follower.scan.search

        class Counted:
            def search(self, raw: bytes) -> Any:
                asked.append(raw)
                return search(raw)

        follower.scan = Counted()  # type: ignore[assignment]
        follower.seek_start()
        follower.drain()
        follower.close()
    finally:
        os.close(fd)
    frames = frames_in(out.read_bytes())
    # Only the undecodable messages the first look passed were scanned exactly.
    assert len(asked) == 2
    assert all(b"\xff" in raw for raw in asked)
    # The failures the batch call finds among every message holding a literal, in order.
    texts = [m if isinstance(m, str) else m.decode("utf-8", "replace") for m in messages]
    candidates = [
        t
        for m, t in zip(messages, texts, strict=True)
        if exact.search(m if isinstance(m, bytes) else m.encode("utf-8", "surrogateescape"))
        is not None
    ]
    expected = finder(SPEC.to_json())(candidates, [0.0] * len(candidates), [None] * len(candidates))
    # (their times are the entries', 0.0 given to the batch call)
    assert [(*hit[:2], *hit[3:]) for f in frames for hit in f.hits or ()] == [
        (*hit[:2], *hit[3:]) for hit in expected[0]
    ]
    assert len(expected[0]) == 61
    assert sum(f.unreadable for f in frames) == 1  # the failure; not the near miss
