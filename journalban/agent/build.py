"""From a validated configuration to the parts of a running jail."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from journalban.addresses import IPNetwork
from journalban.agent.journalreader import WORKER as JOURNAL_READER
from journalban.clock import Clock, SystemClock
from journalban.config.schema import Config, JailConfig, JournalConfig
from journalban.decisions.engine import RECIDIVE
from journalban.decisions.ignore import IgnoreList
from journalban.firewall.base import JailRules
from journalban.firewall.ports import parse_ports
from journalban.firewall.registry import JailActions, create_jail_actions
from journalban.matching.compiled import journal_prefilter
from journalban.matching.engine import CompiledFilter, LineMatcher
from journalban.matching.filterdef import FilterDef
from journalban.matching.library import FilterLibrary
from journalban.matching.spec import MatcherSpec, pickle_filter
from journalban.sources.base import Source
from journalban.sources.journal import JournalSource
from journalban.sources.journalsplit import SPLIT_MOST_HITS
from journalban.sources.journalwire import cut_row, shunned_row

log = logging.getLogger("journalban.agent")
JOURNAL_DIRS = ("/run/log/journal", "/var/log/journal")


@dataclass
class JailParts:
    """What one enabled jail runs with."""

    config: JailConfig
    compiled: CompiledFilter
    rules: JailRules
    actions: JailActions
    ignore: IgnoreList
    spec: MatcherSpec  # how a reader child builds the same matcher

    def matcher(self, clock: Clock) -> LineMatcher:
        return LineMatcher(self.compiled, clock.now)


def jail_rules(cfg: JailConfig) -> JailRules:
    all_ports = cfg.port == "all"
    ports = () if all_ports else parse_ports(cfg.port)
    return JailRules(cfg.name, ports, cfg.protocols, all_ports)


def check_jail_actions(cfg: JailConfig) -> None:
    """Build a jail's ports and actions once, so that bad settings fail at load time.

    Raises:
        ValueError, ConfigError: a bad port or action setting.
    """
    create_jail_actions(list(cfg.actions), jail_rules(cfg), SystemClock())


def recidive_rules(name: str = RECIDIVE) -> JailRules:
    """All ports of every protocol: recidive's rules (and the fleet's all-ports jail's)."""
    return JailRules(name, (), ("tcp", "udp", "udplite", "sctp"), True)


def build_jails(
    config: Config,
    library: FilterLibrary,
    clock: Clock,
    interfaces: Sequence[tuple[IPNetwork, IPNetwork]],
    hostnames: Mapping[str, list[str]],
) -> dict[str, JailParts]:
    """The enabled jails. Raises: ConfigError, FilterError."""
    parts = {}
    for cfg in config.enabled_jails:
        spec = matcher_spec(cfg, library)
        compiled = spec.compile(library.load(cfg.filter))
        rules = jail_rules(cfg)
        ignore = IgnoreList(
            cfg.ignoreip,
            ignore_local_networks=cfg.ignore_local_networks,
            interfaces=interfaces,
            hostnames=hostnames,
        )
        actions = create_jail_actions(list(cfg.actions), rules, clock)
        parts[cfg.name] = JailParts(cfg, compiled, rules, actions, ignore, spec)
    return parts


def matcher_spec(cfg: JailConfig, library: FilterLibrary) -> MatcherSpec:
    """How the jail's matcher is built, by the agent and by its reader children."""
    return MatcherSpec(
        cfg.filter,
        cfg.mode,
        str(library.override_dir) if library.override_dir is not None else None,
        [str(n) for n in cfg.trusted_proxies],
        cfg.real_ip_header,
        check_idents=cfg.source == "files",
        successes=cfg.detectors.uses_known_good,
    )


def journal_available(config: Config, journal: JournalConfig | None = None) -> bool:
    """Whether ``journal`` (default: the global one) can be read on this host."""
    journal = config.journal if journal is None else journal
    if journal.directory is not None:
        return Path(journal.directory).is_dir()
    return any(os.path.isdir(d) for d in JOURNAL_DIRS)


def journal_position_key(journal: JournalConfig) -> str:
    """The state key of a jail's position in its own journal."""
    if journal.namespace is not None:
        return f"journal:namespace={journal.namespace}"
    if journal.directory is not None:
        return f"journal:directory={journal.directory}"
    return "journal:system"


