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

from journalban.errors import FilterError
from journalban.matching.tags import compile_failregex

# What fail2ban's __prefix_line expands to is replaced by this marker first.
PREFIX_MARK = "\x00PREFIX\x00"
# And common.conf's __hostname (a filter spelling out its own "host ident: " head) by this.
HOST_MARK = "\x00HOSTNAME\x00"
# fail2ban cuts the date out of the line and leaves its brackets: "(?:\[\])".
_DATE_AMBIT = re.compile(r"\\\[\\\]")
_FTAG = re.compile(r"<(/?)F-([A-Za-z][A-Za-z0-9_]*)>")
_PLAIN_GROUPS = {"MLFID", "MLFFORGET", "MLFGAINED", "CONTENT"}
# A newline: "\n" after an even number of backslashes ("\\n" is a backslash and an n).
_NEWLINE = re.compile(r"(?<!\\)(?:\\\\)*\\n")
# "(?:<F-NOFAIL>A</F-NOFAIL>|B)": the line fails only through B, so "(?:(?!A)B)".
_NOFAIL_ALT = re.compile(r"\(\?:<F-NOFAIL>((?:(?!</F-NOFAIL>).)*)</F-NOFAIL>\|")
# "Failed Login: ..." reads as host "Failed", ident "Login" to journalban's prefix
# splitter, which takes it off: that start of the regex becomes optional.
_SYSLOG_LOOKALIKE = re.compile(
    r"^(\^(?:\[\\\]:\]\?:\?\\s\*)?)([A-Za-z][\w.-]* [A-Za-z_][\w.@-]*: )"
)
_LEADING_AMBIT = re.compile(r"^\^(?:\(\?:\\\[\\\]\)\??|\\\[\\\]\??)(?: +|\\s[+*]?)?")
# One address of either family, as sendmail's "[IPv6:ADDR]" or "[ADDR]".
_GLOBAL_FLAGS = re.compile(r"\(\?([aiLmsux]+)\)")
_V6_TAG = r"(?:\(\?:IPv6:\)\?|IPv6:)?"
_EITHER_FAMILY = re.compile(rf"\(\?:{_V6_TAG}<IP[46]>\|{_V6_TAG}<IP[46]>\)")
_LEADING_BLANK = re.compile(r"^\^(?::? +|:|\\s\+|\\s(?![*?+{]))")


class Refused(ValueError):
    """A fail2ban regex that cannot keep its meaning in journalban."""


def convert_regex(text: str, daemon: str | None = None) -> str:
    """The journalban form of one fail2ban failregex.

    Raises:
        Refused: with the reason, when its meaning cannot be kept.
    """
    text = _NOFAIL_ALT.sub(r"(?:(?!\1)", text)
    while text.startswith("^^"):  # "^%(_pref_line)s" where _pref_line starts with "^" too
        text = text[1:]
    if "<F-NOFAIL>" in text:
        raise Refused("<F-NOFAIL>: the line is not a failure by itself (multi-line context)")
    if "<F-MLFGAINED>" in text:
        raise Refused("<F-MLFGAINED>: a successful login (multi-line context), not a failure")
    for tag in ("<SKIPLINES>", "\\n"):
        if tag in text if tag == "<SKIPLINES>" else _NEWLINE.search(text):
            raise Refused(f"{tag}: matches across several lines (journalban matches one line)")
    if "<CIDR>" in text or "<SUBNET>" in text:
        raise Refused("<CIDR>/<SUBNET>: a filter names one address, never a network")
    if not any(t in text for t in ("<HOST>", "<ADDR>", "<IP4>", "<IP6>")):
        raise Refused("names no address (<HOST>, <ADDR>, <IP4> or <IP6>)")
    # A group named like a journalban tag ("(?P<USER>...)") would be read as the tag.
    text = re.sub(
        r"\(\?P([<=])([A-Z][A-Z0-9_]*)([>)])", lambda m: f"(?P{m[1]}{m[2].lower()}{m[3]}", text
    )
    text = _EITHER_FAMILY.sub("(?:IPv6:)?<ADDR>", text)
    out = _own_syslog_head(_strip_prefix(text, daemon))
    # The date's brackets at the start: journalban takes them off with the date.
    out = _LEADING_AMBIT.sub(r"^(?:\\[[^\\]]*\\])?\\s*", out, count=1)
    out = _DATE_AMBIT.sub(r"\\[[^\\]]*\\]", out)
    # An address of one family: <ADDR> behind a look-ahead for that family's shape.
    out = out.replace("<IP4>", r"(?=\d{1,3}\.\d)<ADDR>")
    out = out.replace("<IP6>", r"(?=\[?[0-9A-Fa-f]{0,4}:)<ADDR>")
    out = _FTAG.sub(_ftag, out)
    # journalban's address tags are written for anchored regexes: the IPv6 form
    # stops early inside "::ffff:1.2.3.4" unless something ends the address.
    # A full stop after it ends a sentence ("from 1.2.3.4. AUTHENTICATE"), not the address.
    out = out.replace("<HOST>", r"<HOST>(?!\.?\w)").replace("<ADDR>", r"<ADDR>(?!\.?\w)")
    if out.count("<HOST>") + out.count("<ADDR>") > 1:
        raise Refused("names the address more than once (journalban reads one per line)")
    # Global flags in the middle ("(?:(?i)expn|vrfy)") applied to the whole regex in
    # the Pythons fail2ban was written for; Python 3.11 refuses them: scope them to it.
    flags = "".join(sorted(set("".join(_GLOBAL_FLAGS.findall(out)))))
    if flags:
        out = _GLOBAL_FLAGS.sub("", out)
    if not out.startswith("^"):
        out = "^.*?" + out  # fail2ban searches anywhere in the line
    # fail2ban leaves the blank (or colon) after the date; journalban takes it off.
    out = _LEADING_BLANK.sub(r"^[\\]:]?:?\\s*", out, count=1)
    out = _optional_group_blank(out)
    # "^(?:\s+-)?": the blank after the date is gone, the dash may stay.
    out = re.sub(r"^\^\(\?:\\s\+", r"^(?:\\s*", out, count=1)
    # A zone after the time ("02:09:40 +0300"), left by fail2ban, is taken off with
    # the date where journalban reads it.
    after = r"^[\]:]?:?\s*"
    if out.startswith(after + r"[+-]\d{4} "):
        out = after + r"(?:[+-]\d{4} )?" + out[len(after) + len(r"[+-]\d{4} ") :]
    out = _optional_head_colon(out)
    # fail2ban cuts an audit record's epoch out of "msg=audit(EPOCH:SERIAL)";
    # journalban reads the date there and leaves the record whole.
    out = out.replace(r"audit\(:\d+\)", r"audit\((?:\d+(?:\.\d+)?)?:\d+\)")
    out = _SYSLOG_LOOKALIKE.sub(r"\1(?:\2)?", out, count=1)
    if flags:
        out = f"(?{flags}:{out})"
    try:
        compile_failregex(out)
    except FilterError as exc:
        raise Refused(f"does not compile in journalban: {exc.message}") from None
    return out


