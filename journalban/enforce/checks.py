"""check-config's warnings about the enforcement points: what would keep one off at start.

Valid settings that cannot work on this host: a secret file that is missing
or readable by every user, a socket directory that does not exist, a reload program that is not there, a point enforcing a disabled jail.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from journalban.config.schema import Config
from journalban.config.yamlsource import KeyPath

Warning_ = tuple[KeyPath, str]


def enforcement_warnings(config: Config) -> list[Warning_]:
    """Where and why each configured point would not work here."""
    out: list[Warning_] = []
    enabled = {j.name for j in config.enabled_jails} | {"recidive"}
    for name, point in config.enforcement.points.items():
        base: KeyPath = ("enforcement", name)
        for jail in point.jails:
            if jail not in enabled:
                out.append(
                    ((*base, "jails"), f"{name}: jail {jail} is not enabled: nothing to enforce")
                )
        listen = getattr(point, "listen", None)
        if listen is not None and listen.path is not None:
            parent = Path(listen.path).parent
            if not parent.is_dir():
                out.append(
                    ((*base, "listen"), f"{name}: {parent} does not exist: the point stays off")
                )
        secret = getattr(point, "secret_file", None)
        if secret:
            out.extend(_secret(base, name, secret))
        deny = getattr(point, "file", None)
        if deny and not Path(deny).parent.is_dir():
            out.append(
                (
                    (*base, "file"),
                    f"{name}: {Path(deny).parent} does not exist: the point stays off",
                )
            )
        reload = getattr(point, "reload", ())
        if reload and not os.access(reload[0], os.X_OK):
            out.append(
                ((*base, "reload"), f"{name}: {reload[0]} is not an executable program here")
            )
    return out


def _secret(base: KeyPath, name: str, path: str) -> list[Warning_]:
    try:
        info = os.stat(path)
    except OSError as exc:
        return [((*base, "secret_file"), f"{name}: {path}: {exc.strerror}: the point stays off")]
    if info.st_mode & (stat.S_IROTH | stat.S_IWOTH):
        message = f"{name}: {path} is readable by every user: any local program could post reports"
        return [((*base, "secret_file"), f"{message} (chmod 600)")]
    return []
