"""A commit's rows in few statements: ``INSERT ... VALUES (?, ?), (?, ?), ...``.

``executemany`` runs one statement per row, and Python's sqlite3 lets go of
the GIL around each row's step and takes it back after: a flood's commit of
thousands of bans and detector rows did so for every row (the mutex and
condition calls alone a tenth of the commit's instructions), and while
another thread held the GIL (the agent deciding the next batches) the
commit thread waited for it row after row. Here the rows go in statements
of up to ``MOST_ROWS`` rows each, of a few fixed sizes (powers of two: at most
one statement of each smaller size per call), so that the connection's
statement cache keeps every one of them prepared. A statement inserts its
rows in their order, as the rows one by one did: the last row of a key
still wins an ``INSERT OR REPLACE``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

# Rows in the largest statement; at SQLite's default limit of 32,766 variables
# (3.32 and later) a row may have 63 columns. A statement is prepared once per
# size and table (sqlite3 keeps 128 per connection).
MOST_ROWS = 64
_texts: dict[tuple[str, int, int], str] = {}


def insert(cur: sqlite3.Cursor, head: str, width: int, values: Sequence[object]) -> None:
    """``head`` (``INSERT ... INTO table``) with ``values``: the rows' columns one after
    the other, ``width`` to a row, in as few statements as the sizes allow."""
    rows = len(values) // width
    start = 0
    size = MOST_ROWS
    while rows:
        while size > rows:
            size >>= 1
        end = start + size * width
        cur.execute(statement(head, width, size), values[start:end])
        start = end
        rows -= size


def delete(cur: sqlite3.Cursor, head: str, fixed: Sequence[object], keys: Sequence[object]) -> None:
    """``head`` (``DELETE ... WHERE ... AND key IN``), its ``fixed`` parameters first,
    with ``keys`` in the list, in as few statements as the sizes allow."""
    rows = len(keys)
    start = 0
    size = MOST_ROWS
    while rows:
        while size > rows:
            size >>= 1
        cur.execute(statement(head, 0, size), [*fixed, *keys[start : start + size]])
        start += size
        rows -= size


def statement(head: str, width: int, rows: int) -> str:
    """``head VALUES`` and ``rows`` groups of ``width`` parameters, or (``width`` 0) ``head``
    and a list of ``rows`` parameters; the same text object each time (the statement
    cache hashes it once)."""
    key = (head, width, rows)
    text = _texts.get(key)
    if text is None:
        if width:
            group = "(" + ", ".join("?" * width) + ")"
            text = f"{head} VALUES " + ", ".join([group] * rows)
        else:
            text = f"{head} (" + ", ".join("?" * rows) + ")"
        _texts[key] = text
    return text
