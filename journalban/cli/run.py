"""`journalban run`: the long-running agent."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

from journalban.errors import ConfigError, JournalbanError, all_errors

if TYPE_CHECKING:
    import argparse  # (not kept: journalban.cli.main.forget_parser)

log = logging.getLogger("journalban")

# Objects allocated between two collections of the youngest generation.
# The agent keeps hundreds of thousands of long-lived objects (failure
# counters, address memos, bans); with the default 700, a backlog made the
# collector walk them again and again: about 15% of the agent's CPU time in
# the journal benchmark (docs/benchmarks.md). Garbage cycles are rare here
# (asyncio's futures and exceptions) and are still collected, just later.
# 10,000 young objects and 100 young collections per middle one (the middle
# generation walked as often as with 50,000 and 20): at 50,000, a young
# collection held every D-Bus caller for 12-22 ms of CPU about once in ten
# seconds under the 1M-line stream at 100,000 bans (bench_dbus_agent's traces).
GC_YOUNG_THRESHOLD = 10_000
GC_MIDDLE_THRESHOLD = 100


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the agent (what journalban.service starts)")
    p.add_argument(
        "--config",
        type=Path,
        help="main configuration file (default /etc/journalban/journalban.yaml); jail.d/ and filters.d/ beside it are read too",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="log ban decisions instead of changing the firewall or running actions "
        "(state kept apart: state.dry-run.sqlite)",
    )
    p.add_argument("--no-bus", action="store_true", help="do not offer the D-Bus API")
    p.add_argument("--log-level", choices=["debug", "info", "notice", "warning", "error"])
    p.set_defaults(func=run)


def start_reader_ahead() -> None:
    """Start a journal reader child first thing (``cli.main``, before the parser's imports).

    It starts its interpreter and imports while the agent does, then waits for
    its request (``sources.journal.start_ahead``). Most configurations read
    the journal; in one that does not, the agent ends it at READY.
    """
    from journalban.agent.journalreader import WORKER
    from journalban.sources.journal import start_ahead

    start_ahead(WORKER)


# A jail that reads files says so in its configuration's text.
_FILES_SOURCE = re.compile(r"^\s*source:\s*[\"']?files\b", re.MULTILINE)


def start_file_reader_ahead(main: Path | None) -> None:
    """Start a file reader child before the configuration is loaded, when its text
    names a files source (``source: files``).

    Loading and checking the configuration takes 40 ms or more; the child's
    interpreter, imports and matcher 50-60 ms. Started once the configuration
    was loaded, a child was still importing at READY, and the first lines were
    read 23-27 ms after it (dovecot's file benchmark, issue 19). The text is only
    a hint: a disabled jail or such a line inside a string starts a child no
    source takes, which the agent ends at READY; a spelling it misses starts the
    child once the configuration is loaded, as before (``Agent._readers_ahead``).
    """
    from journalban.agent.fileworker import start_ahead
    from journalban.config.loader import config_files

    try:
        paths = config_files(main)
    except OSError:
        return  # the agent says why when it loads the configuration
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if _FILES_SOURCE.search(text):
            start_ahead(1)
            return


def read_configuration_apart(main: Path | None) -> None:
    """The configuration's YAML and its enabled jails' filters' parsed in a fork of the
    agent, with libyaml, while the agent imports its modules; the agent itself never
    imports PyYAML (``config.yamlapart``: 1.1 MB of its memory, issue 19). What the fork
    guesses wrong (an alias, a filter named by ``defaults:``) the agent parses itself."""
    from journalban.config.yamlapart import read_apart
    from journalban.config.yamlsource import unloadable_yaml

    read_apart(lambda: _parse_configuration(main))
    unloadable_yaml()


def _parse_configuration(main: Path | None) -> None:
    """(In the fork: none of the validation's modules, only the files' parse.)"""
    from journalban.config.files import (
        FILTER_NAME,
        PACKAGED_NAME,
        config_files,
        filters_dir_for,
        packaged_default_text,
        packaged_filter_file,
        packaged_filters,
    )
    from journalban.config.yamlsource import deep_merge, load_yaml, load_yaml_text

    data, marks = load_yaml_text(packaged_default_text(), PACKAGED_NAME)
    for path in config_files(main):
        more, more_marks = load_yaml(path)
        if isinstance(data, dict) and isinstance(more, dict):
            deep_merge(data, more, marks, more_marks)
    jails = data.get("jails") if isinstance(data, dict) else None
    local = filters_dir_for(main)
    for name, jail in (jails if isinstance(jails, dict) else {}).items():
        if not isinstance(jail, dict) or jail.get("enabled", True) is not True:
            continue
        filter_name = jail.get("filter", name)
        if not isinstance(filter_name, str) or not FILTER_NAME.fullmatch(filter_name):
            continue
        if (local / f"{filter_name}.yaml").is_file():
            load_yaml(local / f"{filter_name}.yaml")
            continue
        packaged = packaged_filters().joinpath(f"{filter_name}.yaml")
        if packaged.is_file():
            load_yaml_text(packaged.read_text("utf-8"), packaged_filter_file(filter_name))


def run(args: argparse.Namespace) -> int:
    from journalban.agent.fileworker import stop_ahead as stop_file_readers
    from journalban.sources.journal import stop_ahead

    try:
        return _run(args)
    finally:
        stop_ahead()  # the agent failed before READY: no child left waiting
        stop_file_readers()


def _run(args: argparse.Namespace) -> int:
    from journalban.agent.logs import setup_logging
    from journalban.sources.heaptrim import one_arena

    one_arena()  # before any thread: theirs allocate from the main heap too
    setup_logging(args.log_level or "info", dry_run=args.dry_run)
    read_configuration_apart(args.config)
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, max(older, GC_MIDDLE_THRESHOLD), oldest)
    try:
        return asyncio.run(_main(args))
    except ConfigError as exc:
        for error in all_errors(exc):
            log.error("configuration error: %s", error)
        return 78  # EX_CONFIG: systemd does not restart on a broken configuration
    except JournalbanError as exc:
        log.error("%s", exc)
        return 1


async def _main(args: argparse.Namespace) -> int:
    from journalban.agent.logs import setup_logging
    from journalban.agent.runtime import Agent
    from journalban.firewall.dryrun import DryRunBackend

    backend = DryRunBackend() if args.dry_run else None
    start_file_reader_ahead(args.config)
    agent = Agent(
        args.config, backend=backend, bus=False if args.no_bus else None, readers_ahead=True
    )
    setup_logging(args.log_level or agent.config.log_level, dry_run=agent.dry_run)
    await agent.run()
    return 0
