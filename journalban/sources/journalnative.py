"""The native reader of a catch-up's journal files, where it is built and understands them.

``_journalfile`` (C, built with the package where a compiler is) reads closed journal
files by their on-disk format: the entries a jail's match groups select, in the order,
with the values, times and cursors libsystemd gives, at about a sixth of libsystemd's
instructions an entry (issue 19; docs/benchmarks.md, "A native reader of journal
files"). ``open_native`` returns it for a catch-up part or a priming, or None: the
module is not built, ``JOURNALBAN_NATIVE_JOURNAL=0`` turns it off, or a file is not one
it understands (an unknown incompatible flag, still written to, a check failing, files
whose seqnums interleave): libsystemd reads that part.

Once open, it hands what it cannot read itself to libsystemd: a compressed item (its
value read by a libsystemd reader of that file standing on the same entry, the next
entries natively again), and a check failing mid-read or a seek it does not follow (a
libsystemd reader of the same files and matches placed on the same entry, which reads
on from there).

A file shrunk while it is mapped (journald never does it; anyone who can write the file
can) does not end the process with SIGBUS: the reader finds it damaged, tells it
(``on_damaged``: logged, and counted by the catch-up as entries unreadable) and reads the
other files on; the entry it stood on reads as one without fields, its cursor and time
kept (docs/benchmarks.md, "A file shrunk while mapped").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

__all__ = ["ENV", "NativeReader", "OnDamaged", "log_damaged", "native_available", "open_native"]

ENV = "JOURNALBAN_NATIVE_JOURNAL"


class NativeReader(Protocol):
    """The calls of ``systemd._reader._Reader`` the catch-up makes, as the C reader has them."""

    native: bool
    entries: int

    def _next(self) -> bool: ...
    def _previous(self) -> bool: ...
    def _get(self, field: str) -> bytes: ...
    def _get_realtime(self) -> int: ...
    def _get_cursor(self) -> str: ...
    def seek_head(self) -> None: ...
    def seek_tail(self) -> None: ...
    def seek_cursor(self, cursor: str) -> None: ...
    def seek_realtime(self, usec: int) -> None: ...
    def test_cursor(self, cursor: str) -> bool: ...
    def close(self) -> None: ...


def native_available() -> bool:
    """Whether the native reader is built and not turned off (``JOURNALBAN_NATIVE_JOURNAL=0``)."""
    if os.environ.get(ENV, "1") == "0":
        return False
    try:
        from journalban.sources import _journalfile  # noqa: F401
    except ImportError:
        return False
    return True


def _sd_reader(files: Sequence[str], groups: Sequence[Mapping[str, str]]) -> object:
    from journalban.sources.sdreader import add_groups, open_reader

    reader = open_reader(files=list(files))
    add_groups(reader, groups)
    return reader


class _Values:
    """A compressed item's value, read by a libsystemd reader of its file (one kept per file,
    until ``close``)."""

    def __init__(self) -> None:
        self.readers: dict[str, object] = {}

    def __call__(self, path: str, cursor: str, field: str) -> bytes:
        """The value of ``field`` in the entry at ``cursor`` of ``path``, as libsystemd reads it.

        Raises:
            KeyError: the entry holds no such field.
            OSError: libsystemd does not find the entry.
        """
        from journalban.sources.sdreader import open_reader

        reader = self.readers.get(path)
        if reader is None:
            reader = self.readers[path] = open_reader(files=[path])
        reader.seek_cursor(cursor)  # type: ignore[attr-defined]
        if not reader._next() or not reader.test_cursor(cursor):  # type: ignore[attr-defined]
            raise OSError(f"{path}: no entry at {cursor}")
        value: bytes = reader._get(field)  # type: ignore[attr-defined]
        return value

    def close(self) -> None:
        """Close the readers opened (the native reader's close calls it: each holds its file
        open, and a catch-up reads on with the next part's reader)."""
        readers, self.readers = self.readers, {}
        for reader in readers.values():
            reader.close()  # type: ignore[attr-defined]


# on_damaged(path, entries): a file found shrunk while read; entries: its selected entries
# from where it was found so on, not handed out (0 when found at open: not known)
OnDamaged = Callable[[str, int], object]


def log_damaged(path: str, entries: int) -> None:
    """Log a file found shrunk while read (the reader child's stderr: the agent's log)."""
    import logging

    logging.getLogger("journalban.sources").warning(
        "journal file %s is shorter than its header says (cut, damaged): %d entries selected "
        "for the jail were not read from it; the other files are read on",
        path,
        entries,
    )


def open_native(
    files: Sequence[str],
    groups: Sequence[Mapping[str, str]],
    on_damaged: OnDamaged = log_damaged,
) -> NativeReader | None:
    """A native reader of ``files`` with the match ``groups`` (as ``sdreader.add_groups``
    adds them), or None: libsystemd reads them (see the module's doc). ``on_damaged`` is
    called for each file found shrunk while read (``OnDamaged``).

    Raises:
        OSError: a file could not be opened (vacuumed meanwhile), as libsystemd would.
    """
    if not files or not native_available():
        return None
    from journalban.sources._journalfile import Reader, Unsupported

    paths, wanted = list(files), [dict(group) for group in groups]
    told = (on_damaged,) if _abi() >= 2 else ()  # (a module built before on_damaged: none)
    try:
        reader: NativeReader = Reader(
            paths, wanted, lambda: _sd_reader(paths, wanted), _Values(), *told
        )
    except Unsupported:
        return None
    return reader


def _abi() -> int:
    """The module's interface version: 2 takes ``on_damaged`` (a checkout's module built in
    place before it, which nothing rebuilds on a pull, is read with as before)."""
    from journalban.sources import _journalfile

    version: int = _journalfile.abi()
    return version
