"""The journal reader child with the jail's matcher inside.

``python -I -m journalban.agent.readerchild journal`` is ``sources.journalworker``
with a finder of failures: it builds the jail's ``LineMatcher`` from the
request's ``matcher`` (a ``MatcherSpec``, see ``journalfinder``) and hands out
only the failures of each batch, with the cursor and count of the entries
read. The agent then only decides, while matching runs beside the reading on
the other core. The matcher is imported and built when the child first
reads, or right before it forks the helper of a split catch-up
(``journalworker.read_round``), which then reads with it at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from journalban.sources import journalwire
from journalban.sources.isolated import python_module

WORKER = [*python_module("journalban.agent.readerchild"), "journal"]


def finder(spec: Mapping[str, Any]) -> journalwire.FindHits:
    """The jail's finder of failures (with its session gate, when the filter has sessions)."""
    from journalban.agent.journalfinder import JailFinder
    from journalban.matching.literals import parsed_pattern

    found = JailFinder(spec)
    # The parse trees its analyses shared (one per regex) serve nothing once it is
    # built: 0.3-0.5 MB of the child's heap on sshd. A later analysis parses again.
    parsed_pattern.cache_clear()
    return found


def warm_up() -> None:
    """The finder's imports, done while a child started ahead waits for its request."""
    import journalban.agent.journalfinder  # noqa: F401
