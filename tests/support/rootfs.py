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
import threading
from collections.abc import Iterator
from pathlib import Path

from support import fresh_root

CACHE = Path(os.environ.get("JOURNALBAN_TEST_CACHE", "/var/cache/journalban-tests"))
# On the fresh-machine check's debootstrap minbase (support.fresh_root.base_root).
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "python3")
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
    # The daemons the shipped drop-ins exist for (tests/booted/test_dropins.py):
    # shorewall.conf runs shorewall (and shorewall6 for IPv6 bans), postfix-policy.conf and loopback-policy.conf
    # answer Postfix, web-deny.conf reloads nginx. Installed disabled: the tests
    # start the one they need.
    "shorewall",
    "shorewall6",
    "postfix",
    "nginx",
    # Cockpit's web server and bridge: the page against the real systemd and
    # polkit, with a real login (tests/booted/test_cockpit.py).
    "cockpit-ws",
    "cockpit-bridge",
)
# Installed with their packages, kept from starting at boot.
DISABLED_UNITS = (
    "shorewall.service",
    "shorewall6.service",
    "postfix.service",
    "nginx.service",
    "cockpit.socket",
)
# journalban's dependencies but systemd-python, which Debian's python3-systemd
# provides; then its fleet and metrics extras (nats-py, prometheus-client).
PYTHON_DEPENDENCIES = ("dbus-fast", "pyroute2", "PyYAML", "nats-py", "prometheus-client")
# Bumped when the recipe below changes in a way the key does not see.
RECIPE_VERSION = 2
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
        "base": fresh_root.base_key(),
        "include": BASE_PACKAGES,
        "apt": APT_PACKAGES,
        "disabled": DISABLED_UNITS,
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


_background: list[threading.Thread] = []


def start_in_background() -> bool:
    """Build the root in a thread while the rest of the suite runs, unless it is cached.

    The host fixture's ``cached_root()`` then waits on the build's lock; should
    the background build fail, it builds again and reports the error.
    """
    if _background or os.geteuid() != 0 or not shutil.which("debootstrap"):
        return False
    if (CACHE / f"rootfs-{cache_key()}").is_dir():
        return False
    thread = threading.Thread(target=_build_quietly, name="booted-rootfs", daemon=True)
    thread.start()
    _background.append(thread)
    return True


def _build_quietly() -> None:
    with contextlib.suppress(Exception):
        cached_root()


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
    # The fresh-machine check's debootstrap base, shared: one debootstrap per machine.
    base, _ = fresh_root.base_root()
    subprocess.run(
        ["cp", "-a", "--reflink=auto", f"{base}/.", str(root)],
        check=True,
        capture_output=True,
        text=True,
    )
    (root / fresh_root.BASE_COMPLETE).unlink()
    # No service may start inside the chroot while packages install.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    archives = root / "var/cache/apt/archives"
    fresh_root.lend_debs(archives)
    packages = (*BASE_PACKAGES, *APT_PACKAGES)
    try:
        _apt_install(root, packages)
    except subprocess.CalledProcessError:
        # The base's package lists are older than the mirror (a point release
        # removed a version): read them again, once.
        _in_root(root, "apt-get", "update", "-q")
        _apt_install(root, packages)
    fresh_root.keep_debs(archives)
    chroot(root, "apt-get", "clean")
    policy.unlink()
    subprocess.run(
        ["systemctl", f"--root={root}", "disable", *DISABLED_UNITS],
        check=True,
        capture_output=True,
        text=True,
    )
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


def _apt_install(root: Path, packages: tuple[str, ...]) -> None:
    _in_root(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages)


def _in_root(root: Path, *argv: str) -> None:
    """``argv`` chrooted into ``root`` with /proc mounted, in a mount namespace of its own."""
    script = 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"'
    subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(root), *argv],
        env=CHROOT_ENV,
        check=True,
        capture_output=True,
        text=True,
    )
