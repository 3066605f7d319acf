"""The restart policy of a source whose reader children die on one entry (agent.sourcing.Restarts).

A fake journal reader child (the real JournalSource, its worker a small script) dies of
SIGABRT at one entry, as libsystemd does on a damaged compressed field: the agent steps up
to it, skips it after STRIKES stepping children died there, counts it as unreadable and
reads on; nothing else is lost or counted twice. The real reader on a damaged journal
file: tests/real/test_journal_poison.py.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from journalban.agent.runtime import Agent
from journalban.agent.sourcing import STRIKES, Restarts
from journalban.clock import SystemClock
from journalban.sources.child import ChildDied
from journalban.sources.journal import JournalSource
from journalban.sources.journalshun import SKIPS_PER_FILE, identity_of
from journalban.sources.journalwire import shunned_row
from support.fakesources import JAIL, files_jail_config, run_until, use_sources

ENTRIES, POISON = 10, 6

# The fake child: entries 1..ENTRIES, each a failure of its own address; it aborts on
# reaching POISON. Batches of 4 entries, or one per frame while it steps.
SHUNNED_TAIL = 8  # the last entry of the file holding POISON (test_..._file_is_shunned)
CHILD = f"""
import os, sys, time
MOVING = os.environ.get("FAKE_DIES_MOVING") == "1"
POISONS = {{int(n) for n in os.environ.get("FAKE_POISONS", "{POISON}").split(",")}}
FILE = os.environ.get("FAKE_FILE", "/fake/system.journal")
from journalban.sources.journalwire import DATA, SKIPPED, Frame, Request
request = Request.decode(sys.stdin.buffer.readline())
def cursor(n):
    return f"s={{'a' * 32}};i={{n:x}};b={{'b' * 32}};m=1;t={{n:x}};x=1"
at = int(request.cursor.split(";")[1][2:], 16) if request.cursor else 0
def send(frame):
    sys.stdout.buffer.write(frame.encode()); sys.stdout.buffer.flush()
if request.shun:
    at = max(at, {SHUNNED_TAIL})  # the rest of the shunned file not read
elif request.skip:
    if MOVING:
        os.abort()  # dies moving to the entry, before its cursor
    at += 1
    send(Frame(cursor(at), 1, 1, kind=SKIPPED, messages=[FILE]))
step, lines = request.step, []
while at < {ENTRIES}:
    at += 1
    if at in POISONS:
        os.abort()
    lines.append(f"Failed password for root from 203.0.113.{{at}} port 22 ssh2")
    if step or len(lines) == 4 or at == {ENTRIES}:
        send(Frame(cursor(at), len(lines), messages=lines, times=[time.time()] * len(lines)))
        lines, step = [], max(0, step - 1)
sys.stdin.buffer.read()  # until the agent is gone
"""


Start = tuple[int | None, int, bool, list[str]]  # position, step, skip, shun of each child


def run_agent(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    directory: str | None = None,
    expect: int = ENTRIES,
) -> tuple[tuple[int, int, int], list[Start]]:
    """The agent on the fake child: the jail's (failures, lines read, unreadable) once it
    read and counted ``expect`` entries, and the children's starts."""
    config = files_jail_config(tmp_path, maxretry=10)
    starts: list[Start] = []

    class Watched(JournalSource):
        def _request(self, helper_socket: int | None = None) -> Any:
            request = super()._request(helper_socket)
            at = None if request.cursor is None else int(request.cursor.split(";")[1][2:], 16)
            starts.append((at, request.step, request.skip, list(request.shun)))
            return request

    def build(positions: Mapping[tuple[str, str], str]) -> list[JournalSource]:
        source = Watched("k", clock=SystemClock(), findtime=600, batch_size=4,
                         position=positions.get((JAIL, "k")), directory=directory,
                         worker=[sys.executable, "-c", CHILD],
                         shunned=positions.get((JAIL, shunned_row("k"))))  # fmt: skip
        return [source]

    use_sources(monkeypatch, build)

    def counts(agent: Agent) -> tuple[int, int, int]:
        jail = agent.decisions.jails[JAIL]
        return jail.total_failed, jail.lines_read, jail.lines_unreadable

    # until every entry is read or counted unreadable; then nothing more comes
    got = run_until(config, lambda agent: sum(counts(agent)[1:]) >= expect, counts, settle=0.1)
    return got, starts


