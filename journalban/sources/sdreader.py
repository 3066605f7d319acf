"""sd-journal readers for the reader child: systemd-python's C reader, not journal.Reader.

The child uses only the reader's low-level calls (``_next``, ``_get``, cursors,
integer microseconds), which ``systemd.journal.Reader`` inherits from
``systemd._reader._Reader`` unchanged. Importing ``systemd.journal`` for its
subclass brought logging, uuid, platform, datetime and traceback into every
reader child: 1 MB each (issue 19). ``open_reader`` opens with the flags the
subclass would choose.
"""

from __future__ import annotations

from systemd._reader import INVALIDATE, LOCAL_ONLY, _Reader

__all__ = ["INVALIDATE", "Reader", "open_reader"]

Reader = _Reader


def open_reader(
    *, files: list[str] | None = None, path: str | None = None, namespace: str | None = None
) -> Reader:
    """``journal.Reader(files=...)``, ``(path=...)``, ``(namespace=...)`` or, with none of
    them, ``(flags=LOCAL_ONLY)``: the files or directory as they are, else the local journal.

    Raises:
        OSError: the journal could not be opened.
    """
    if files is not None:
        return _Reader(0, None, files)
    if path is not None:
        return _Reader(0, path)
    if namespace is not None:
        return _Reader(LOCAL_ONLY, None, None, namespace)
    return _Reader(LOCAL_ONLY)