def _ftag(m: re.Match[str]) -> str:
    closing, name = m.group(1), m.group(2)
    if closing:
        return ")"
    if name.upper() in _PLAIN_GROUPS:
        return "(?:"
    return f"(?P<{name.lower()}>"


def _group_end(regex: str, start: int) -> int:
    """The index of the ")" closing the group opened at ``start``, or -1."""
    depth, i = 0, start
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            j = regex.find("]", i + 2)
            if j < 0:
                return -1
            i = j + 1
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _optional_head_colon(regex: str) -> str:
    r"""``^\s*(A)?(B)?: X`` as ``^\s*(A)?(B)?(?::\s)?X`` (and ``(B)? X`` as ``(B)? ?X``).

    Such a regex spells out its own optional head ending in ": " (a date in
    brackets, "host ident:"); journalban has taken that head off with the date
    and prefix, colon included.
    """
    i = 1
    if regex.startswith(r"^\s*"):
        i = 4
    seen = False
    while i < len(regex) and regex[i] == "(":
        end = _group_end(regex, i)
        if end < 0 or end + 1 >= len(regex) or regex[end + 1] != "?":
            return regex
        i, seen = end + 2, True
    if seen and regex.startswith(": ", i):
        return regex[:i] + r"(?::\s)?" + regex[i + 2 :]
    if seen and regex.startswith(" ", i) and not regex.startswith(" ?", i):
        return regex[:i] + " ?" + regex[i + 1 :]
    return regex


def _optional_group_blank(regex: str) -> str:
    """``^(?: A| B)? C`` as ``^(?: ?A| ?B)? ?C``: the blank after the date may be gone."""
    if not regex.startswith("^(?:"):
        return regex
    depth, i = 0, 1
    while i < len(regex):
        ch = regex[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    if i + 2 >= len(regex) or regex[i + 1] != "?" or regex[i + 2] != " ":
        return regex
    group = regex[4:i]
    if not group.startswith(" "):
        return regex
    group = re.sub(r"(^|\|) ", r"\1 ?", group)
    return "^(?:" + group + ")? ?" + regex[i + 3 :]


def _own_syslog_head(regex: str) -> str:
    r"""A regex spelling out its own syslog head in an optional group, as journalban sees it.

    ``(<__hostname>\s*(?:roundcube:)?\s*(<\w+>)? IMAP Error)?: `` matched
    "host roundcube: IMAP Error: " in fail2ban; journalban has taken "host
    roundcube: " off, so the host name becomes optional and so does each blank
    after an optional part of that group. Elsewhere the host name is any word.
    """
    at = regex.find("(" + HOST_MARK)
    end = _group_end(regex, at) if at >= 0 else -1
    if end > 0 and regex[end + 1 : end + 2] == "?":
        body = regex[at + 1 + len(HOST_MARK) : end].replace(")? ", ")? ?")
        regex = regex[:at] + r"((?:\S+)?" + body + regex[end:]
    return regex.replace(HOST_MARK, r"\S+")


def _strip_prefix(text: str, daemon: str | None = None) -> str:
    """The regex without fail2ban's syslog prefix at its start.

    journalban takes ``host ident[pid]: `` off a line; a line it could not split
    (``host proftpd[1] vhost ...``, no colon) still matches through an optional
    prefix naming the filter's daemon.
    """
    if PREFIX_MARK not in text:
        return text
    loose = rf"(?:(?:\S+\s+)?(?:{daemon})(?:\[\d+\])?:?\s+)?" if daemon else ""
    anchored = re.match(r"\^((?:<F-MLFID>|\(\?:)*)" + re.escape(PREFIX_MARK), text)
    if anchored is None:
        # Somewhere else than at the start: keep the meaning with a loose prefix.
        return text.replace(PREFIX_MARK, r"(?:\S+ )?")
    opened = anchored.group(1)
    rest = text[anchored.end() :]
    if opened.startswith("<F-MLFID>") and rest.startswith("</F-MLFID>"):
        rest = rest[len("</F-MLFID>") :]
        opened = opened[len("<F-MLFID>") :]
    return "^" + opened + loose + rest
