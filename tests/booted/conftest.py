"""The booted tier: journalban installed as packaged, on a Debian 12 booted with systemd.

One container per test session (booting costs seconds, the root file system
a minute once per machine): tests share it, each attacking from addresses of
its own and putting back what it changes. Missing tools or no root skip the
tier, and fail it under JOURNALBAN_REQUIRE_REAL=1.
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterator

import pytest

from support.container import ATTACKERS4, ATTACKERS6, BootedHost, BootError, booted_host
from support.real import missing_real, need_root, need_tool
from support.rootfs import cached_root

TOOLS = (
    "debootstrap",
    "chroot",
    "systemctl",
    "systemd-sysusers",
    "systemd-tmpfiles",
    "systemd-nspawn",
    "nsenter",
    "mount",
    "umount",
    "ip",
    "nft",
    "sshpass",
    "ssh",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/booted/" in str(item.path):
            item.add_marker(pytest.mark.real)
            item.add_marker(pytest.mark.booted)


@pytest.fixture(scope="session")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BootedHost]:
    need_root()
    for tool in TOOLS:
        need_tool(tool)
    try:
        lower = cached_root()
    except subprocess.CalledProcessError as exc:
        missing_real(f"cannot build the root file system: {exc}\n{exc.stdout}{exc.stderr}")
    workdir = tmp_path_factory.mktemp("booted", numbered=True)
    try:
        with booted_host(workdir, lower) as booted:
            yield booted
    except BootError as exc:
        pytest.fail(str(exc), pytrace=False)


# The shipped sshd jail's detectors beyond the per-address count (docs/detection.md)
# react to the thousands of single failures from neighbouring addresses that the
# journald, service and namespace tests log: off for those tests, on (as
# shipped) for the attack path.
QUIET_DETECTORS = "/etc/journalban/jail.d/00-booted-tier-detectors.yaml"
QUIET_TEXT = "jails:\n  sshd:\n" + "".join(
    f"    {d}: {{enabled: false}}\n" for d in ("slow", "subnet", "account", "attack_mode")
)
AS_SHIPPED = ("test_attack", "test_pam")


@pytest.fixture(scope="module", autouse=True)
def detectors(request: pytest.FixtureRequest, host: BootedHost) -> None:
    """The detectors as shipped for the attack path, quiet for the other modules."""
    quiet = request.module.__name__.rsplit(".", 1)[-1] not in AS_SHIPPED
    path = host.root / QUIET_DETECTORS.lstrip("/")
    if quiet == path.exists():
        return
    if quiet:
        host.write(QUIET_DETECTORS, QUIET_TEXT)
    else:
        host.remove(QUIET_DETECTORS)
    host.systemctl("reload", "journalban.service")
    host.next_address_block()


_v4 = itertools.count()
_v6 = itertools.count()


@pytest.fixture
def attacker4() -> str:
    """An IPv4 address of the attacker's namespace no other test has used."""
    return ATTACKERS4[next(_v4)]


@pytest.fixture
def bystander4() -> str:
    """A second unused IPv4 address of the attacker's namespace, one that is never banned."""
    return ATTACKERS4[next(_v4)]


@pytest.fixture
def attacker6() -> str:
    """An IPv6 address, in a /64 of its own, no other test has used."""
    return ATTACKERS6[next(_v6)]
