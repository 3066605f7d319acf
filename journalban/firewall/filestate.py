"""Bans kept in a file of the state directory, for backends whose firewall cannot hold them.

TCP wrappers and shorewall's dynamic blacklist know neither jails nor expiry
times; the backend keeps them in a small JSON file beside what it writes,
replaced atomically so that a crash leaves the old or the new file.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable
from pathlib import Path

from journalban.errors import BackendError
from journalban.firewall.base import BanEntry
from journalban.firewall.selabel import creating_like, ensure_labelled


def read_bans(state_file: Path) -> list[BanEntry]:
    """The bans recorded in ``state_file`` (none when it does not exist).

    Raises:
        BackendError: the file cannot be read or parsed.
    """
    try:
        records = json.loads(state_file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot read {state_file}: {exc}") from exc
    try:
        return [
            BanEntry(str(jail), ipaddress.ip_network(network), expires)
            for jail, network, expires in records
        ]
    except (TypeError, ValueError) as exc:
        raise BackendError(f"{state_file}: not a list of bans: {exc}") from exc


def unexpired(entries: Iterable[BanEntry], now: float) -> list[BanEntry]:
    """``entries`` but those expired by ``now`` (a permanent one never is)."""
    return [e for e in entries if e.expires_at is None or e.expires_at > now]


def applied(
    state_file: Path, add: Iterable[BanEntry], remove: Iterable[BanEntry], now: float
) -> list[BanEntry]:
    """The bans of ``state_file`` once ``remove`` is taken out and ``add`` put in.

    One ban per jail and network (an added one replaces the recorded one);
    those expired by ``now`` are left out.

    Raises:
        BackendError: the file cannot be read or parsed.
    """
    bans = {(e.jail, e.network): e for e in read_bans(state_file)}
    for entry in remove:
        bans.pop((entry.jail, entry.network), None)
    for entry in add:
        bans[(entry.jail, entry.network)] = entry
    return unexpired(bans.values(), now)


def write_bans(state_file: Path, entries: Iterable[BanEntry]) -> None:
    """Record ``entries`` in ``state_file``, atomically.

    Raises:
        BackendError: the file cannot be written.
    """
    records = [[e.jail, str(e.network), e.expires_at] for e in entries]
    replace_file(state_file, json.dumps(records, indent=0) + "\n")


def replace_file(path: Path, text: str, *, shared: bool = False) -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half.

    The new file keeps the old one's SELinux label (see selabel). A ``shared``
    file, one that other services read (hosts.deny, a web server's deny list),
    is first created empty where missing, so that it gets the label the policy
    gives its name, which the replacements then keep.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if shared:
            ensure_labelled(path)
        import tempfile  # only when a file is written (0.2 MB the agent would keep)

        with creating_like(path):
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            # Services that drop privileges still read it; it holds no secret.
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise BackendError(f"cannot write {path}: {exc}", exc.errno) from exc
