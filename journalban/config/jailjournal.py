"""A jail's own journal: ``journal: {namespace: NAME}`` or ``{directory: PATH}``.

The top-level ``journal`` section says which journal every journal jail
reads; a jail's ``journal`` mapping replaces it for that jail alone, so one
jail can read a service's journald namespace (a unit with ``LogNamespace=``)
while sshd's jail keeps reading the system journal. A jail mapping with
neither key reads the system journal even when the global one names another.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Protocol

from journalban.config.schema import JournalConfig

# journald's namespace names are file name parts (journal directories are
# MACHINE_ID.NAMESPACE): no slashes, dots at the start or spaces.
NAMESPACE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,63}")


class Section(Protocol):
    """The part of the configuration reader this module needs."""

    data: Any

    def get(self, key: str, default: Any, convert: Callable[[Any], Any]) -> Any: ...

    def report(self, key: str, message: str) -> None: ...


def namespace_name(value: Any) -> str | None:
    """A journald namespace name, or None for the system journal."""
    if value is None:
        return None
    if not isinstance(value, str) or not NAMESPACE.fullmatch(value):
        raise ValueError(
            f"must be a journald namespace name (letters, digits, _ - and ., "
            f"as in LogNamespace=), not {value!r}"
        )
    return value


def _directory(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.startswith("/"):
        raise ValueError(f"must be an absolute path, not {value!r}")
    return value


def jail_journal(section: Section) -> JournalConfig:
    """The jail's ``journal`` mapping as a JournalConfig (errors reported on ``section``)."""
    journal = JournalConfig(
        directory=section.get("directory", None, _directory),
        namespace=section.get("namespace", None, namespace_name),
    )
    if journal.directory is not None and journal.namespace is not None:
        section.report("namespace", "give a journal directory or a namespace, not both")
    return journal
