"""A fail2ban ``_daemon`` regex as journalban ``idents`` (names and globs).

Only the small regexes filters use are read: literals, groups with
alternatives, optional groups and characters, and ``\\S+``-like runs (a ``*``
glob). Anything else gives None: the filter then reads every syslog ident,
as fail2ban's all-optional prefix did.
"""

from __future__ import annotations

import re

_LITERAL = re.compile(r"[A-Za-z0-9_./@-]")
_RUNS = (r"\S+", r"\S*", r"\w+", r"\w*", r"\d+", r"\d*", r".+", r".*", r"[^\s]+")
_MAX = 32


class _Unreadable(ValueError):
    pass


def daemon_idents(regex: str) -> list[str] | None:
    """The globs ``regex`` stands for, or None when it is not that simple."""
    regex = regex.strip()
    if not regex or regex in _RUNS:
        return None
    try:
        alts, end = _alternatives(regex, 0)
    except _Unreadable:
        return None
    if end != len(regex):
        return None
    out = sorted({re.sub(r"\*+", "*", a) for a in alts})
    if not out or len(out) > _MAX or any(a.strip("*") == "" for a in out):
        return None
    return out


def _alternatives(text: str, i: int) -> tuple[list[str], int]:
    """Alternatives from ``i`` up to an unmatched ``)`` or the end."""
    out: list[str] = []
    current = [""]
    while i < len(text):
        ch = text[i]
        if ch == ")":
            break
        if ch == "|":
            out.extend(current)
            current = [""]
            i += 1
            continue
        piece, i = _atom(text, i)
        if i < len(text) and text[i] == "?":
            piece = [*piece, ""]
            i += 1
        current = [c + p for c in current for p in piece]
        if len(current) > _MAX:
            raise _Unreadable
    out.extend(current)
    return out, i


def _atom(text: str, i: int) -> tuple[list[str], int]:
    for run in _RUNS:
        if text.startswith(run, i):
            return ["*"], i + len(run)
    ch = text[i]
    if ch == "(":
        j = i + 3 if text.startswith("(?:", i) else i + 1
        if text.startswith("(?", i) and not text.startswith("(?:", i):
            raise _Unreadable
        alts, j = _alternatives(text, j)
        if j >= len(text) or text[j] != ")":
            raise _Unreadable
        return alts, j + 1
    if ch == "\\" and i + 1 < len(text) and _LITERAL.fullmatch(text[i + 1]) is None:
        return [text[i + 1]], i + 2
    if _LITERAL.fullmatch(ch):
        return [ch], i + 1
    raise _Unreadable
