"""Journal files cut short, found by their headers alone (sources.journalcut); the real
agent on a cut journal-remote file: tests/real/test_journal_cut.py."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from journalban.clock import FakeClock
from journalban.sources.journal import JournalSource
from journalban.sources.journalcut import decode_counted, encode_counted, lost_after, tell_cut
from journalban.sources.journalshun import header_of
from journalban.sources.journalwire import CUT, Frame, Request

ONE, OTHER = b"\xaa" * 16, b"\xbb" * 16


def header(source: bytes, head: int, tail: int, times: tuple[int, int], arena: int) -> bytes:
    """A journal file's first 256 bytes: header size 256, ``arena`` bytes after it claimed."""
    out = bytearray(256)
    out[:8] = b"LPKSHHRH"
    out[24:40] = source[::-1]  # its file_id
    out[72:88] = source
    out[88:96] = (256).to_bytes(8, "little")
    out[96:104] = arena.to_bytes(8, "little")
    out[152:160] = (tail - head + 1).to_bytes(8, "little")
    out[160:168] = tail.to_bytes(8, "little")
    out[168:176] = head.to_bytes(8, "little")
    out[184:192] = times[0].to_bytes(8, "little")
    out[192:200] = times[1].to_bytes(8, "little")
    return bytes(out)


def cursor(source: bytes, seqnum: int, usec: int) -> str:
    return f"s={source.hex()};i={seqnum:x};b={'0' * 32};m=1;t={usec:x};x=1"


def test_the_entries_after_the_position_are_counted_by_the_header(tmp_path: Path) -> None:
    path = tmp_path / "cut.journal"
    path.write_bytes(header(ONE, 101, 200, (1000, 2000), 4096))  # 256 bytes of 4352
    found = header_of(str(path))
    assert found is not None
    assert found.cut
    assert lost_after(found, cursor(ONE, 150, 1500), 0) == 50
    assert lost_after(found, cursor(ONE, 50, 500), 0) == 100
    assert lost_after(found, cursor(ONE, 300, 3000), 0) == 0
    # another source's cursor, or none: by the times (all of them, or none)
    assert lost_after(found, cursor(OTHER, 7, 1500), 0) == 100
    assert lost_after(found, cursor(OTHER, 7, 2000), 0) == 0
    assert lost_after(found, None, 500) == 100
    assert lost_after(found, None, 2500) == 0
    assert not found.archived
    whole = tmp_path / "whole.journal"
    whole.write_bytes(
        header(ONE, 1, 100, (1, 2), 0)[:16] + b"\x02" + header(ONE, 1, 100, (1, 2), 0)[17:]
    )
    found = header_of(str(whole))
    assert found is not None
    assert not found.cut
    assert found.archived


def test_each_cut_file_is_told_once_per_reader(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "cut.journal").write_bytes(header(ONE, 101, 200, (1000, 2000), 4096))
    (tmp_path / "old.journal").write_bytes(header(OTHER, 1, 10, (10, 20), 4096))
    (tmp_path / "whole.journal").write_bytes(header(ONE, 201, 300, (2000, 3000), 0))
    request = Request(directory=str(tmp_path))
    frames: list[Frame] = []
    follower = SimpleNamespace(request=request, cursor=cursor(ONE, 150, 1500), lost=0,
                               cut_told=set(), cut_sent=False, send=frames.append)  # fmt: skip
    tell_cut(cast(Any, follower), None)
    assert follower.lost == 50
    cut, old = (header_of(str(tmp_path / name)) for name in ("cut.journal", "old.journal"))
    assert cut is not None
    assert old is not None
    # the agent is told how far each is counted (their tails), to count none of it again
    assert [(f.kind, f.messages) for f in frames] == [
        (CUT, [f"{cut.identity} 200", f"{old.identity} 10"])]  # fmt: skip
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2
    assert f"journal file {tmp_path / 'cut.journal'} is shorter" in warned[0]
    assert "its 50 entries after the position are lost" in warned[0]
    # the old one: none of its entries after the position
    assert f"journal file {tmp_path / 'old.journal'} is shorter" in warned[1]
    assert "its 0 entries after the position" in warned[1]
    caplog.clear()
    tell_cut(cast(Any, follower), None)  # a reader opened again: told already
    assert follower.lost == 50
    assert not caplog.records
    assert len(frames) == 1


