"""Journal match conditions (``FIELD=value``), as filters and jails write them."""

from __future__ import annotations

import contextlib
import pwd
import re

JOURNAL_FIELD = re.compile(r"[A-Z0-9_]+")


def parse_condition(cond: str) -> tuple[str, str]:
    """``FIELD=value`` as a pair; ``_UID=@user`` becomes that user's uid.

    Daemons such as postfix log as a system user whose uid each installation
    allocates. An unknown user keeps the text, which no entry carries.

    Raises:
        ValueError: not a ``FIELD=value`` condition.
    """
    field, sep, value = cond.partition("=")
    if not sep or not JOURNAL_FIELD.fullmatch(field):
        raise ValueError(f"not a FIELD=value condition: {cond!r}")
    if field == "_UID" and value.startswith("@"):
        with contextlib.suppress(KeyError):
            value = str(pwd.getpwnam(value[1:]).pw_uid)
    return field, value
