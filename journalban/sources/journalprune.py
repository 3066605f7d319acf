"""The jail's match groups that select anything in a set of archived journal files.

A jail's matches are groups ORed together (postfix: ``postfix@-.service`` or
``postfix.service``; sshd: ``ssh.service`` or ``sshd.service``; each with its
``_UID``), and most hosts log through one of them. sd-journal still follows
every group at each ``_next()``: a group whose unit never logged in the files
costs a lookup per entry all the same (postfix's catch-up, C reader, instructions
per entry: 22.6k with both groups, 19.1k with the one in use).

An archived file is never written again, so a group selecting no entry of
the files read now selects none later: the catch-up's readers of archived
files (``Follower.read_group``, the session priming, the cuts) leave it out,
and hand out exactly the entries they would have. A reader of files still
written to, or of the whole directory, keeps every group. Standard library
and systemd-python only: the reader child imports it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence

from journalban.sources.journalfiles import archived

Group = Mapping[str, str]


def groups_in(files: Sequence[str], groups: Sequence[Group]) -> list[Group]:
    """The groups of ``groups`` that select at least one entry of ``files``, in order.

    Every group when there is only one, when a file is not archived (or
    cannot be read: the caller's open says why) or when no group selects
    anything (one is kept: a reader needs a match to select nothing).
    """
    if len(groups) < 2 or not files:
        return list(groups)
    try:
        if not all(map(archived, files)):
            return list(groups)
        from journalban.sources.sdreader import open_reader  # only in the reader child

        reader = open_reader(files=list(files))
    except OSError:
        return list(groups)
    kept: list[Group] = []
    try:
        for group in groups:
            reader.flush_matches()
            for name, value in group.items():
                reader.add_match(f"{name}={value}")
            reader.seek_head()
            if reader._next():
                kept.append(group)
    except OSError:
        return list(groups)
    finally:
        with contextlib.suppress(OSError):
            reader.close()
    return kept or list(groups[:1])
