"""The agent's log (the ``journalban`` logger) captured as the journal would get its
messages: ``SecondFormatter``, INFO and up, not passed on to pytest's handlers."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator

from journalban.agent.logs import SecondFormatter


@contextlib.contextmanager
def agent_log() -> Iterator[io.StringIO]:
    """The messages the agent logs meanwhile, one line each, in the returned buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(SecondFormatter("%(message)s"))
    logger = logging.getLogger("journalban")
    saved = logger.handlers[:], logger.propagate, logger.level
    logger.handlers[:], logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