def test_a_child_dying_at_one_entry_has_it_skipped_and_nothing_else_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (total, read, unreadable), starts = run_agent(tmp_path, monkeypatch)
    assert (total, read, unreadable) == (ENTRIES - 1, ENTRIES, 1)
    at = [position for position, _, _, _ in starts]
    # the first child dies in its second batch (entries 5-6): the committed position is 4;
    # a stepping child hands 5 and dies; STRIKES stepping ones die with nothing handed;
    # then one skips 6, steps on and reads to the end.
    assert at == [None, 4, *[5] * (STRIKES + 1)]
    steps = [(step, skip) for _, step, skip, _ in starts]
    assert steps == [(0, False), *[(4, False)] * (1 + STRIKES), (4, True)]
    warned = [r.getMessage() for r in caplog.records if "skipped a journal entry" in r.getMessage()]
    assert len(warned) == 1
    assert "file /fake/system.journal" in warned[0]
    assert f";i={POISON:x};" in warned[0]


def header(source: bytes, head: int, tail: int, realtime: tuple[int, int] = (1, 2)) -> bytes:
    """A journal file's header: its sequence-number source, first and last sequence numbers,
    entries, first and last entries' times."""
    out = bytearray(256)
    out[:8] = b"LPKSHHRH"
    out[72:88] = source
    out[152:160] = (tail - head + 1).to_bytes(8, "little")
    out[160:168] = tail.to_bytes(8, "little")
    out[168:176] = head.to_bytes(8, "little")
    out[184:192] = realtime[0].to_bytes(8, "little")
    out[192:200] = realtime[1].to_bytes(8, "little")
    return bytes(out)


def test_a_child_dying_even_skipping_has_the_rest_of_its_file_shunned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A skipping child dies too (moving to the entry: a damaged entry header or array): the
    next child never opens that file, the rest of it counted as unreadable, logged."""
    monkeypatch.setenv("FAKE_DIES_MOVING", "1")
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "one@a.journal").write_bytes(header(b"\xaa" * 16, 1, SHUNNED_TAIL))
    (journal / "one.journal").write_bytes(header(b"\xaa" * 16, SHUNNED_TAIL + 1, 100))
    (total, read, unreadable), starts = run_agent(tmp_path, monkeypatch, str(journal))
    lost = SHUNNED_TAIL - (POISON - 1)  # 6, 7, 8: the entries after the committed 5
    assert (total, read, unreadable) == (ENTRIES - lost, ENTRIES - lost, lost)
    shunned = [identity_of(str(journal / "one@a.journal"))]
    assert starts == [(None, 0, False, []), (4, 4, False, []),
                      *[(5, 4, False, [])] * STRIKES, (5, 4, True, []),
                      (5, 4, False, shunned)]  # fmt: skip
    warned = [r.getMessage() for r in caplog.records if "stops reading" in r.getMessage()]
    assert len(warned) == 1
    assert f"journal file {journal / 'one@a.journal'}:" in warned[0]
    assert f"its {lost} entries from there on are lost" in warned[0]
    # (its header says it is not archived: what is appended to it is lost too)
    assert "it is still written to: what is appended to it is lost too" in warned[0]


def test_a_restarted_agent_remembers_the_files_shunned_while_they_are_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The file shunned is kept in the state by its identity: the next run's children never
    open it (none dies), the entries written to it since are counted as unreadable, and
    once it is gone it is forgotten."""
    monkeypatch.setenv("FAKE_DIES_MOVING", "1")
    journal = tmp_path / "journal"
    journal.mkdir()
    damaged = journal / "one@a.journal"
    damaged.write_bytes(header(b"\xaa" * 16, 1, SHUNNED_TAIL))
    (journal / "one.journal").write_bytes(header(b"\xaa" * 16, SHUNNED_TAIL + 1, 100))
    run_agent(tmp_path, monkeypatch, str(journal))
    identity = identity_of(str(damaged))
    caplog.clear()

    def messages(text: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if text in r.getMessage()]

    counts, starts = run_agent(tmp_path, monkeypatch, str(journal), expect=0)
    assert starts == [(ENTRIES, 0, False, [identity])]  # the first child, told: none died
    assert counts[2] == 0
    assert not messages("failed; restarting")
    assert not messages("stops reading")
    kept = messages("still does not read journal file")
    assert len(kept) == 1
    assert f"file {damaged}, shunned" in kept[0]
    assert "0 entries written to it since" in kept[0]
    # renamed (journald's rotation) and written to since (as the file still written to is)
    caplog.clear()
    damaged.unlink()
    damaged = journal / "one@b.journal"
    damaged.write_bytes(header(b"\xaa" * 16, 1, SHUNNED_TAIL + 4))
    assert identity_of(str(damaged)) == identity
    counts, starts = run_agent(tmp_path, monkeypatch, str(journal), expect=4)
    assert starts == [(ENTRIES, 0, False, [identity])]
    assert counts[2] == 4  # counted at once, though nothing else is read
    kept = messages("still does not read journal file")
    assert len(kept) == 1
    assert f"file {damaged}, shunned" in kept[0]
    assert "4 entries written to it since" in kept[0]
    counts, starts = run_agent(tmp_path, monkeypatch, str(journal), expect=0)
    assert counts[2] == 0  # counted once
    # gone: forgotten; another file at its path is read
    caplog.clear()
    caplog.set_level(logging.INFO, "journalban.sources")
    damaged.unlink()
    (journal / "one@a.journal").write_bytes(header(b"\xbb" * 16, 1, SHUNNED_TAIL))
    counts, starts = run_agent(tmp_path, monkeypatch, str(journal), expect=0)
    assert starts == [(ENTRIES, 0, False, [])]
    assert len(messages(f"forgets journal file {damaged}")) == 1
    assert not messages("still does not read")
    counts, starts = run_agent(tmp_path, monkeypatch, str(journal), expect=0)
    assert starts == [(ENTRIES, 0, False, [])]
    assert not messages("still does not read")


