"""Real journal files, written through systemd-journal-remote from export records."""

from __future__ import annotations

import itertools
import struct
import subprocess
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType

from support.real import need_tool

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
BOOT_ID = uuid.UUID("0f1e2d3c4b5a69788796a5b4c3d2e1f0").hex
MACHINE_ID = uuid.UUID("11112222333344445555666677778888").hex
# One boot for every writer of a test run, so the monotonic clock must keep
# rising across writers too, as it does on a real machine: sd-journal orders
# entries of different files from the same boot by it.
_MONOTONIC_STEPS = itertools.count(1)


def export_record(fields: Mapping[str, str | int | bytes], realtime_usec: int, seq: int) -> bytes:
    """One entry in the journal export format; bytes values are written as they are."""
    out = bytearray()
    base: dict[str, str | int | bytes] = {
        "__REALTIME_TIMESTAMP": realtime_usec,
        "__MONOTONIC_TIMESTAMP": 1_000_000 + seq,
        "_BOOT_ID": BOOT_ID,
        "_MACHINE_ID": MACHINE_ID,
        "_HOSTNAME": "testhost",
    }
    base.update(fields)
    for key, value in base.items():
        data = value if isinstance(value, bytes) else str(value).encode()
        if b"\n" in data or isinstance(value, bytes):
            out += key.encode() + b"\n" + struct.pack("<Q", len(data)) + data + b"\n"
        else:
            out += key.encode() + b"=" + data + b"\n"
    out += b"\n"
    return bytes(out)


def sshd_fields(
    message: str, unit: str = "ssh.service", uid: int = 0, pid: int = 4242
) -> dict[str, str | int]:
    return {
        "_SYSTEMD_UNIT": unit,
        "_UID": uid,
        "_GID": uid,
        "_PID": pid,
        "_COMM": "sshd",
        "SYSLOG_IDENTIFIER": "sshd",
        "PRIORITY": 6,
        "MESSAGE": message,
    }


class JournalWriter:
    """A live systemd-journal-remote process writing one journal file.

    Keep it open to append entries while a reader follows the directory.
    """

    def __init__(self, directory: Path, name: str = "remote.journal") -> None:
        need_tool(JOURNAL_REMOTE)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / name
        self._proc = subprocess.Popen(
            [JOURNAL_REMOTE, "-o", str(self.path), "-"],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self._seq = 0

    def write(
        self, entries: Iterable[Mapping[str, str | int | bytes]], realtime: float | None = None
    ) -> None:
        """Append entries; each may carry its own __REALTIME_TIMESTAMP."""
        assert self._proc.stdin is not None
        buf = bytearray()
        for fields in entries:
            self._seq = next(_MONOTONIC_STEPS)
            fields = dict(fields)
            rt = fields.pop("__REALTIME_TIMESTAMP", None)
            usec = int(rt) if isinstance(rt, int | str) else int((realtime or time.time()) * 1e6)
            buf += export_record(fields, usec, self._seq)
        self._proc.stdin.write(bytes(buf))
        self._proc.stdin.flush()

    def wait_visible(self, count: int, timeout: float = 10.0) -> None:
        """Wait until ``count`` entries can be read from the file."""
        from systemd import journal

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.path.exists():
                try:
                    reader = journal.Reader(files=[str(self.path)])
                except OSError:
                    # journal-remote has created the file but not yet its header (ENODATA).
                    time.sleep(0.02)
                    continue
                n = sum(1 for _ in iter(reader._next, False))
                reader.close()
                if n >= count:
                    return
            time.sleep(0.02)
        raise TimeoutError(f"{count} entries did not appear in {self.path}")

    def close(self) -> None:
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._close_pipes()

    def kill(self) -> None:
        self._proc.kill()
        self._proc.wait()
        self._close_pipes()

    def _close_pipes(self) -> None:
        # Unclosed pipes are ResourceWarnings, and warnings are errors in pytest.
        for pipe in (self._proc.stdin, self._proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def remote_write(path: Path, records: Iterable[bytes]) -> None:
    """``records`` (``export_record``'s) written to ``path`` by one run of journal-remote
    (which rotates the file when it is full for its file system)."""
    subprocess.run([need_tool(JOURNAL_REMOTE), "-o", str(path), "-"], input=b"".join(records),
                   check=True, capture_output=True)  # fmt: skip


def write_journal(
    directory: Path,
    entries: Iterable[Mapping[str, str | int | bytes]],
    name: str = "remote.journal",
) -> Path:
    """Write entries into a journal file and close it."""
    with JournalWriter(directory, name) as writer:
        writer.write(entries)
    return writer.path
