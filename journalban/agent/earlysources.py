"""The jails' sources built before the agent is ready, so that their reader children prepare.

A journal jail's reader child is started first thing (``sources.journal.start_ahead``)
and imports while the agent starts. Given its request only when the source
started, after READY, it then opened the journal, tuned its prefilter (the
journal's last 1,000 messages) and built the jail's finder: 20-35 ms before
its first entry and before a split catch-up's helper was forked (issue 19,
``docs/benchmarks.md``). The sources are now built once the jails are, and
each journal source tells its child the request at once
(``JournalSource.prepare``); the child does all that while the agent sets up
its firewall and restores its bans, and reads nothing until the source starts.

``journalban run`` tells the journal jails' requests earlier still
(``journal_sources_ahead``): once the state is open, before the agent compiles
the jails' filters (12 ms for sshd), reads the host's interfaces and builds
the rest of its jails, so that the child's 30-36 ms (journal opened, prefilter
tuned, finder built) overlap those instead of following READY in a dry run
(issue 19, jread2). Such a request leaves the prefilter to the child's finder
(``journal_prefilter`` of the same compiled filter), which the agent has not
compiled yet.

A file jail's reader child (``agent.fileworker.start_ahead``) is told its job
the same way (``FileWorkerSource.prepare``): it builds the jail's matcher, 25-30
ms that came between READY and its first frame (issue 19, timeline), and reads
nothing until the source starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from journalban.agent.build import JailParts, build_sources, journal_sources, matcher_spec
from journalban.clock import Clock
from journalban.config.schema import Config
from journalban.errors import FilterError
from journalban.matching.library import FilterLibrary
from journalban.sources.base import Source


def journal_sources_ahead(
    config: Config,
    library: FilterLibrary,
    clock: Clock,
    positions: Mapping[tuple[str, str], str],
    session_rows: Callable[[str], Sequence[tuple[str, str]]],
) -> dict[str, list[Source]]:
    """The journal jails' sources, told their request (``prepare``) before the agent has
    compiled their filters: the reader child takes its finder's prefilter. A jail whose
    filter does not load is left to the jails' build, which says why."""
    found: dict[str, list[Source]] = {}
    for cfg in config.enabled_jails:
        if cfg.source != "journal" or cfg.name in config.enforcement.report_jails:
            continue
        try:
            fdef = library.load(cfg.filter)
        except (KeyError, FilterError):
            continue
        spec = matcher_spec(cfg, library)
        sources = journal_sources(
            cfg, config, clock, positions, session_rows(cfg.name), spec, fdef, None
        )
        found[cfg.name] = sources
        for source in sources:
            source.prepare()  # type: ignore[attr-defined]
    return found


def prepared_sources(
    parts: Mapping[str, JailParts],
    config: Config,
    clock: Clock,
    positions: Mapping[tuple[str, str], str],
    session_rows: Callable[[str], Sequence[tuple[str, str]]],
) -> dict[str, list[Source]]:
    """The journal and file jails' sources, as ``build_sources`` makes them, told their
    request (``prepare``); the other jails' are built when they start, as before."""
    found: dict[str, list[Source]] = {}
    for name, part in parts.items():
        if part.config.source not in ("journal", "files"):
            continue
        sources = found[name] = build_sources(part, config, clock, positions, session_rows(name))
        for source in sources:
            prepare = getattr(source, "prepare", None)
            if prepare is not None:
                prepare()
    return found


def close_unstarted(early: Mapping[str, Sequence[Source]]) -> None:
    """Close the sources built before READY that never started (their children end)."""
    for sources in early.values():
        for source in sources:
            source.close()
