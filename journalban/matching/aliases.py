"""Old filter names users still type, each one mode of a shipped filter.

``filter: sshd-ddos`` reads as ``filter: sshd`` with ``mode: ddos``: the alias
is a filter of one mode, ``normal``, holding the target mode's regexes, and
its description says what it maps to.
"""

from __future__ import annotations

import dataclasses

from journalban.matching.filterdef import FilterDef

ALIASES: dict[str, tuple[str, str]] = {
    "sshd-ddos": ("sshd", "ddos"),
    "dovecot-pop3imap": ("dovecot", "normal"),
    "sasl": ("postfix", "auth"),
    "apache-scan": ("apache-botsearch", "normal"),
}


def alias_filter(name: str, target: FilterDef, mode: str) -> FilterDef:
    """``target`` in ``mode``, under the alias ``name`` with the single mode ``normal``."""
    normal = frozenset({"normal"})
    return dataclasses.replace(
        target,
        name=name,
        description=f"Alias of filter {target.name!r} in mode {mode!r}. {target.description}",
        modes=("normal",),
        failregex=tuple(dataclasses.replace(r, modes=normal) for _, r in target.regexes_for(mode)),
        samples=tuple(
            dataclasses.replace(s, modes=normal) for s in target.samples if mode in s.modes
        ),
    )
