"""Install this checkout into a root file system the way the packages do.

A wheel built from the checkout, installed offline by the root's own pip, the
command at /usr/bin/journalban; every file of the packages' one list
(docs/packaging/files.txt, through support.install); then what the packages'
scripts do, run offline against the root as image builders run them: create
the user, the state directory, enable the unit.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from support.install import install_into
from support.rootfs import chroot


def install_packaged(root: Path, wheel: Path) -> None:
    """Install journalban into ``root`` as its packages would (no SELinux module)."""
    staged = root / "root" / wheel.name
    shutil.copy(wheel, staged)
    chroot(
        root,
        "python3",
        "-m",
        "pip",
        "install",
        "-q",
        "--break-system-packages",
        "--root-user-action=ignore",
        "--no-index",
        "--no-deps",
        f"/root/{wheel.name}",
    )
    staged.unlink()
    # Debian's pip installs under /usr/local; a package puts the command in /usr/bin.
    (root / "usr/local/bin/journalban").rename(root / "usr/bin/journalban")
    install_into(root)
    for argv in (
        ["systemd-sysusers", f"--root={root}", "journalban.conf"],
        ["systemd-tmpfiles", f"--root={root}", "--create", "journalban.conf"],
        ["systemctl", f"--root={root}", "enable", "journalban.service"],
    ):
        subprocess.run(argv, check=True, capture_output=True, text=True)
