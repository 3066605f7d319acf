"""The state database's files, readable by their owner only whatever the umask.

The database holds matched lines: user names, and now and then a password
typed as a user name. The unit's ``UMask=0077`` keeps it private, but an
agent started from a shell (umask 022) would create it ``-rw-r--r--``.
SQLite creates the ``-wal``, ``-shm`` and ``-journal`` files with the mode of
the database file, so creating that one 0600 (and correcting files an older
version left readable) covers all of them.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600
SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create ``path`` 0600 if missing; make it and its SQLite side files 0600.

    Raises:
        OSError: the file cannot be created or its mode changed (or it is a symlink).
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(path, flags, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
    finally:
        os.close(fd)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        try:
            mode = side.lstat().st_mode
        except FileNotFoundError:
            continue
        if stat.S_ISREG(mode) and stat.S_IMODE(mode) != PRIVATE_MODE:
            side.chmod(PRIVATE_MODE)
