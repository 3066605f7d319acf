r"""A service's own line head that journalban's syslog splitter reads as an ident.

Services writing their own log files start lines with a level or a user in
brackets ("[WRN] Failed login", "[girst] failed to login") or a level with a
thread id ("NOTICE[12049]: chan_sip.c: ..."), or a word and a tag with a colon
(exim's "1VxPit-000MMd-U4 SA: Action: ..."). journalban's prefix splitter
takes such a head for a syslog ident ("[ident]", "ident[pid]: ") and matches the
rest: the converted regex must match with or without that head, and the filter
may list no idents (the "ident" is the service's level, never its name). The
shipped asterisk filter does the same by hand.
"""

from __future__ import annotations

import re

# "(?:NOTICE|SECURITY)(?:\s*\[\d+\]):?" or "NOTICE\[\d+\]:?": a word and a pid.
_PID = re.compile(r"(?:\(\?:\\s\*\\\[\\d\+\\\]\)|\\s\*\\\[\\d\+\\\]|\\\[\\d\+\\\])(?::\??)?")
_WORDS = re.compile(r"\(\?:[A-Za-z_|]+\)|[A-Za-z_]+")
_LEVEL = re.compile(r"(?i:emerg|alert|crit|err|warn|notice|note|info|debug)")
# "\S+ SA: " (exim's message id and its SpamAssassin tag): a host and an ident.
_HOST_IDENT = re.compile(r"\\S\+ [A-Za-z_][\w-]*: ")


def _token_end(regex: str, i: int) -> int:
    """The end of the regex token (escape, class, group, literal) starting at ``i``."""
    ch = regex[i]
    if ch == "\\":
        return i + 2
    if ch == "[":
        j = i + 1
        if regex.startswith("^", j):
            j += 1
        if regex.startswith("]", j):
            j += 1
        while j < len(regex) and regex[j] != "]":
            j += 2 if regex[j] == "\\" else 1
        return j + 1
    if ch == "(":
        depth, j = 0, i
        while j < len(regex):
            if regex[j] == "\\":
                j += 2
                continue
            if regex[j] == "[":
                j = _token_end(regex, j)
                continue
            depth += {"(": 1, ")": -1}.get(regex[j], 0)
            j += 1
            if depth == 0:
                return j
        return len(regex)
    return i + 1


def _optional_groups(regex: str, i: int) -> int:
    """Past the optional groups (``(...)?``) and ``:?`` starting at ``i``."""
    while i < len(regex):
        for optional in (":?", " ??", " ?"):
            if regex.startswith(optional, i):
                i += len(optional)
                break
        else:
            optional = ""
        if optional:
            continue
        if regex[i] != "(":
            return i
        end = _token_end(regex, i)
        if not regex.startswith("?", end):
            return i
        i = end + 1
    return i


def _bracketed(regex: str, i: int) -> int:
    r"""The end of a ``\[...\]`` element at ``i`` (a word in brackets), or -1."""
    if not regex.startswith(r"\[", i):
        return -1
    j = i + 2
    while j < len(regex):
        if regex.startswith(r"\]", j):
            inside = regex[i + 2 : j].replace("(?:", "(")
            # A blank, a colon or a look-ahead inside: not the shape of an ident;
            # a log level journalban's splitter never takes for one either.
            shaped = not any(c in inside for c in (r"\s", " ", ":", "(?!"))
            return j + 2 if shaped and not _LEVEL.match(inside) else -1
        j = _token_end(regex, j)
    return -1


def ident_like_head(regex: str, after: int) -> str | None:
    """``regex`` with a head journalban reads as an ident (at ``after``) made optional, or None."""
    start = _optional_groups(regex, after)
    i = start + 3 if regex.startswith(r"\s*", start) else start
    if (host_ident := _HOST_IDENT.match(regex, start)) is not None:
        return regex[:start] + "(?:" + host_ident.group() + ")?" + regex[host_ident.end() :]
    end = _bracketed(regex, i)
    if end < 0:
        words = _WORDS.match(regex, i)
        pid = _PID.match(regex, words.end()) if words else None
        if pid is None:
            return None
        end = pid.end()
    rest = _optional_groups(regex, end)
    if regex.startswith(" ", rest):
        tail = regex[end:rest] + " ?" + regex[rest + 1 :]
    elif regex.startswith(r"\s+", rest):
        tail = regex[end:rest] + r"\s*" + regex[rest + 3 :]
    else:
        return None
    return regex[:start] + "(?:" + regex[start:end] + ")?" + tail
