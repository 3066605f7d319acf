"""The policy services' connections: a slow client, an idle one and a flood are cut off."""

from __future__ import annotations

import asyncio

from journalban.config.enforcement import Listen
from journalban.enforce.framing import Bounds, Complaints, RequestServer


def echo_line(buffer: bytearray) -> tuple[bytes, bool] | None:
    end = buffer.find(b"\n")
    if end < 0:
        return None
    line = bytes(buffer[: end + 1])
    del buffer[: end + 1]
    return line, True


async def _read(port: int, data: bytes) -> tuple[bytes, float]:
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = loop.time()
    try:
        writer.write(data)
        out = await asyncio.wait_for(reader.read(), 5)
    except ConnectionError:
        out = b""
    writer.close()
    return out, loop.time() - start


def test_slow_and_idle_clients_are_closed_and_a_flood_is_refused() -> None:
    async def main() -> None:
        complain = Complaints("test")
        bounds = Bounds(limit=3, max_request=64, request_timeout=0.3, idle_timeout=0.6)
        server = RequestServer(Listen(None, "127.0.0.1", 0), echo_line, complain, bounds)
        await server.start()
        port = server.port
        out, took = await _read(port, b"hello\nhal")  # answered, then stalls mid-request
        assert out == b"hello\n"
        assert 0.2 < took < 2
        out, took = await _read(port, b"")  # idle
        assert out == b""
        assert 0.5 < took < 2
        out, _ = await _read(port, b"x" * 100)  # over max_request without an end
        assert out == b""
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
        out, took = await _read(port, b"more\n")  # the fourth: refused at once
        assert out == b""
        assert took < 0.3
        for _, writer in held:
            writer.close()
        await server.close()
        assert complain.total >= 3

    asyncio.run(main())


def test_a_client_that_never_reads_its_answers_is_not_answered_without_end() -> None:
    async def main() -> int:
        bounds = Bounds(limit=3, max_request=64, request_timeout=5, idle_timeout=5)
        server = RequestServer(Listen(None, "127.0.0.1", 0), echo_line, Complaints("t"), bounds)
        await server.start()
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port, limit=1 << 20)
        writer.transport.pause_reading()  # type: ignore[attr-defined]
        sent = 0
        try:
            for _ in range(4000):  # 64 MiB of requests, answers never read
                writer.write((b"y" * 60 + b"\n") * 256)
                sent += 1
                await asyncio.wait_for(writer.drain(), 0.5)
        except TimeoutError:
            pass
        writer.transport.abort()
        await server.close()
        return sent

    sent = asyncio.run(main())
    assert sent < 4000, "the server stopped reading: the client's writes blocked"
