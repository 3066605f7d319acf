"""One fail2ban regex (its options already substituted) as a journalban regex.

fail2ban searches the whole line with its date cut out, syslog prefix
included; journalban matches the message, its date and ``host ident[pid]: ``
prefix already taken off. So the ``__prefix_line`` a regex starts with is
dropped (its ``_daemon`` becomes the filter's idents), an unanchored regex
gets ``.*?`` in front, and fail2ban's tags become journalban's:

- ``<HOST>``, ``<ADDR>`` stay (a host name matched by ``<HOST>`` is never
  resolved: such a line is reported as missed), ``<IP4>``/``<IP6>`` become an
  address group of that family;
- ``<F-USER>``, ``<F-ALT_USER…>``, ``<F-ID>`` and other ``<F-NAME>`` become
  named groups; ``<F-MLFID>``, ``<F-MLFFORGET>``, ``<F-MLFGAINED>`` and
  ``<F-CONTENT>`` plain groups;
- refused, with the reason: ``<F-NOFAIL>`` (a line that is not a failure by
  itself), ``<SKIPLINES>`` and other multi-line forms, ``<CIDR>``/``<SUBNET>``,
  a regex with no address tag, one that does not compile.
"""

from __future__ import annotations

import re

# What fail2ban's __prefix_line expands to is replaced by this marker first.
PREFIX_MARK = "\x00PREFIX\x00"
# fail2ban cuts the date out of the line and leaves its brackets: "(?:\[\])".
_DATE_AMBIT = re.compile(r"\\\[\\\]")
_FTAG = re.compile(r"<(/?)F-([A-Za-z][A-Za-z0-9_]*)>")
_PLAIN_GROUPS = {"MLFID", "MLFFORGET", "MLFGAINED", "CONTENT"}
_MULTILINE_TAGS = ("<SKIPLINES>", "\\n")
# "(?:<F-NOFAIL>A</F-NOFAIL>|B)": the line fails only through B, so "(?:(?!A)B)".
_NOFAIL_ALT = re.compile(r"\(\?:<F-NOFAIL>((?:(?!</F-NOFAIL>).)*)</F-NOFAIL>\|")
_LEADING_AMBIT = re.compile(r"^\^(?:\(\?:\\\[\\\]\)\??|\\\[\\\]\??)(?: +|\\s[+*]?)?")
# One address of either family, as sendmail's "[IPv6:ADDR]" or "[ADDR]".
_EITHER_FAMILY = re.compile(r"\(\?:(?:IPv6:)?<IP[46]>\|(?:IPv6:)?<IP[46]>\)")
_LEADING_BLANK = re.compile(r"^\^(?: +|\\s\+|\\s(?![*?+{]))")


class Refused(ValueError):
    """A fail2ban regex that cannot keep its meaning in journalban."""


def convert_regex(text: str) -> str:
    """The journalban form of one fail2ban failregex.

    Raises:
        Refused: with the reason, when its meaning cannot be kept.
    """
    text = _NOFAIL_ALT.sub(r"(?:(?!\1)", text)
    if "<F-NOFAIL>" in text:
        raise Refused("<F-NOFAIL>: the line is not a failure by itself (multi-line context)")
    if "<F-MLFGAINED>" in text:
        raise Refused("<F-MLFGAINED>: a successful login (multi-line context), not a failure")
    for tag in _MULTILINE_TAGS:
        if tag in text:
            raise Refused(f"{tag}: matches across several lines (journalban matches one line)")
    if "<CIDR>" in text or "<SUBNET>" in text:
        raise Refused("<CIDR>/<SUBNET>: a filter names one address, never a network")
    if not any(t in text for t in ("<HOST>", "<ADDR>", "<IP4>", "<IP6>")):
        raise Refused("names no address (<HOST>, <ADDR>, <IP4> or <IP6>)")
    text = _EITHER_FAMILY.sub("<ADDR>", text)
    out = _strip_prefix(text)
    # The date's brackets at the start: journalban takes them off with the date.
    out = _LEADING_AMBIT.sub(r"^(?:\\[[^\\]]*\\])?\\s*", out, count=1)
    out = _DATE_AMBIT.sub(r"\\[[^\\]]*\\]", out)
    # An address of one family: <ADDR> behind a look-ahead for that family's shape.
    out = out.replace("<IP4>", r"(?=\d{1,3}\.\d)<ADDR>")
    out = out.replace("<IP6>", r"(?=\[?[0-9A-Fa-f]{0,4}:)<ADDR>")
    out = _FTAG.sub(_ftag, out)
    if out.count("<HOST>") + out.count("<ADDR>") > 1:
        raise Refused("names the address more than once (journalban reads one per line)")
    if not out.startswith("^"):
        out = "^.*?" + out  # fail2ban searches anywhere in the line
    # fail2ban leaves the blank after the date; journalban takes it off.
    out = _LEADING_BLANK.sub(r"^\\s*", out, count=1)
    try:
        from journalban.matching.tags import compile_failregex

        compile_failregex(out)
    except Exception as exc:
        raise Refused(f"does not compile in journalban: {exc}") from None
    return out


def _ftag(m: re.Match[str]) -> str:
    closing, name = m.group(1), m.group(2)
    if closing:
        return ")"
    if name.upper() in _PLAIN_GROUPS:
        return "(?:"
    return f"(?P<{name.lower()}>"


def _strip_prefix(text: str) -> str:
    """The regex without fail2ban's syslog prefix at its start."""
    if PREFIX_MARK not in text:
        return text
    anchored = re.match(r"\^((?:<F-MLFID>|\(\?:)*)" + re.escape(PREFIX_MARK), text)
    if anchored is None:
        # Somewhere else than at the start: keep the meaning with a loose prefix.
        return text.replace(PREFIX_MARK, r"(?:\S+ )?")
    opened = anchored.group(1)
    rest = text[anchored.end() :]
    if opened.startswith("<F-MLFID>") and rest.startswith("</F-MLFID>"):
        rest = rest[len("</F-MLFID>") :]
        opened = opened[len("<F-MLFID>") :]
    return "^" + opened + rest
