"""Whether a fail2ban filter is the one its package shipped, unchanged.

The package database holds each configuration file's MD5 (dpkg's
``Conffiles``); a filter is stock when its ``.conf`` has the packaged sum and
no ``.local`` or ``NAME.d/`` overrides it. Without a package database the
answer is "unknown", and the importer converts the admin's file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

DPKG_STATUS = Path("/var/lib/dpkg/status")


def packaged_sums(status: Path = DPKG_STATUS, package: str = "fail2ban") -> dict[str, str]:
    """``filter.d/sshd.conf``-style paths (under /etc/fail2ban) -> MD5, from dpkg's status."""
    try:
        text = status.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    sums: dict[str, str] = {}
    for stanza in text.split("\n\n"):
        if f"\nPackage: {package}\n" not in f"\n{stanza}\n":
            continue
        in_conffiles = False
        for line in stanza.splitlines():
            if line.startswith("Conffiles:"):
                in_conffiles = True
                continue
            if in_conffiles and line.startswith(" "):
                parts = line.split()
                if len(parts) >= 2 and parts[0].startswith("/etc/fail2ban/"):
                    sums[parts[0][len("/etc/fail2ban/") :]] = parts[1]
                continue
            in_conffiles = False
    return sums


def filter_state(root: Path, name: str, sums: dict[str, str]) -> str:
    """``stock``, ``changed`` (with the reason after a colon) or ``unknown``."""
    conf = root / "filter.d" / f"{name}.conf"
    local = root / "filter.d" / f"{name}.local"
    dropins = root / "filter.d" / f"{name}.d"
    if local.exists():
        return f"changed: {local} overrides it"
    if dropins.is_dir() and any(dropins.iterdir()):
        return f"changed: {dropins} overrides it"
    if not conf.is_file():
        return "changed: no packaged filter of that name"
    want = sums.get(f"filter.d/{name}.conf")
    if want is None:
        return "unknown" if not sums else "changed: not a packaged filter"
    have = hashlib.md5(conf.read_bytes(), usedforsecurity=False).hexdigest()
    return "stock" if have == want else f"changed: {conf} differs from the packaged file"
