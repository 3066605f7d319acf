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
from collections.abc import Callable, Iterator, Sequence

# Rows in the largest statement; at SQLite's default limit of 32,766 variables
# (3.32 and later) a row may have 63 columns. A statement is prepared once per
# size and table (sqlite3 keeps 128 per connection).
MOST_ROWS = 64
_texts: dict[tuple[str, int, int, int], str] = {}


def insert(
    cur: sqlite3.Cursor, head: str, width: int, values: Sequence[object],
    fixed: Sequence[object] = (),
) -> None:  # fmt: skip
    """``head`` (``INSERT ... INTO table``) with ``values``: the rows' columns one after
    the other, ``width`` to a row, in as few statements as the sizes allow. ``fixed``: the
    first columns' values, the same in every row, bound once per statement (``?1``, ...)."""
    for size, part in statements(values, width):
        text = statement(head, width, size, len(fixed))
        cur.execute(text, [*fixed, *part] if fixed else part)


def parts(head: str, width: int, values: Sequence[object]) -> list[tuple[str, Sequence[object]]]:
    """``insert``'s statements, not run: each text and its parameters."""
    return [(statement(head, width, size), part) for size, part in statements(values, width)]


def insert_new(
    cur: sqlite3.Cursor, head: str, width: int, values: Sequence[object],
    again: Callable[[sqlite3.Cursor, Sequence[object]], None],
) -> None:  # fmt: skip
    """``insert`` with ``head`` an ``INSERT OR IGNORE``: a statement that inserted fewer rows
    than it had (a key already there, or twice in it) is handed to ``again`` with its
    rows' values, to write them as they should be."""
    for size, part in statements(values, width):
        cur.execute(statement(head, width, size), part)
        if cur.rowcount != size:
            again(cur, part)


def statements(values: Sequence[object], width: int) -> Iterator[tuple[int, Sequence[object]]]:
    """``values`` (rows of ``width`` columns one after the other) cut for statements: each
    part's rows, as many as the largest size that fits (``MOST_ROWS``, then halves), and
    its values."""
    rows = len(values) // width
    start = 0
    size = MOST_ROWS
    while rows:
        while size > rows:
            size >>= 1
        end = start + size * width
        yield size, values[start:end]
        start = end
        rows -= size


def delete(cur: sqlite3.Cursor, head: str, fixed: Sequence[object], keys: Sequence[object]) -> None:
    """``head`` (``DELETE ... WHERE ... AND key IN``), its ``fixed`` parameters first,
    with ``keys`` in the list, in as few statements as the sizes allow."""
    for size, part in statements(keys, 1):
        cur.execute(statement(head, 0, size), [*fixed, *part])


def statement(head: str, width: int, rows: int, fixed: int = 0) -> str:
    """``head VALUES`` and ``rows`` groups of ``width`` parameters, each after the ``fixed``
    ones (numbered: ``?1`` ... in every group), or (``width`` 0) ``head`` and a list of
    ``rows`` parameters; the same text object each time (the statement cache hashes it
    once)."""
    key = (head, width, rows, fixed)
    text = _texts.get(key)
    if text is None:
        if not width:
            text = f"{head} (" + ", ".join("?" * rows) + ")"
        elif not fixed:
            group = "(" + ", ".join("?" * width) + ")"
            text = f"{head} VALUES " + ", ".join([group] * rows)
        else:
            first = [f"?{n}" for n in range(1, fixed + 1)]
            groups = (
                "(" + ", ".join(first + [f"?{fixed + row * width + n}" for n in range(1, width + 1)])
                + ")"
                for row in range(rows)
            )  # fmt: skip
            text = f"{head} VALUES " + ", ".join(groups)
        _texts[key] = text
    return text
