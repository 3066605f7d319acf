"""The journal files a source shunned, remembered across restarts of the agent.

A file shunned (``journalshun``: its reader children died moving in it) is
kept in the state, in a row of the ``positions`` table beside the source's
own position (``journalwire.shunned_row``: the source's key and `` shunned``,
a key no source has), as JSON: each file's identity, path and the last sequence number
of it counted as lost. An older version of journalban reads only its sources'
own keys there and leaves the row alone: the state's format is unchanged.

A restarted agent's reader children never open those files (the request's
``shun`` holds their identities from the start); ``recall`` looks at the
directory once, when the source first starts: a file still there (at any
path: journald renames the file it rotates) is logged as still not read, and
the entries written to it since it was shunned (its header's last sequence
number against the one counted) are lost, logged and counted as unreadable;
a file gone (vacuumed, removed) is forgotten. Another file at a shunned
file's path has another identity (its own file_id): it is read.

While the agent runs, a shunned file still written to (the active file, until
journald rotates it) grows: the reader child sends its header's last sequence
number each time it changed (``GREW`` frames, looked at each second) and
``grown`` counts what was appended since the count kept (the row's last
sequence number, moved on with it): the loss is counted as it happens, once,
and a restart counts only what came after.
"""

from __future__ import annotations

import json
import logging
from collections.abc import MutableSequence, Sequence

from journalban.sources.journalfiles import journal_files
from journalban.sources.journalshun import Shunned, header_of, still_written, tails_of

log = logging.getLogger("journalban.sources")


def encode(files: Sequence[Shunned]) -> str:
    """The row's text (empty: no file, the row deleted)."""
    if not files:
        return ""
    return json.dumps([[f.identity, f.path, f.tail] for f in files])


def decode(key: str, text: str | None) -> list[Shunned]:
    """The files of a row as stored (a damaged row: none, logged)."""
    if not text:
        return []
    try:
        rows = json.loads(text)
        return [Shunned(str(identity), str(path), int(tail)) for identity, path, tail in rows]
    except (ValueError, TypeError):
        log.warning("source %s: the journal files it shunned, as stored (%r), cannot be read: "
                    "forgotten", key, text[:120])  # fmt: skip
        return []


def recall(key: str, directory: str | None, files: Sequence[Shunned]) -> tuple[list[Shunned], int]:
    """The files still there, where they are now, and how many entries were written to
    them since they were counted (lost: counted as unreadable); logged at warning."""
    paths = journal_files(directory)
    if paths is None or not files:
        return list(files), 0  # the journal's files are not known: kept as they are
    found = {h.identity: (path, h) for path in sorted(paths) if (h := header_of(path)) is not None}
    kept: list[Shunned] = []
    lost = 0
    for old in files:
        if old.identity not in found:
            log.info("source %s forgets journal file %s, shunned by an earlier run: it is "
                     "gone", key, old.path)  # fmt: skip
            continue
        path, header = found[old.identity]
        later = max(0, header.tail - old.tail)
        lost += later
        log.warning("source %s still does not read journal file %s, shunned by an earlier run "
                    "(its reader children died moving in it); %d entries written to it since "
                    "are lost, counted as unreadable%s", key, path, later,
                    still_written(header))  # fmt: skip
        kept.append(Shunned(old.identity, path, max(header.tail, old.tail)))
    return kept, lost


def grown(key: str, files: MutableSequence[Shunned], told: Sequence[str]) -> int:
    """How many entries were appended to ``files`` since they were counted, by the tails a
    reader child read in their headers (``told``: ``"IDENTITY TAIL"`` each, a ``GREW``
    frame's); each file's count moved on in place (its row to be written again). The first
    count of a file while the agent runs is logged at warning, the later ones at debug
    (the file grows until journald rotates it; the metrics count each entry)."""
    tails = tails_of(told)
    lost = 0
    for index, old in enumerate(files):
        tail = tails.get(old.identity, 0)
        if tail <= old.tail:
            continue
        lost += tail - old.tail
        files[index] = Shunned(old.identity, old.path, tail)
        level = logging.DEBUG if (key, old.identity) in _TOLD else logging.WARNING
        _TOLD.add((key, old.identity))
        log.log(level, "source %s: %d entries appended to journal file %s, shunned (its reader "
                "children died moving in it), are lost, counted as unreadable; the journal's "
                "rotation ends it (journalctl --rotate)", key, tail - old.tail, old.path)  # fmt: skip
    return lost


_TOLD: set[tuple[str, str]] = set()  # (source, file) whose growth was logged at warning
