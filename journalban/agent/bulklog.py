"""Many log lines written at once: one formatting and one write per handler.

A flood bans tens of thousands of addresses, each its own line ("Ban
203.0.113.5 in jail sshd for 2d"); through ``Logger.info`` each line cost a
record, the handler's lock, a format and a write with its flush, more than
deciding the ban. ``log_lines`` writes a slice of lines with one record: the
record is formatted once with a marker for its message, and every line is
that text with the marker replaced, all written in one ``write`` and one
``flush``. The lines are the ones ``Logger.info`` would have written, each
line its own; only their time stamp is the slice's.

Only plain ``StreamHandler`` (stderr, the agent's own) is written to this way;
any other handler, a filter anywhere, or a format that shows the message
twice gets a record per line, as ``Logger.log`` would give it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

# Stands for the message in the one formatted record (no log message holds a NUL).
_MARK = "\x00journalban-line\x00"
_STREAM_EMIT = logging.StreamHandler.emit


def log_lines(logger: logging.Logger, level: int, lines: Sequence[str]) -> None:
    """Log each of ``lines`` as its own message at ``level``, as ``logger.log`` would."""
    if not lines or not logger.isEnabledFor(level):
        return
    handlers = _handlers(logger, level)
    if handlers is None:
        for line in lines:
            logger.log(level, line)
        return
    record = logger.makeRecord(logger.name, level, __file__, 0, _MARK, (), None)
    for handler in handlers:
        if type(handler).emit is not _STREAM_EMIT or handler.filters:
            for line in lines:
                one = logger.makeRecord(logger.name, level, __file__, 0, line, (), None)
                handler.handle(one)
            continue
        _write(handler, record, lines)  # type: ignore[arg-type]


def _handlers(logger: logging.Logger, level: int) -> list[logging.Handler] | None:
    """The handlers a record of ``logger`` reaches (``Logger.callHandlers``' walk), or
    None when that walk cannot be done here (filters, no handler at all)."""
    if logger.filters or logger.disabled:
        return None
    found: list[logging.Handler] = []
    current: logging.Logger | None = logger
    while current is not None:
        found += [h for h in current.handlers if level >= h.level]
        if not current.propagate:
            break
        current = current.parent
    return found or None


def _write(
    handler: logging.StreamHandler[Any], record: logging.LogRecord, lines: Sequence[str]
) -> None:
    try:
        text = handler.format(record)
        if text.count(_MARK) != 1:
            for line in lines:
                handler.handle(logging.makeLogRecord({**vars(record), "msg": line}))
            return
        head, _, tail = text.partition(_MARK)
        tail += handler.terminator
        # (each line between the record's head and tail: one join, no concatenation a line)
        data = head + (tail + head).join(lines) + tail
        with handler.lock or _NO_LOCK:
            handler.stream.write(data)
            handler.flush()
    except RecursionError:  # as StreamHandler.emit
        raise
    except Exception:  # a logging error never stops the agent
        handler.handleError(record)


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


_NO_LOCK = _NoLock()
