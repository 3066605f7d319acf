"""The file source's pure parts: line cutting, position text, findtime readback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from journalban.sources.journal import cursor_realtime_usec
from journalban.sources.position import FileMark, decode_marks, encode_marks
from journalban.sources.readback import readback_offset
from journalban.sources.tail import MAX_LINE_BYTES, Lines, decode_lines, newlines


def test_overlong_line_is_cut_without_splitting_a_character() -> None:
    lines = Lines()
    decode_lines(b"a" * (MAX_LINE_BYTES - 1) + "é".encode() * 10 + b"\nshort", lines)
    assert lines.text[0] == "a" * (MAX_LINE_BYTES - 1)
    assert lines.text[1] == "short"
    assert (lines.truncated, lines.unreadable) == (1, 0)


@pytest.mark.parametrize(
    "block", ["one", "a\nb", "\n\n", "é\n\u2028x\r\n\U0001f600\n", "x\n" * 5000 + "end"]
)
def test_a_block_counts_its_lines(block: str) -> None:
    lines = Lines()
    decode_lines(block.encode(), lines)
    assert lines.count == block.count("\n") + 1
    assert lines.text == block.split("\n")


@pytest.mark.parametrize(
    ("block", "end"),
    [
        (b"", 0),
        (b"one", 3),
        (b"a\nb\nc", 3),  # the newline at ``end`` and one after it are not counted
        (b"a\nb\n\n", 1),
        ("é\n\u2028x\r\n\U0001f600\n".encode(), 11),
        (b"x\n" * 5000 + b"partial", 9999),
        (b"x\n" * 5000 + b"partial\n\n", 10000),
    ],
)
def test_newlines_counts_the_head_of_a_block(block: bytes, end: int) -> None:
    assert newlines(block, end) == block[:end].count(b"\n")


def test_a_burst_counts_the_lines_before_its_last_newline() -> None:
    """As ``TailedFile.read`` hands a burst: up to its last newline, an incomplete line after
    it; every line counted, the multi-byte ones too."""
    block = "auth é\n".encode() * 3000 + b"incomplete \xc3"
    lines = Lines()
    decode_lines(block, lines, block.rfind(b"\n"))
    assert lines.count == 3000
    assert lines.text == ["auth é"] * 3000


def test_invalid_bytes_are_replaced_per_line() -> None:
    lines = Lines()
    decode_lines(b"fine\nbad \xc3\x28 byte\nfine again", lines)
    assert lines.text == ["fine", "bad \ufffd( byte", "fine again"]
    assert lines.unreadable == 1


def test_position_text_round_trips() -> None:
    marks = [FileMark("/var/log/mail.log", 2049, 1234, 5678, "00ff", skipping=True)]
    assert decode_marks(encode_marks(marks, current="/var/log/mail.log")) == marks


@pytest.mark.parametrize("text", ["", "{}", '{"v": 99, "files": []}', "s=abc;i=1"])
def test_foreign_position_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="position"):
        decode_marks(text)


def test_cursor_realtime_is_read_from_the_cursor() -> None:
    assert cursor_realtime_usec("s=ab;i=1;b=cd;m=f4241;t=660c9a3a155eb;x=7f") == 0x660C9A3A155EB
    assert cursor_realtime_usec("s=ab;i=1") is None


def dated_file(tmp_path: Path, times: list[int | None]) -> tuple[int, int]:
    path = tmp_path / "log"
    path.write_text("".join(f"{t if t is not None else 'undated'} line\n" for t in times))
    return os.open(path, os.O_RDONLY), path.stat().st_size


def epoch(line: str) -> float | None:
    head = line.split(" ", 1)[0]
    return float(head) if head.isdigit() else None


def test_readback_finds_first_line_at_or_after_cutoff_in_a_large_file(tmp_path: Path) -> None:
    fd, size = dated_file(tmp_path, list(range(1000, 101_000)))  # about 1 MB
    offset = readback_offset(fd, size, 70_000.5, epoch)
    assert os.pread(fd, 12, offset).startswith(b"70001 line\n")
    os.close(fd)


def test_readback_starts_at_the_end_without_dates(tmp_path: Path) -> None:
    fd, size = dated_file(tmp_path, [None] * 50)
    assert readback_offset(fd, size, 0.0, epoch) == size
    os.close(fd)


def test_readback_reads_all_when_everything_is_recent(tmp_path: Path) -> None:
    fd, size = dated_file(tmp_path, [None, 500, 600])
    assert readback_offset(fd, size, 100.0, epoch) == 0
    os.close(fd)


def test_readback_skips_everything_when_all_is_old(tmp_path: Path) -> None:
    fd, size = dated_file(tmp_path, [10, 20, 30])
    assert readback_offset(fd, size, 100.0, epoch) == size
    os.close(fd)


def test_readback_dates_few_lines(tmp_path: Path) -> None:
    """A search dates the lines it looks at, not every line of each 64 KiB window: the
    tail's last dated line from the end, a probe's first dated line from its start."""
    fd, size = dated_file(tmp_path, [*range(1000, 101_000), None, None])  # about 1 MB
    looked: list[str] = []

    def counted(line: str) -> float | None:
        looked.append(line)
        return epoch(line)

    for cutoff, first in ((70_000.5, b"70001 line\n"), (500.0, b"1000 line\n")):
        looked.clear()
        offset = readback_offset(fd, size, cutoff, counted)
        assert os.pread(fd, len(first), offset) == first
        # each probe's first line, the tail's last three, the last window up to the answer
        assert len(looked) < 6_000 if cutoff > 1000 else len(looked) == 4
    looked.clear()
    assert readback_offset(fd, size, 200_000.0, counted) == size  # all older
    assert looked == ["undated line", "undated line", "100999 line"]
    os.close(fd)