def test_entries_of_one_file_killing_their_readers_have_its_rest_shunned_at_the_third(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Entries sharing one damaged data object each kill a reader (four restarts each):
    after SKIPS_PER_FILE of them skipped in one file, the next one found there shuns the
    rest of the file."""
    journal = tmp_path / "journal"
    journal.mkdir()
    (journal / "one@a.journal").write_bytes(header(b"\xaa" * 16, 1, SHUNNED_TAIL))
    (journal / "one.journal").write_bytes(header(b"\xaa" * 16, SHUNNED_TAIL + 1, 100))
    monkeypatch.setenv("FAKE_POISONS", "6,7,8")
    monkeypatch.setenv("FAKE_FILE", str(journal / "one@a.journal"))
    # (each skipped entry counts as read and unreadable: 9 + 3 once 10 is read)
    (total, read, unreadable), starts = run_agent(tmp_path, monkeypatch, str(journal), 12)
    # 6 and 7 skipped; at 8 the file's rest (8) shunned; 1-5, 9 and 10 read
    assert (total, read, unreadable) == (7, 9, 3)
    assert [(at, skip, bool(shun)) for at, _, skip, shun in starts if skip or shun] == [
        (5, True, False), (6, True, False), (7, False, True)]  # fmt: skip
    assert SKIPS_PER_FILE == 2
    warned = [r.getMessage() for r in caplog.records if "skipped already" in r.getMessage()]
    assert len(warned) == 1
    assert "stops reading journal file" in caplog.text


def test_the_file_after_a_cursor_is_found_by_the_headers_alone(tmp_path: Path) -> None:
    from journalban.sources.journalshun import file_after

    one, other = bytes(range(16)), bytes(range(1, 17))
    (tmp_path / "system@a.journal").write_bytes(header(one, 1, 100, (10, 20)))
    (tmp_path / "system.journal").write_bytes(header(one, 101, 200, (20, 30)))
    (tmp_path / "remote.journal").write_bytes(header(other, 1, 500, (5, 40)))

    def cursor(source: bytes, seqnum: int, usec: int = 25) -> str:
        return f"s={source.hex()};i={seqnum:x};b={'0' * 32};m=1;t={usec:x};x=1"

    def after(cursor: str | None, shunned: Sequence[str] = ()) -> tuple[str, int] | None:
        found = file_after(cursor, where, shunned)
        return None if found is None else (found[0], found[1])

    where = str(tmp_path)
    where = str(tmp_path)
    assert after(cursor(one, 50)) == (str(tmp_path / "system@a.journal"), 50)
    assert after(cursor(one, 100)) == (str(tmp_path / "system.journal"), 100)
    assert after(cursor(one, 150)) == (str(tmp_path / "system.journal"), 50)
    # its own file shunned already (by its identity): the next of that source
    shunned = [identity_of(str(tmp_path / "system@a.journal")) or ""]
    assert after(cursor(one, 50), shunned) == (str(tmp_path / "system.journal"), 100)
    # no file of that source after it: by the times (the first one ending after it)
    assert after(cursor(one, 300, 35)) == (str(tmp_path / "remote.journal"), 500)
    assert after(None) == (str(tmp_path / "remote.journal"), 500)
    # none after it at all: a file of another source read to its end (nothing lost)
    assert after(cursor(one, 300, 50)) == (str(tmp_path / "remote.journal"), 0)
    assert after(cursor(other, 900, 50)) == (str(tmp_path / "system@a.journal"), 0)
    every = [identity_of(str(path)) or "" for path in tmp_path.iterdir()]
    assert after(cursor(one, 300, 50), every) is None


def test_restarts_skip_only_after_stepping_children_crashed_at_one_position() -> None:
    abort = ChildDied("x", signal.SIGABRT)
    restarts = Restarts()
    # a crash (of a child reading normally, or one stepping that handed something): step
    assert restarts.after(abort, stepped=False, handed=False, position="p") == (True, False, False)
    assert restarts.after(abort, stepped=True, handed=True, position="p") == (True, False, False)
    # stepping, nothing handed: strikes at one position, then a skip (once)
    for _ in range(STRIKES - 1):
        got = restarts.after(abort, stepped=True, handed=False, position="p")
        assert got == (True, False, False)
    assert restarts.after(abort, stepped=True, handed=False, position="p") == (True, True, False)
    assert restarts.after(abort, stepped=True, handed=False, position="p") == (True, False, False)
    # strikes at another position start again
    restarts = Restarts()
    assert restarts.after(abort, stepped=True, handed=False, position="p") == (True, False, False)
    assert restarts.after(abort, stepped=True, handed=False, position="q") == (True, False, False)
    expected = (True, STRIKES == 2, False)
    assert restarts.after(abort, stepped=True, handed=False, position="q") == expected


def test_restarts_shun_the_file_after_a_skipping_child_crashed_with_nothing_handed() -> None:
    abort = ChildDied("x", signal.SIGABRT)
    restarts = Restarts()
    got = restarts.after(abort, stepped=True, handed=False, position="p", skipped=True)
    assert got == (True, False, True)
    # one that skipped the entry (handed its SKIPPED frame) and died on: a step
    got = restarts.after(abort, stepped=True, handed=True, position="p", skipped=True)
    assert got == (True, False, False)
    # a strike count starts again after a shun
    got = restarts.after(abort, stepped=True, handed=False, position="p")
    assert got == (True, STRIKES == 1, False)


@pytest.mark.parametrize(
    "error",
    [
        ChildDied("oom", signal.SIGKILL),  # the OOM killer: restarted as before
        ChildDied("exited", None),  # it exited (and said why)
        RuntimeError("disk on fire"),
    ],
)
def test_restarts_of_other_failures_are_as_before(error: Exception) -> None:
    restarts = Restarts()
    for _ in range(STRIKES + 1):
        got = restarts.after(error, stepped=True, handed=False, position="p", skipped=True)
        assert got == (False, False, False)


def test_a_helper_that_ended_early_makes_the_next_child_step_without_a_strike() -> None:
    restarts = Restarts()
    helper = ChildDied("helper", helper=True)
    for _ in range(STRIKES + 1):
        got = restarts.after(helper, stepped=True, handed=False, position="p", skipped=True)
        assert got == (True, False, False)
    for signum in (signal.SIGBUS, signal.SIGSEGV):
        restarts = Restarts()
        crash = ChildDied("crash", signum)
        found = [restarts.after(crash, stepped=True, handed=False, position="p")
                 for _ in range(STRIKES)]  # fmt: skip
        assert found[-1] == (True, True, False)


def test_the_skipped_entrys_file_is_found_by_the_headers_alone(tmp_path: Path) -> None:
    from journalban.sources.journalrecover import file_of

    def header(source: bytes, head: int, tail: int) -> bytes:
        out = bytearray(256)
        out[:8] = b"LPKSHHRH"
        out[72:88] = source
        out[160:168] = tail.to_bytes(8, "little")
        out[168:176] = head.to_bytes(8, "little")
        return bytes(out)

    one, other = bytes(range(16)), bytes(range(1, 17))
    (tmp_path / "system@a.journal").write_bytes(header(one, 1, 100))
    (tmp_path / "system.journal").write_bytes(header(one, 101, 200))
    (tmp_path / "user-1000.journal").write_bytes(header(one, 150, 160))  # shares the source
    (tmp_path / "remote.journal").write_bytes(header(other, 1, 500))
    (tmp_path / "cut.journal").write_bytes(header(one, 1, 500)[:100])  # too short: not it
    (tmp_path / "notes.txt").write_bytes(header(one, 1, 500))  # not a journal file

    def cursor(source: bytes, seqnum: int) -> str:
        return f"s={source.hex()};i={seqnum:x};b={'0' * 32};m=1;t=1;x=1"

    assert file_of(cursor(one, 50), str(tmp_path)) == str(tmp_path / "system@a.journal")
    assert file_of(cursor(one, 120), str(tmp_path)) == str(tmp_path / "system.journal")
    both = f"{tmp_path / 'system.journal'} or {tmp_path / 'user-1000.journal'}"
    assert file_of(cursor(one, 155), str(tmp_path)) == both
    assert file_of(cursor(other, 155), str(tmp_path)) == str(tmp_path / "remote.journal")
    assert file_of(cursor(one, 900), str(tmp_path)) == ""
    assert file_of("not a cursor", str(tmp_path)) == ""
