"""fail2ban's ``datepattern`` as a regex that skips the date at a line's start.

journalban finds the usual dates itself and takes them off before matching;
a filter for a service with an unusual date (``[17/Jun/2011 17:00:45]``,
``<W>2015-11-29 ...``) gets that date as an optional group in front of each
regex, so the line matches whether or not journalban recognised the date.
"""

from __future__ import annotations

import re

from journalban.matching import possessive

_CODES = {
    "ExY": r"\d{4}", "Exy": r"\d{2}", "Y": r"\d{4}", "y": r"\d{2}", "m": r"\d{1,2}",
    "d": r"\d{1,2}", "e": r"\s?\d{1,2}", "H": r"\d{1,2}", "k": r"\s?\d{1,2}", "I": r"\d{1,2}",
    "l": r"\s?\d{1,2}", "M": r"\d{1,2}", "S": r"\d{1,2}", "f": r"\d+", "z": r"(?:[+-]\d{2}:?\d{2}|Z)",
    "Z": r"[A-Z]{1,5}", "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "a": r"[A-Za-z]{3}",
    "A": r"[A-Za-z]+", "p": r"[AaPp][Mm]", "j": r"\d{3}", "s": r"\d+",
}  # fmt: skip
_CODE = re.compile(r"%(ExY|Exy|[A-Za-z%])")
# fail2ban's {DATE}: any of its templates; the usual ones here.
ANY_DATE = (
    r"(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}[T ]\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:\s*(?:Z|[+-]\d{2}:?\d{2}))?"
    r"|[A-Z][a-z]{2} +\d{1,2},? (?:\d{4} )?\d{1,2}:\d{2}:\d{2}"
    r"|\d{1,2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}(?: [+-]\d{4})?)"
)
_SPECIAL = {
    "epoch": r"\d{10}(?:\.\d+)?",
    "tai64n": r"@[0-9a-fA-F]{24}",
}


def date_regex(pattern: str) -> str | None:
    """A regex for the first line of ``pattern`` when it is anchored at the start, else None
    (None too for a possessive repeat where Python matches one wrongly: matching.possessive)."""
    first = pattern.strip().split("\n")[0].strip()
    if first.startswith("{^LN-BEG}") and len(first) > len("{^LN-BEG}"):
        first = "^" + first[len("{^LN-BEG}") :]
    if not first.startswith("^") or "{^LN-BEG}" in first:
        return None
    first = first.replace("{DATE}", "\x00DATE\x00")
    body = first[1:]
    if body.lower() in _SPECIAL:
        return _SPECIAL[body.lower()]

    def code(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "%":
            return "%"
        if name not in _CODES:
            raise KeyError(name)
        return _CODES[name]

    try:
        out = _CODE.sub(code, body)
    except KeyError:
        return None
    out = out.replace("\x00DATE\x00", ANY_DATE)
    out = re.sub(r"\(\?P<\w+>", "(?:", out)
    out = re.sub(r"\((?!\?)", "(?:", out)
    out = re.sub(r"\(\?P=\w+\)", r"[-/.]", out)
    try:
        re.compile(out)
    except re.error:
        return None
    if possessive.matched_wrongly(out):
        return None  # spliced into the regexes, it would get the whole filter refused
    return out
