"""A Debian 12 root file system for the booted tier, built once and cached.

``debootstrap --variant=minbase`` plus the packages a booted host needs
(systemd, the system bus, polkitd, sshd, nftables) and journalban's Python
dependencies at the versions the test venv runs, downloaded on the host and
installed offline. The cache lives outside the checkout
(``/var/cache/journalban-tests`` or ``$JOURNALBAN_TEST_CACHE``), one directory
per key: a hash of everything that goes into the root. A root is built under
a temporary name and renamed into place only when complete, so an interrupted
build is never reused; a lock keeps two sessions from building at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

CACHE = Path(os.environ.get("JOURNALBAN_TEST_CACHE", "/var/cache/journalban-tests"))
SUITE = "bookworm"
MIRROR = os.environ.get("JOURNALBAN_TEST_MIRROR", "http://deb.debian.org/debian")
# debootstrap's own resolver cannot place polkitd: the rest comes through apt.
DEBOOTSTRAP_INCLUDE = ("systemd", "systemd-sysv", "dbus", "python3")
APT_PACKAGES = (
    "nftables",
    "iproute2",
    "netbase",
    "procps",
    "python3-pip",
    "python3-systemd",
    "polkitd",
    "openssh-server",
    "openssh-client",
    "sshpass",
)
# journalban's dependencies but systemd-python, which Debian's python3-systemd provides.
PYTHON_DEPENDENCIES = ("dbus-fast", "pyroute2", "PyYAML")
# Bumped when the recipe below changes in a way the key does not see.
RECIPE_VERSION = 1
CHROOT_ENV = {
    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "DEBIAN_FRONTEND": "noninteractive",
    "HOME": "/root",
}


def python_pins() -> tuple[str, ...]:
    """``name==version`` of each dependency, as installed where the tests run."""
    return tuple(f"{n}=={importlib.metadata.version(n)}" for n in PYTHON_DEPENDENCIES)


def cache_key() -> str:
    recipe = {
        "suite": SUITE,
        "mirror": MIRROR,
        "include": DEBOOTSTRAP_INCLUDE,
        "apt": APT_PACKAGES,
        "python": python_pins(),
        "version": RECIPE_VERSION,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


def chroot(root: Path, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside ``root`` (no /proc: what package scripts run without)."""
    return subprocess.run(
        ["chroot", str(root), *argv],
        env=CHROOT_ENV,
        capture_output=True,
        text=True,
        check=check,
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_root() -> Path:
    """The path of the complete root file system, building it when it is not cached.

    Raises:
        subprocess.CalledProcessError: debootstrap, apt or pip failed (the
            partial root is removed).
    """
    key = cache_key()
    final = CACHE / f"rootfs-{key}"
    if final.is_dir():
        return final
    with _locked(CACHE / ".lock"):
        if final.is_dir():
            return final
        for stale in CACHE.glob(".building-*"):
            shutil.rmtree(stale, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f".building-{key}-", dir=CACHE))
        try:
            _build(partial / "root")
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        (partial / "root").rename(final)
        shutil.rmtree(partial, ignore_errors=True)
    return final


def _build(root: Path) -> None:
    print(f"\n== building the booted tier's root file system in {root}", file=sys.stderr)
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(DEBOOTSTRAP_INCLUDE)}",
            SUITE,
            str(root),
            MIRROR,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    # No service may start inside the chroot while packages install.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    chroot(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES)
    chroot(root, "apt-get", "clean")
    policy.unlink()
    wheels = root / "root/deps"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--no-deps",
            "-d",
            str(wheels),
            *python_pins(),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
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
        *[f"/root/deps/{w.name}" for w in sorted(wheels.iterdir())],
    )
    shutil.rmtree(wheels)
    # The journal kept across the container's reboots (one machine id per session).
    (root / "var/log/journal").mkdir(parents=True, exist_ok=True)
