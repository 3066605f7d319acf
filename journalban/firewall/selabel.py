"""Keep a file's SELinux label when it is replaced by a renamed temporary file.

A file written atomically (a temporary file renamed over it) would otherwise
carry the label of a new file in its directory, not its own: the policy's
name-based transitions (``hosts.deny`` or ``nginx-deny.conf`` get a type other
domains may read) match the final name, never the temporary one. As ``sed -i``
does, the temporary file is created with the replaced file's label, set as the
thread's file-creation context. Where there is no label (SELinux not in use, a
file system without labels), or the kernel refuses the context, nothing changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

LABEL_ATTRIBUTE = "security.selinux"
FSCREATE = Path("/proc/thread-self/attr/fscreate")


def label_of(path: Path) -> bytes | None:
    """The SELinux label of ``path``, or None where it has none or cannot be read."""
    try:
        label = os.getxattr(path, LABEL_ATTRIBUTE)
    except OSError:
        return None
    return label or None


def ensure_labelled(path: Path) -> None:
    """Create ``path`` empty if missing, so the policy's transition for its name labels it."""
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644))


@contextmanager
def creating_like(path: Path, fscreate: Path = FSCREATE) -> Iterator[None]:
    """Files this thread creates inside the block get ``path``'s label, if it has one."""
    label = label_of(path)
    if label is None:
        yield
        return
    try:
        fd = os.open(fscreate, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        yield
        return
    try:
        try:
            os.write(fd, label)
        except OSError:
            # No SELinux in the kernel, or a label it does not know: create as usual.
            yield
            return
        try:
            yield
        finally:
            os.write(fd, b"")
    finally:
        os.close(fd)
