"""What to write instead: hints for keys and values a fail2ban user types.

Unknown-key hints are driven by the set of keys the schema knows (whatever a
section accepts, including keys added later), plus a table of fail2ban's own
names; nothing here lists journalban's keys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

# fail2ban jail.conf keys that journalban spells or places differently.
RENAMED: Final[dict[str, str]] = {
    "logpath": "fail2ban's logpath is files: here (a list of paths, with source: files)",
    "backend": "fail2ban's backend is source: here (journal, the default, or files)",
    "journalmatch": "fail2ban's journalmatch is journal_match: here (a list of FIELD=value groups)",
    "action": "fail2ban's action is actions: here (a list: firewall, mail, command; "
    "see docs/actions.md)",
    "banaction": "the firewall is firewall.backend: here (nftables by default), "
    "and a jail's actions: list adds mail or command actions",
    "banaction_allports": "write port: all in the jail instead",
    "bantime.increment": "write bantime_increment: {enabled: true}",
    "bantime.factor": "write bantime_increment: {factor: N}",
    "bantime.multipliers": "write bantime_increment: {multipliers: [1, 2, 4]}",
    "bantime.maxtime": "write bantime_increment: {maxtime: 1w}",
    "bantime.overalljails": "write bantime_increment: {across_jails: true}",
    "failregex": "regexes live in a filter file (see docs/filter-writing.md); name it with filter:",
    "ignoreregex": "regexes live in a filter file (see docs/filter-writing.md)",
    "prefregex": "regexes live in a filter file (see docs/filter-writing.md)",
    "loglevel": "write logging: {level: info} at the top level",
    "dbfile": "the state lives in state_dir: (top level)",
    "ignoreself": "the host's own addresses are never banned (ignore_local_networks "
    "adds its local networks)",
    "destemail": "give to: in a mail action (see docs/actions.md)",
    "sender": "give from: in a mail action (see docs/actions.md)",
    "mta": "a mail action sends by SMTP or sendmail: (see docs/actions.md)",
    "chain": "fail2ban's chain is firewall.hook: here (input or forward, for every jail)",
    "blocktype": "fail2ban's blocktype is firewall.verdict: here (drop or reject)",
    "usedns": "names in log lines are never resolved here; remove it",
    "logencoding": "not needed: invalid UTF-8 is replaced and counted; remove it",
    "datepattern": "not needed: dates are recognised per source; remove it",
    "dbpurgeage": "the history is kept as long as bantime_increment and recidive need it",
}
# fail2ban keys with no journalban equivalent.
UNSUPPORTED: Final = frozenset(
    {
        "rndtime", "maxmatches", "maxlines", "ignorecommand", "ignorecache", "dbmaxmatches",
        "allowipv6", "logtarget", "syslogsocket", "socket", "pidfile",
    }
)  # fmt: skip
# fail2ban jail names whose filter is spelt differently here.
FAIL2BAN_JAILS: Final[dict[str, str]] = {
    "postfix-sasl": "fail2ban's postfix-sasl is filter: postfix with mode: auth here "
    "(journalban import-fail2ban writes a postfix-sasl jail so)",
    "postfix-rbl": "fail2ban's postfix-rbl is filter: postfix with mode: rbl here",
    "sshd-ddos": "fail2ban's sshd-ddos is filter: sshd with mode: ddos here",
    "exim-spam": "fail2ban's exim-spam has no filter here; filter: exim covers "
    "authentication failures",
}
RECIDIVE_JAIL: Final = (
    "recidive is not a jail here: the top-level recidive: key configures it "
    "(enabled, maxretry, findtime, bantime), fed by the agent's own bans"
)


def unknown_key(key: str, known: Iterable[str]) -> str:
    """Why ``key`` is not accepted, and what to write instead."""
    if key in RENAMED:
        return f"not a journalban key; {RENAMED[key]}"
    if key in UNSUPPORTED:
        return f"fail2ban's {key} is not supported by journalban; remove it"
    close = similar(key, known)
    if close:
        return f"unknown key; did you mean {close}?"
    return f"unknown key (known: {', '.join(sorted(known))})"


def similar(word: str, choices: Iterable[str]) -> str | None:
    """The choice ``word`` is most likely a typo of, if any."""
    options = list(choices)
    squeezed = {c.replace("_", "").replace("-", ""): c for c in options}
    plain = word.replace("_", "").replace("-", "").replace(".", "").lower()
    if plain in squeezed:
        return squeezed[plain]
    import difflib  # only for a hint (0.2 MB the agent would keep)

    found = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return found[0] if found else None


def jail_filter_hint(name: str) -> str | None:
    """A hint when a fail2ban jail or filter name has no filter of that name here."""
    options = re.fullmatch(r"([\w.-]+)\[(.*)\]", name)
    if options is not None:  # fail2ban's filter = sshd[mode=aggressive]
        mode = re.search(r"\bmode=([\w-]+)", options.group(2))
        then = f" and mode: {mode.group(1)}" if mode else ""
        return f"fail2ban's {name} is written filter: {options.group(1)}{then} here"
    return FAIL2BAN_JAILS.get(name)


def duration_hint(value: object) -> str | None:
    """fail2ban's ``bantime = -1`` (a ban that never ends)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
        return "fail2ban's -1, a ban that never ends, is written permanent here"
    return None


def network_hint(text: str) -> str | None:
    """``127.0.0.1/8``: host bits set; the prefix meant is 127.0.0.0/8."""
    import ipaddress

    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None
    if "/" in text and str(net) != text.strip():
        return f"{text.strip()} has host bits set: write {net}"
    return None


def list_hint(text: str) -> str | None:
    """``ignoreip = 127.0.0.1/8 ::1``: a space-separated string in fail2ban."""
    parts = text.replace(",", " ").split()
    if len(parts) > 1:
        return f"a YAML list, not a space-separated string: [{', '.join(parts)}]"
    return None