# The journal field that keys a session: the daemon's process for one connection.
SESSION_FIELD = "_PID"


def journal_sources(
    cfg: JailConfig,
    config: Config,
    clock: Clock,
    positions: Mapping[tuple[str, str], str],
    sessions: Sequence[tuple[str, str]],
    spec: MatcherSpec,
    fdef: FilterDef,
    prefilter: tuple[str, ...] | None,
) -> list[Source]:
    """A journal jail's source (none where the host has no journal); ``prefilter`` None:
    the reader child takes its finder's (``journal_prefilter``), so that the agent need
    not compile the filter before it tells the child its request (``agent.earlysources``)."""
    journal_cfg = config.journal_of(cfg)
    if not journal_available(config, journal_cfg):
        log.warning(
            "jail %s reads the journal, but this host has no systemd journal "
            "(no /run/log/journal or /var/log/journal); it stays idle: use source: files",
            cfg.name,
        )
        return []
    groups = cfg.journal_match or fdef.journal_match
    matches = [dict(g) for g in groups]
    # A jail's own journal keeps its own position (a cursor of another journal means nothing).
    key = "journal" if cfg.journal is None else journal_position_key(journal_cfg)
    matcher: dict[str, Any] = spec.to_json()
    matcher["filter_def"] = pickle_filter(fdef)  # no YAML in the child
    rules = fdef.sessions
    if rules is not None:
        matcher["session_rows"] = [list(row) for row in sessions]
    return [
        JournalSource(
            key,
            clock=clock,
            findtime=cfg.findtime,
            matches=matches,
            position=positions.get((cfg.name, key)),
            directory=journal_cfg.directory,
            namespace=journal_cfg.namespace,
            prefilter=prefilter,
            # The child matches too: the agent receives only the failures.
            worker=JOURNAL_READER,
            matcher=matcher,
            session_field=None if rules is None else SESSION_FIELD,
            # With detectors the agent's deciding may bound a catch-up: split it
            # only where the reading does (journalsplit.split_pays).
            split_most_hits=SPLIT_MOST_HITS if cfg.detectors.any else None,
            # The files an earlier run's readers died in (sources.journalshunned)
            shunned=positions.get((cfg.name, shunned_row(key))),
            # The files cut short whose loss its readers counted (sources.journalcut)
            cut=positions.get((cfg.name, cut_row(key))),
        )
    ]


def build_sources(
    parts: JailParts,
    config: Config,
    clock: Clock,
    positions: Mapping[tuple[str, str], str],
    sessions: Sequence[tuple[str, str]] = (),
) -> list[Source]:
    """The sources a jail reads, resuming from saved positions.

    ``sessions``: the jail's stored session rows (matching.sessions), handed
    to its journal reader child with the position they go with.
    """
    cfg = parts.config
    if cfg.name in config.enforcement.report_jails:
        # Its failures come from a policy service's reports: reading the log
        # as well would count each failure twice.
        return []
    if cfg.source == "journal":
        compiled = parts.compiled
        return journal_sources(
            cfg, config, clock, positions, sessions, parts.spec, compiled.fdef,
            journal_prefilter(compiled),
        )  # fmt: skip
    # The file reader child's module (with its file reading and splitting) only for
    # a file jail: a journal-only agent does not import it (0.5 MB of its memory).
    from journalban.agent.filereader import FileJob, dated_file_source
    from journalban.agent.fileworker import FileWorkerSource, split_pays

    key = "files:" + ",".join(cfg.files)
    position = positions.get((cfg.name, key))
    if type(clock) is SystemClock:
        # Real time: the reading and matching can run in a child process (a
        # fake clock cannot follow it there).
        job = FileJob(
            key, list(cfg.files), cfg.findtime, position, parts.spec,
            [list(r) for r in sessions], pickle_filter(parts.compiled.fdef),
            split=split_pays(cfg), ipv6_prefix=cfg.ipv6_prefix,
        )  # fmt: skip
        return [FileWorkerSource(job, clock)]
    return [dated_file_source(cfg.files, clock, cfg.findtime, position, key)]
