"""A journal reader child's frame carries its failures as the agent decides them: one tuple
each (line, address text, time, account, mark), written and read by ``marshal`` as they
are, and taken by the agent's batch as the list it decoded (no columns zipped again)."""

from __future__ import annotations

from journalban.clock import FakeClock
from journalban.sources.frames import FRAME_HEADER
from journalban.sources.journal import JournalSource
from journalban.sources.journalwire import DATA, Frame

HITS = [
    ("Failed password for root from 203.0.113.9 port 22 ssh2", "203.0.113.9", 1.7e9, "root", 0),
    (
        "Accepted password for bob from 2001:db8::1 port 22 ssh2",
        "2001:db8::1",
        1.7e9 + 0.25,
        "bob",
        1,
    ),
    ("Failed none for invalid user from 198.51.100.7 port 22 ssh2", "198.51.100.7", 1.7e9, None, 0),
]


def test_a_frame_carries_its_hits_as_tuples_and_the_batch_takes_them_as_they_are() -> None:
    frame = Frame("s=1", 40, 1, 0, hits=list(HITS), sessions=[("4242", "203.0.113.9")])
    encoded = frame.encode()
    decoded = Frame.decode(encoded[FRAME_HEADER.size :])
    assert decoded.kind == DATA
    assert decoded.hits == HITS
    assert all(type(hit) is tuple for hit in decoded.hits)
    assert decoded.lines == [hit[0] for hit in HITS]
    assert (decoded.messages, decoded.times) == ([], [])
    assert decoded.sessions == [("4242", "203.0.113.9")]
    source = JournalSource("sshd", clock=FakeClock(1.8e9), findtime=600.0)
    batch = source._batch(decoded)
    assert batch.hits is decoded.hits
    assert (batch.read, batch.unreadable, batch.count, batch.position) == (40, 1, 40, "s=1")
    assert list(batch.sessions) == [("4242", "203.0.113.9")]


def test_a_frame_without_a_finder_carries_its_candidates() -> None:
    frame = Frame("s=2", 3, messages=["a", "b"], times=[1.0, 2.0])
    decoded = Frame.decode(frame.encode()[FRAME_HEADER.size :])
    assert (decoded.messages, decoded.times, decoded.hits) == (["a", "b"], [1.0, 2.0], None)
    assert decoded.lines == ["a", "b"]
    batch = JournalSource("sshd", clock=FakeClock(1.8e9), findtime=600.0)._batch(decoded)
    assert (list(batch.lines), list(batch.times), batch.hits) == (["a", "b"], [1.0, 2.0], None)
