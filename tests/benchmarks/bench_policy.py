"""Requests per second and latency of the Postfix and Dovecot policy services, 100k bans.

Each service runs alone in a child process (its asyncio loop, a BanTable of
100,000 active bans: 99,000 addresses and 1,000 /24 prefixes, so a lookup
walks two prefix lengths); client processes on loopback keep several
connections busy, one request at a time each (as Postfix's smtpd and
Dovecot's auth client do), half the requests for banned addresses. The
latency of every request is measured at the client, from send to answer.
Prints a Markdown table; ``--record`` writes it into docs/benchmarks.md.

    .venv/bin/python tests/benchmarks/bench_policy.py [--requests 40000] [--record]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import multiprocessing
import os
import platform
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from journalban.config.enforcement import DovecotPoint, Listen, PostfixPoint  # noqa: E402
from journalban.enforce.bantable import BanTable  # noqa: E402
from journalban.firewall.base import BanEntry  # noqa: E402

SECTION = "## Policy services (Postfix, Dovecot)"
BANS = 100_000
BASE = int(ipaddress.IPv4Address("11.0.0.0"))
SECRET = "bench-secret"  # noqa: S105 - the benchmark's own


def table() -> BanTable:
    now = time.time()
    entries = [
        BanEntry("postfix", ipaddress.ip_network(ipaddress.IPv4Address(BASE + i)), now + 3600)
        for i in range(BANS - 1000)
    ]
    entries += [
        BanEntry("postfix", ipaddress.ip_network(f"12.{i // 256}.{i % 256}.0/24"), None)
        for i in range(1000)
    ]
    t = BanTable()
    t.apply(entries, ())
    return t


def serve(kind: str, port: int, secret_file: str, ready: object) -> None:
    async def main() -> None:
        bans = table()
        bans_dovecot = bans
        if kind == "postfix":
            from journalban.enforce.postfix import PostfixPolicyServer

            point = PostfixPoint(Listen(None, "127.0.0.1", port), ("postfix",))
            server: object = PostfixPolicyServer(point, bans, time.time)
        else:
            from journalban.enforce.dovecot import DovecotPolicyServer

            async def sink(jail: str, batch: object) -> None:
                pass

            dpoint = DovecotPoint(Listen(None, "127.0.0.1", port), secret_file, ("postfix",))
            server = DovecotPolicyServer(dpoint, bans_dovecot, time.time, sink)
        await server.start()  # type: ignore[attr-defined]
        ready.set()  # type: ignore[attr-defined]
        await asyncio.Event().wait()

    asyncio.run(main())


def address(n: int) -> str:
    if n % 2:  # banned: an address, or one inside a banned prefix
        return (
            str(ipaddress.IPv4Address(BASE + n % (BANS - 1000)))
            if n % 4 == 1
            else f"12.0.{n % 256}.9"
        )
    return f"10.{n % 250}.{n % 199}.{n % 251}"


def postfix_request(n: int) -> bytes:
    return (
        "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
        f"client_address={address(n)}\nclient_name=unknown\nhelo_name=pc\n"
        "sender=a@example.com\nrecipient=b@example.org\ninstance=1.2.3\n\n"
    ).encode()


def dovecot_request(n: int) -> bytes:
    body = json.dumps({"login": "alice", "pwhash": "0821", "remote": address(n),
                       "device_id": "", "protocol": "imap", "session_id": "x"}).encode()  # fmt: skip
    return (
        b"POST /?command=allow HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"X-API-Key: " + SECRET.encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def client(kind: str, port: int, count: int, offset: int, out: object) -> None:
    """One connection, ``count`` requests one after another; latencies in seconds."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    latencies = []
    refused = 0
    end = b"\n\n" if kind == "postfix" else b"\r\n\r\n"
    for n in range(offset, offset + count):
        data = postfix_request(n) if kind == "postfix" else dovecot_request(n)
        start = time.perf_counter()
        s.sendall(data)
        buf = s.recv(4096)
        while end not in buf:
            buf += s.recv(4096)
        if kind != "postfix":  # the body after the head
            head, _, body = buf.partition(end)
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            while len(body) < length:
                body += s.recv(4096)
            buf = body
        latencies.append(time.perf_counter() - start)
        refused += buf.startswith(b"action=REJECT") or b'"status":-1' in buf
    s.close()
    out.put((latencies, refused))  # type: ignore[attr-defined]


def cpu_seconds(pid: int | None) -> float:
    """User and system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(kind: str, requests: int, connections: int) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        secret = Path(tmp) / "secret"
        secret.write_text(SECRET)
        secret.chmod(0o600)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        ready = ctx.Event()
        server = ctx.Process(target=serve, args=(kind, port, str(secret), ready), daemon=True)
        server.start()
        if not ready.wait(60):
            raise SystemExit("the service did not start")
        out = ctx.Queue()
        per = requests // connections
        clients = [ctx.Process(target=client, args=(kind, port, per, i * per, out))
                   for i in range(connections)]  # fmt: skip
        start = time.perf_counter()
        for c in clients:
            c.start()
        cpu_before = cpu_seconds(server.pid)
        results = [out.get() for _ in clients]
        wall = time.perf_counter() - start
        cpu = cpu_seconds(server.pid) - cpu_before
        for c in clients:
            c.join()
        server.kill()
        server.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    total = len(latencies)
    return {
        "requests": total, "refused": sum(r for _, r in results), "wall": wall, "rate": total / wall,
        "p50": latencies[total // 2] * 1000, "p99": latencies[int(total * 0.99)] * 1000,
        "max": latencies[-1] * 1000, "per_cpu": total / cpu if cpu else 0.0,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    rows = []
    for kind in ("postfix", "dovecot"):
        r = run(kind, args.requests, args.connections)
        rows.append(
            f"| {kind} | {r['requests']:,} ({r['refused']:,} refused) | {args.connections} | "
            f"{r['rate']:,.0f}/s | {r['per_cpu']:,.0f} | {r['p50']:.2f} ms | {r['p99']:.2f} ms | {r['max']:.1f} ms |"
        )
        print(rows[-1], flush=True)
    load = os.getloadavg()[0]
    table_text = "\n".join(
        ["| service | requests | connections | requests/s | per service CPU second | p50 | p99 | max |",
         "|---|---|---|---|---|---|---|---|", *rows]
    )  # fmt: skip
    print(f"\nload {load:.1f}, {platform.python_version()}\n{table_text}")
    if args.record:
        record(table_text, load, args)


def record(table_text: str, load: float, args: argparse.Namespace) -> None:
    doc = REPO / "docs" / "benchmarks.md"
    text = doc.read_text()
    body = (
        f"{SECTION}\n\n"
        "`tests/benchmarks/bench_policy.py`: each service alone in a process with 100,000 "
        "active bans (99,000 addresses, 1,000 /24 prefixes), "
        f"{args.connections} client processes on loopback, one request at a time per "
        "connection as Postfix's smtpd and Dovecot's auth client send them, half for banned "
        "addresses; latency measured at the client from send to answer. Floors (issue 18): "
        f"5,000 requests/s, p99 under 5 ms. Python {platform.python_version()}, "
        f"2 shared cores, load {load:.1f} at the end.\n\n{table_text}\n"
    )
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        tail = rest.split("\n## ", 1)
        text = head + body + ("\n## " + tail[1] if len(tail) > 1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    doc.write_text(text)


if __name__ == "__main__":
    main()
