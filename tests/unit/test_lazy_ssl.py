"""asyncio imported without ssl by `journalban run` (the agent's memory, issue 19), and TLS
through asyncio once something imports ssl: a real handshake on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from support.imports import modules_after
from support.real import need_tool


def test_the_agent_s_imports_leave_ssl_out() -> None:
    loaded = modules_after(
        "from journalban.lazyssl import defer_ssl; defer_ssl(); "
        "import journalban.cli.run, journalban.agent.runtime, journalban.sources.journal, "
        "journalban.agent.build"
    )
    assert "asyncio" in loaded
    assert {"ssl", "_ssl"} & loaded == set()


def test_without_defer_asyncio_imports_ssl() -> None:
    """What the deferral is for: asyncio on its own imports ssl."""
    assert "ssl" in modules_after("import asyncio")


TLS_ROUND = r"""
import sys
from journalban.lazyssl import defer_ssl
defer_ssl()
import asyncio
assert "ssl" not in sys.modules
from asyncio import base_events, selector_events, sslproto
assert base_events.ssl is None and sslproto.ssl is None
import ssl  # as the fleet link (and nats-py) do when a tls:// server is configured
assert base_events.ssl is ssl and selector_events.ssl is ssl and sslproto.ssl is ssl
assert sslproto.SSLAgainErrors == (ssl.SSLWantReadError, ssl.SSLSyscallError)
cert, key = sys.argv[1], sys.argv[2]

async def main() -> None:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(cafile=cert)

    async def echo(reader, writer):
        writer.write(b"pong " + await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0, ssl=server_ctx)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port, ssl=client_ctx, server_hostname="localhost"
    )
    assert writer.get_extra_info("ssl_object").version().startswith("TLS")
    writer.write(b"ping\n")
    await writer.drain()
    print((await reader.readline()).decode().strip())
    writer.close()
    server.close()
    await server.wait_closed()

asyncio.run(main())
"""


def test_tls_through_asyncio_once_ssl_is_imported(tmp_path: Path) -> None:
    openssl = need_tool("openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-I", "-c", TLS_ROUND, str(cert), str(key)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "pong ping"


def test_nothing_is_deferred_once_ssl_is_imported() -> None:
    loaded = modules_after(
        "import ssl; from journalban.lazyssl import defer_ssl; defer_ssl(); import asyncio; "
        "from asyncio import sslproto; assert sslproto.ssl is ssl"
    )
    assert "ssl" in loaded


def test_a_python_it_was_not_checked_on_imports_ssl_with_asyncio() -> None:
    loaded = modules_after(
        "import journalban.lazyssl as lazy; lazy.CHECKED_ON = (); lazy.defer_ssl(); "
        "import asyncio; from asyncio import sslproto; assert sslproto.ssl is not None"
    )
    assert "ssl" in loaded
