"""Netlink dumps the kernel marks interrupted (NLM_F_DUMP_INTR) are read again, never used.

Crafted netlink byte streams stand in for the kernel: a fake socket answers
each dump request (by its sequence number) with the next scripted dump,
split over several datagrams as a multi-part dump is. The one real dump of
each kind runs in tests/real (test_nftables_netns.py, test_host_addresses.py).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import struct
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from journalban.decisions import ignore
from journalban.decisions.hostaddrs import (
    IFA_LOCAL,
    RTM_NEWADDR,
    AddressDumpInterrupted,
    dump_addresses,
)
from journalban.errors import BackendError, DumpInterrupted
from journalban.firewall import ipset
from journalban.firewall.nftables.netlink import NftSocket, attr, is_missing
from journalban.netlinkdump import DUMP_ATTEMPTS, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR

HDR = struct.Struct("=IHHII")
NLM_F_MULTI = 0x2
NFT_NEWSET = (10 << 8) | 10

# One scripted message: (type, flags, payload after the nlmsghdr).
Msg = tuple[int, int, bytes]


def packed(msg_type: int, flags: int, seq: int, payload: bytes) -> bytes:
    raw = HDR.pack(HDR.size + len(payload), msg_type, flags, seq, 0) + payload
    return raw + b"\0" * (-len(raw) % 4)


def done(status: int = 0, flags: int = NLM_F_MULTI) -> Msg:
    return (NLMSG_DONE, flags, struct.pack("=i", status))


def error(code: int) -> Msg:
    return (NLMSG_ERROR, 0, struct.pack("=i", -code) + b"\0" * 16)


class ScriptedKernel:
    """Answers the n-th dump request with the n-th script, two messages a datagram."""

    def __init__(self, scripts: Sequence[Sequence[Msg]]) -> None:
        self.scripts = list(scripts)
        self.requests: list[int] = []
        self.pending: list[bytes] = []

    def _request(self, data: bytes) -> None:
        seq = HDR.unpack_from(data)[3]
        self.requests.append(seq)
        script = self.scripts.pop(0)
        # A stray answer to someone else's request comes first: it must be ignored.
        self.pending.append(packed(NFT_NEWSET, NLM_F_MULTI, seq + 1000, b"\0" * 4 + b"stray"))
        for i in range(0, len(script), 2):
            self.pending.append(b"".join(packed(t, f, seq, p) for t, f, p in script[i : i + 2]))

    def sendall(self, data: bytes) -> None:
        self._request(data)

    def sendto(self, data: bytes, address: tuple[int, int]) -> int:
        self._request(data)
        return len(data)

    def recv(self, size: int) -> bytes:
        return self.pending.pop(0)


def nft_socket(kernel: ScriptedKernel) -> NftSocket:
    sock = NftSocket.__new__(NftSocket)
    sock._sock = kernel  # type: ignore[assignment]
    sock._seq = 100
    sock._lock = threading.RLock()
    return sock


def nft_set(name: str, flags: int = NLM_F_MULTI) -> Msg:
    return (NFT_NEWSET, flags, b"\x01\0\0\0" + attr(2, name.encode() + b"\0"))


def nft_dump(names: Sequence[str], intr_at: int | None = None) -> list[Msg]:
    msgs = [nft_set(n, NLM_F_MULTI | (NLM_F_DUMP_INTR if i == intr_at else 0)) for i, n in
            enumerate(names)]  # fmt: skip
    flags = NLM_F_MULTI | (NLM_F_DUMP_INTR if intr_at == len(names) else 0)
    return [*msgs, done(flags=flags)]


def bodies_for(names: Sequence[str]) -> list[bytes]:
    return [attr(2, n.encode() + b"\0") for n in names]


def test_an_interrupted_nft_dump_is_read_again_and_the_clean_one_used() -> None:
    partial, whole = ["a", "b", "c"], ["a", "b", "c", "d"]
    kernel = ScriptedKernel([nft_dump(partial, intr_at=1), nft_dump(whole)])
    assert nft_socket(kernel).dump(10) == bodies_for(whole)
    assert len(kernel.requests) == 2
    assert kernel.requests[0] != kernel.requests[1]
    assert not kernel.pending  # the interrupted dump was read to its end


def test_the_flag_on_the_done_message_alone_counts() -> None:
    kernel = ScriptedKernel([nft_dump(["a"], intr_at=1), nft_dump(["a", "b"])])
    assert nft_socket(kernel).dump(10) == bodies_for(["a", "b"])
    assert len(kernel.requests) == 2


def test_an_nft_dump_interrupted_every_time_is_a_named_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kernel = ScriptedKernel([nft_dump(["a", "b"], intr_at=0) for _ in range(DUMP_ATTEMPTS + 1)])
    with caplog.at_level(logging.WARNING), pytest.raises(DumpInterrupted) as caught:
        nft_socket(kernel).dump(10)
    assert isinstance(caught.value, BackendError)
    assert caught.value.errno == errno.EINTR
    assert "interrupted 5 times" in str(caught.value)
    assert len(kernel.requests) == DUMP_ATTEMPTS
    assert any("dump interrupted" in r.getMessage() for r in caplog.records)


def test_an_nft_dump_error_is_never_an_empty_result() -> None:
    kernel = ScriptedKernel([[error(errno.ENOENT)]])
    with pytest.raises(BackendError) as caught:
        nft_socket(kernel).dump(10)
    assert is_missing(caught.value)
    # A failure the kernel reports in NLMSG_DONE's status, after some messages.
    kernel = ScriptedKernel([[nft_set("a"), done(-errno.ENOBUFS)]])
    with pytest.raises(BackendError) as caught:
        nft_socket(kernel).dump(10)
    assert caught.value.errno == errno.ENOBUFS


def test_an_empty_clean_nft_dump_is_empty() -> None:
    assert nft_socket(ScriptedKernel([[done()]])).dump(10) == []


def addr_msg(address: str, prefixlen: int, flags: int = NLM_F_MULTI) -> Msg:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    raw = socket.inet_pton(family, address)
    ifa = struct.pack("=BBBBI", family, prefixlen, 0, 0, 2)
    return (RTM_NEWADDR, flags, ifa + attr(IFA_LOCAL, raw))


def addr_dump(addrs: Sequence[tuple[str, int]], intr_at: int | None = None) -> list[Msg]:
    msgs = [addr_msg(a, p, NLM_F_MULTI | (NLM_F_DUMP_INTR if i == intr_at else 0))
            for i, (a, p) in enumerate(addrs)]  # fmt: skip
    return [*msgs, done()]


def test_an_interrupted_address_dump_is_read_again() -> None:
    old = [("192.0.2.1", 24), ("2001:db8::1", 64)]
    new = [*old, ("198.51.100.7", 24)]
    kernel = ScriptedKernel([addr_dump(old, intr_at=1), addr_dump(new)])
    assert dump_addresses(kernel) == new
    assert len(kernel.requests) == 2


def test_an_address_dump_interrupted_every_time_is_a_named_error_with_what_it_read() -> None:
    # Each interrupted read missed another address: together they saw all three.
    reads = [[("192.0.2.1", 24), ("2001:db8::1", 64)], [("198.51.100.7", 24), ("192.0.2.1", 24)]]
    kernel = ScriptedKernel([addr_dump(reads[n % 2], intr_at=0) for n in range(DUMP_ATTEMPTS)])
    with pytest.raises(DumpInterrupted, match="the host's address dump was interrupted") as err:
        dump_addresses(kernel)
    assert len(kernel.requests) == DUMP_ATTEMPTS
    assert isinstance(err.value, AddressDumpInterrupted)
    assert sorted(err.value.seen) == sorted({*reads[0], *reads[1]})


def test_an_address_dump_error_is_never_an_empty_result() -> None:
    with pytest.raises(OSError, match="address dump refused") as caught:
        dump_addresses(ScriptedKernel([[error(errno.EPERM)]]))
    assert caught.value.errno == errno.EPERM
    with pytest.raises(OSError, match="address dump failed") as caught:
        dump_addresses(ScriptedKernel([[addr_msg("192.0.2.1", 24), done(-errno.EINVAL)]]))
    assert caught.value.errno == errno.EINVAL


def test_the_agent_warns_and_goes_on_when_its_addresses_stay_unreadable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused() -> list[tuple[str, int]]:
        return dump_addresses(ScriptedKernel([[error(errno.EPERM)]]))

    monkeypatch.setattr(ignore, "interface_addresses", refused)
    with caplog.at_level(logging.WARNING):
        assert ignore.host_interfaces() == []
    assert any("cannot read the host's addresses" in r.getMessage() for r in caplog.records)


def test_the_agent_protects_every_address_its_interrupted_reads_showed(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    reads = [[("192.0.2.1", 24)], [("192.0.2.1", 24), ("2001:db8::1", 64)]]

    def always_interrupted() -> list[tuple[str, int]]:
        dumps = [addr_dump(reads[n % 2], 0) for n in range(DUMP_ATTEMPTS)]
        return dump_addresses(ScriptedKernel(dumps))

    monkeypatch.setattr(ignore, "interface_addresses", always_interrupted)
    with caplog.at_level(logging.WARNING):
        own = [str(addr) for addr, _ in ignore.host_interfaces()]
    assert sorted(own) == ["192.0.2.1/32", "2001:db8::1/128"]
    assert any("protecting the 2 addresses" in r.getMessage() for r in caplog.records)


class IpsetMessage(dict[str, Any]):
    """What the ipset backend reads of a pyroute2 message: its header."""

    def __init__(self, flags: int) -> None:
        super().__init__(header={"flags": flags})


class ScriptedIpset:
    """pyroute2's IPSet.list, answering each call with the next scripted dump."""

    def __init__(self, dumps: Sequence[list[IpsetMessage]]) -> None:
        self.dumps = list(dumps)
        self.calls = 0

    def list(self, *args: object, **kwargs: object) -> list[IpsetMessage]:
        self.calls += 1
        return self.dumps.pop(0)


