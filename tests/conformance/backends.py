"""Every FirewallBackend the conformance suite runs against, with what each needs around it.

A factory is a context manager taking a scratch directory and yielding a
``Harness``: the backend, and ``call`` to run backend methods where the backend
must run (inside a network namespace of the test's own, for the kernel
backends). Suites parametrize over ``BACKENDS``; add a backend here, not in
the suites. Backends that need root skip (or fail under CI) through
``support.real``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from journalban.firewall.base import FirewallBackend
from support.real import need_tool
from support.threadns import thread_namespace

T = TypeVar("T")


def _direct(fn: Callable[[], T]) -> T:
    return fn()


@dataclass
class Harness:
    """A backend under test and the way to call it (``harness.call(lambda: b.list(now))``)."""

    backend: FirewallBackend
    call: Callable[[Callable[[], Any]], Any] = _direct
    # Whether bans leave by themselves at their expiry (kernel timeouts) or need removal.
    kernel_timeouts: bool = False


@contextmanager
def dry_run(tmp_path: Path) -> Iterator[Harness]:
    from journalban.firewall.dryrun import DryRunBackend

    yield Harness(DryRunBackend())


@contextmanager
def hosts_deny(tmp_path: Path) -> Iterator[Harness]:
    from journalban.firewall.hostsdeny import HostsDenyBackend

    etc = tmp_path / "etc-hosts.deny"
    backend = HostsDenyBackend(tmp_path / "state", etc_file=etc)
    etc.write_text(f"ALL: {backend.deny_file}\n")
    yield Harness(backend)


@contextmanager
def nginx_deny(tmp_path: Path) -> Iterator[Harness]:
    from journalban.enforce.webdeny import WebDenyBackend

    yield Harness(WebDenyBackend("nginx", tmp_path / "nginx-deny.conf"))


@contextmanager
def apache_deny(tmp_path: Path) -> Iterator[Harness]:
    from journalban.enforce.webdeny import WebDenyBackend

    yield Harness(WebDenyBackend("apache", tmp_path / "apache-deny.conf"))


@contextmanager
def shorewall(tmp_path: Path) -> Iterator[Harness]:
    """Shorewall with stand-in programs that accept drop/allow (a real one needs its config)."""
    from journalban.firewall.shorewall import ShorewallBackend

    tools = {}
    for name in ("shorewall", "shorewall6"):
        path = tmp_path / name
        path.write_text(
            f"#!{sys.executable}\nimport sys\n"
            "sys.exit(0 if sys.argv[1:2] in (['drop'], ['allow']) else 2)\n"
        )
        path.chmod(0o755)
        tools[name] = str(path)
    yield Harness(
        ShorewallBackend(
            tmp_path / "state", shorewall=tools["shorewall"], shorewall6=tools["shorewall6"]
        )
    )


@contextmanager
def iptables_ipset(tmp_path: Path) -> Iterator[Harness]:
    from journalban.firewall.ipset import IptablesIpsetBackend

    for tool in ("ipset", "iptables", "ip6tables", "ip"):
        need_tool(tool)
    with thread_namespace() as ns:
        yield Harness(IptablesIpsetBackend(), call=ns.call, kernel_timeouts=True)


@contextmanager
def nftables(tmp_path: Path) -> Iterator[Harness]:
    from journalban.firewall.nftables import NftablesBackend

    need_tool("ip")
    with thread_namespace() as ns:
        backend = NftablesBackend()
        try:
            yield Harness(backend, call=ns.call, kernel_timeouts=True)
        finally:
            ns.call(backend.close)  # its netlink socket lives in the namespace's thread


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Harness]]] = {
    "dry-run": dry_run,
    "hosts-deny": hosts_deny,
    "nginx-deny": nginx_deny,
    "apache-deny": apache_deny,
    "shorewall": shorewall,
    "iptables-ipset": iptables_ipset,
    "nftables": nftables,
}
