"""Directory change notices from Linux inotify, through libc (no extra dependency)."""

from __future__ import annotations

import os
import struct
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC

# What a tailer of a directory's files needs to hear about.
DIRECTORY_EVENTS = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, name length


class InotifyUnavailable(OSError):
    """inotify cannot be used here (no libc symbol, or the kernel refused)."""


def _libc() -> ctypes.CDLL:
    # The process's own symbols, libc's among them: ctypes.util.find_library would
    # import shutil, subprocess, tempfile, bz2 and lzma (2 MB in each reader child).
    # ctypes itself when first needed: the agent imports this module (its file jails'
    # types) and reads no file itself (0.3 MB of its memory).
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


class Inotify:
    """An inotify instance; its ``fd`` is non-blocking, for the event loop to watch.

    Raises:
        InotifyUnavailable: the C library or the kernel offers no inotify.
    """

    def __init__(self) -> None:
        import ctypes

        try:
            libc = _libc()
            self._add_watch = libc.inotify_add_watch
            init = libc.inotify_init1
        except (OSError, AttributeError) as exc:
            raise InotifyUnavailable(f"no inotify in the C library: {exc}") from exc
        self._add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._add_watch.restype = ctypes.c_int
        fd = init(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            errno = ctypes.get_errno()
            raise InotifyUnavailable(errno, f"inotify_init1: {os.strerror(errno)}")
        self.fd: int = fd

    def watch(self, path: str, mask: int = DIRECTORY_EVENTS) -> int:
        """Watch ``path``; returns the watch descriptor.

        Raises:
            OSError: the path is missing, not a directory, or the watch limit is reached.
        """
        wd = self._add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            import ctypes  # imported by __init__

            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno), path)
        return int(wd)

    def read_events(self) -> list[tuple[int, int, str]]:
        """Pending events as (watch descriptor, mask, file name); empty when none."""
        events: list[tuple[int, int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            offset = 0
            while offset + _HEADER.size <= len(data):
                wd, mask, _cookie, length = _HEADER.unpack_from(data, offset)
                start = offset + _HEADER.size
                raw_name = data[start : start + length].split(b"\0", 1)[0]
                events.append((wd, mask, os.fsdecode(raw_name)))
                offset = start + length

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