def test_an_interrupted_ipset_dump_is_read_again() -> None:
    clean = [IpsetMessage(NLM_F_MULTI), IpsetMessage(NLM_F_MULTI)]
    fake = ScriptedIpset([[IpsetMessage(NLM_F_MULTI | NLM_F_DUMP_INTR)], clean])
    assert ipset._listed(fake, "ipset dump of jban-sshd-4", "jban-sshd-4") == clean  # type: ignore[arg-type]
    assert fake.calls == 2
    always = ScriptedIpset([[IpsetMessage(NLM_F_MULTI | NLM_F_DUMP_INTR)]] * DUMP_ATTEMPTS)
    with pytest.raises(DumpInterrupted, match="ipset dump of jban-sshd-4 was interrupted"):
        ipset._listed(always, "ipset dump of jban-sshd-4", "jban-sshd-4")  # type: ignore[arg-type]


def test_an_integrity_check_the_kernel_keeps_interrupting_recreates_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # intact() False makes the agent re-create the table and restore every ban
    # (agent/chores.py); a ruleset that only kept changing is not a lost one.
    from journalban.firewall.nftables import backend as nft_backend

    def interrupted(*_: object) -> object:
        raise DumpInterrupted("the rule dump was interrupted 5 times in a row", errno.EINTR)

    def refused(*_: object) -> object:
        raise BackendError("refused", errno.EPERM)

    monkeypatch.setattr(nft_backend.NftablesBackend, "sock", property(lambda self: None))
    nft = nft_backend.NftablesBackend()
    monkeypatch.setattr(nft_backend, "read_table", interrupted)
    assert nft.intact()
    monkeypatch.setattr(nft_backend, "read_table", refused)
    assert not nft.intact()

    @contextlib.contextmanager
    def no_socket(self: object) -> Iterator[None]:
        yield None

    monkeypatch.setattr(ipset.IptablesIpsetBackend, "_netlink", no_socket)
    sets = ipset.IptablesIpsetBackend()
    monkeypatch.setattr(ipset, "_our_sets", interrupted)
    assert sets.intact()
    monkeypatch.setattr(ipset, "_our_sets", refused)
    assert not sets.intact()