def test_a_cut_file_counted_by_an_earlier_child_is_not_counted_again(tmp_path: Path) -> None:
    """The cut file holds the journal's last entries: the position stays before it, and a
    child started again counts only what an earlier one did not (Request.cut_counted)."""
    (tmp_path / "cut.journal").write_bytes(header(ONE, 101, 200, (1000, 2000), 4096))
    (tmp_path / "other.journal").write_bytes(header(OTHER, 1, 10, (3000, 4000), 4096))
    cut, other = (header_of(str(tmp_path / n)) for n in ("cut.journal", "other.journal"))
    assert cut is not None
    assert other is not None

    def told(counted: dict[str, int]) -> tuple[int, list[Frame]]:
        frames: list[Frame] = []
        follower = SimpleNamespace(
            request=Request(directory=str(tmp_path), cut_counted=counted),
            cursor=cursor(ONE, 90, 900), lost=0, cut_told=set(), cut_sent=False,
            send=frames.append)  # fmt: skip
        tell_cut(cast(Any, follower), None)
        return follower.lost, frames

    lost, frames = told({})
    assert lost == 100 + 10
    lost, frames = told({cut.identity: 200, other.identity: 10})
    assert lost == 0
    assert frames[0].messages == [f"{cut.identity} 200", f"{other.identity} 10"]
    lost, _ = told({cut.identity: 150})  # (counted to 150: the rest of it, the other whole)
    assert lost == 50 + 10
    # none cut any more, some counted before: a CUT frame of none (the agent forgets them)
    for name in ("cut.journal", "other.journal"):
        (tmp_path / name).unlink()
    lost, frames = told({cut.identity: 200})
    assert lost == 0
    assert [(f.kind, f.messages) for f in frames] == [(CUT, [])]
    lost, frames = told({})
    assert frames == []


def test_the_agent_keeps_how_far_the_cut_files_are_counted() -> None:
    source = JournalSource("journal:sshd", clock=FakeClock(0.0), findtime=60.0,
                           cut=encode_counted({"gone": 5, "kept": 7}))  # fmt: skip
    assert source._request().cut_counted == {"gone": 5, "kept": 7}
    source._counted_cut(["kept 7", "new 3"], every=True)  # a child's first: every file cut
    assert source._request().cut_counted == {"kept": 7, "new": 3}
    assert source.pending_cut is not None
    assert decode_counted("journal:sshd", source.pending_cut) == {"kept": 7, "new": 3}
    source.pending_cut = None
    source._counted_cut(["later 9"], every=False)  # a file cut later
    assert decode_counted("journal:sshd", source.pending_cut or "") == {
        "kept": 7, "new": 3, "later": 9}  # fmt: skip
    source.pending_cut = None
    source._counted_cut(["later 9"], every=False)  # nothing new: no row to write
    assert source.pending_cut is None
    source._counted_cut([], every=True)
    assert source.pending_cut == ""  # none cut any more: the row deleted
    assert decode_counted("journal:sshd", "[1, 2]") == {}  # damaged: forgotten


def test_the_reader_child_s_look_at_its_files_imports_little() -> None:
    """The child imports journalcut whenever it opens its journal: not ``logging``,
    ``tempfile`` nor the real ``typing`` (journalban.lazytyping) until it has to warn."""
    from support.imports import modules_after

    loaded = modules_after(
        "from journalban.lazytyping import lazy_typing; lazy_typing(); "
        "import journalban.sources.journalworker, journalban.sources.journalcut; "
        "import sys; assert type(sys.modules['typing']).__name__ == '_Typing'"
    )
    assert "journalban.sources.journalcut" in loaded
    assert {"logging", "tempfile", "typing.io"} & loaded == set()
