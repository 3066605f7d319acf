"""The file reader child's bursts: one burst's buffers at a time, reused heap pages.

A burst is read, decoded, matched and sent before the next is read. Its bytes
and its text (256 KiB each in the child) were copied twice more on the way
(the read joined to the held partial line, the whole lines sliced out), and the
last burst's batch was still held by the reading generators while the next was
read: five burst-sized buffers at once, where two are needed. And glibc, left to
its dynamic thresholds, unmapped what was freed early and faulted it in again at
the next burst (``heaptrim.keep_heap``).
"""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

from journalban.clock import SystemClock
from journalban.sources.files import FileSource
from journalban.sources.position import FileMark, encode_marks
from journalban.sources.tail import Lines, TailedFile, decode_lines

BURST = 1 << 18
LINE = "Dec  6 07:43:01 host sshd[1234]: Connection closed by 192.0.2.{n} port 22 [preauth]\n"


def _log(path: Path, bursts: int) -> int:
    text = "".join(LINE.format(n=n % 250) for n in range(bursts * BURST // len(LINE)))
    path.write_text(text)
    return text.count("\n")


def test_a_burst_is_decoded_without_copies_of_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    _log(path, 3)
    tailed = TailedFile.open(str(path))
    assert tailed is not None
    tailed.read(BURST - 100)  # a partial line is held: the next read joins it
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        lines = tailed.read(BURST)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        tailed.close()
    assert lines.count > 2000
    # the joined bytes and the text (the read's own bytes freed before the decode)
    assert peak < 2.3 * BURST, peak  # (4.1 bursts before)


def test_the_next_burst_is_read_once_the_last_one_is_let_go(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    total = _log(path, 6)
    stat = path.stat()
    start = encode_marks([FileMark(str(path), stat.st_dev, stat.st_ino, 0, None, False)])
    source = FileSource([str(path)], clock=SystemClock(), findtime=600.0, key="f",
                        line_time=lambda line: None, position=start, burst_bytes=BURST)  # fmt: skip
    peaks: list[int] = []
    counted = 0
    tracemalloc.start()
    try:
        for batch in source.blocking_batches(lambda fd, timeout: False):
            counted += batch.count
            del batch  # as the child does once the batch's frame is made
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
        source.close()
    assert counted == total
    assert len(peaks) >= 5
    # each read: the joined bytes and their text, not also the last burst's text
    assert max(peaks[1:]) < 3.2 * BURST, peaks  # (5.8 bursts before)


def test_decoding_up_to_an_end_takes_the_lines_before_it() -> None:
    block = b"first\nsecond\nthird"
    lines = Lines()
    decode_lines(block, lines, 12)
    assert (lines.text, lines.count) == (["first", "second"], 2)
    broken = Lines()
    decode_lines(b"ok\nbad \xc3\x28\nnot this", broken, 9)
    assert (broken.text, broken.unreadable) == (["ok", "bad \ufffd("], 1)


_FAULTS = """
import resource, sys
from journalban.sources.heaptrim import keep_heap
if sys.argv[1] == "keep":
    assert keep_heap()
def burst():
    data = bytes(256 * 1024)
    text = data.decode("latin-1")
    return len(text)
burst()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    burst()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_kept_heap_pages_are_reused_burst_after_burst() -> None:
    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-I", "-c", _FAULTS, mode], check=True,
                             capture_output=True, text=True).stdout  # fmt: skip
        return int(out)

    kept, dynamic = faults("keep"), faults("glibc")
    # glibc's own thresholds: each burst's buffers mapped and faulted in again
    # (about 128 pages a burst); kept: the heap's pages, faulted in once
    assert kept < 200, kept
    assert dynamic > 2000, dynamic
