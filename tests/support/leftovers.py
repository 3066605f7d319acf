"""What a part of the suite leaves in /tmp, seen where nothing else writes there.

``left_in_tmp`` runs a command in a mount namespace whose /tmp is a fresh
tmpfs, and lists that /tmp once the command has ended: whatever else runs on
the machine (other sessions, benchmarks) cannot add to it. ``python -m
support.leftovers PART`` runs one of the parts that once left files behind.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from support.bus import PrivateBus
from support.cockpit import CockpitWs
from support.real import REPO, need_root, need_tool

# Runs "$@" with stdout sent to stderr, then lists /tmp on stdout. The entries of the old
# /tmp named in $KEEP (the checkout's, when it lives under /tmp) are bound into the new one
# through a descriptor of the old (mount -c: not resolved back to the new /tmp's path).
_SCRIPT = (
    "exec 3</tmp || exit 1; mount -t tmpfs -o mode=1777 tmpfs /tmp || exit 1; "
    'for keep in $KEEP; do mkdir "/tmp/$keep" && '
    'mount -c --bind "/proc/self/fd/3/$keep" "/tmp/$keep" || exit 1; done; '
    'exec 3<&-; "$@" >&2 || exit; ls -A /tmp'
)


def kept_in_tmp(*paths: Path) -> list[str]:
    """The entries of /tmp that hold any of ``paths`` (a checkout cloned under /tmp, its
    virtualenv), which the fresh /tmp must still show."""
    kept = set()
    for path in paths:
        for seen in (path, path.resolve()):
            if seen.is_relative_to("/tmp") and seen != Path("/tmp"):
                kept.add(seen.relative_to("/tmp").parts[0])
    return sorted(kept)


def left_in_tmp(argv: Sequence[str], env: dict[str, str], timeout: float = 120) -> list[str]:
    """The names in a fresh /tmp after ``argv`` ran with it (from the repository), but
    those kept from the old /tmp for the checkout (``kept_in_tmp``).

    Raises:
        AssertionError: ``argv`` failed (with its output).
    """
    need_root()
    for tool in ("unshare", "mount"):
        need_tool(tool)
    kept = kept_in_tmp(REPO, Path(argv[0]))
    done = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", _SCRIPT, "sh", *argv],
        cwd=REPO,
        env={**env, "KEEP": " ".join(kept)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stderr}"
    return [name for name in done.stdout.split() if name not in kept]


def cockpit() -> None:
    """cockpit-ws for root and for nobody: serving the page starts a bridge, which
    starts an ssh-agent (/tmp/ssh-*) and a session bus (/tmp/dbus-*)."""
    with PrivateBus(polkit=False) as bus:
        for user in (None, "nobody"):
            with CockpitWs(bus, user=user):
                pass  # it served the page: its bridge runs


PARTS = {"cockpit": cockpit}

if __name__ == "__main__":
    PARTS[sys.argv[1]]()
