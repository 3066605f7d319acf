"""The agent's side of the metrics: start them when asked, without importing them otherwise.

``prometheus-client`` is an optional extra (``journalban[metrics]``): the agent
without it runs as before and says once why there are no metrics.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING

from journalban.config.schema import Config

if TYPE_CHECKING:
    import socket

    from journalban.agent.api import AgentControl
    from journalban.clock import Clock

log = logging.getLogger(__name__)


def wanted(config: Config, environ_socket: socket.socket | None) -> bool:
    return environ_socket is not None or config.metrics.textfile is not None


def take_socket() -> socket.socket | None:
    """systemd's ``metrics`` socket, when the unit was given one (cheap: no extra import;
    none when systemd handed no socket at all)."""
    if not os.environ.get("LISTEN_FDS"):
        return None
    from journalban.metrics.sdsocket import systemd_socket

    return systemd_socket()


async def run_metrics(
    control: AgentControl, clock: Clock, config: Config, sock: socket.socket | None
) -> None:
    """Serve the metrics on ``sock`` and/or write the textfile, until cancelled."""
    try:
        from prometheus_client import CollectorRegistry

        from journalban.metrics.collector import AgentCollector
        from journalban.metrics.serve import MetricsServer, write_textfile
        from journalban.metrics.tally import EventTally
    except ImportError as exc:
        log.warning("metrics unavailable: %s (install journalban[metrics])", exc)
        if sock is not None:
            sock.close()
        return
    registry = CollectorRegistry(auto_describe=True)
    registry.register(AgentCollector(control))
    unsubscribe = control.subscribe(EventTally(registry, clock))
    try:
        async with asyncio.TaskGroup() as group:
            if sock is not None:
                log.info("metrics served on %s", sock.getsockname())
                group.create_task(MetricsServer(registry).serve(sock))
            if config.metrics.textfile is not None:
                group.create_task(
                    write_textfile(
                        config.metrics.textfile, config.metrics.textfile_interval, registry
                    )
                )
    finally:
        unsubscribe()
