"""The client the services call each other with (services/common/http_client.py) never makes a
request wait for a free connection: a burst past httpx's default cap of 100 is answered whole,
where a capped pool would queue the rest (and httpcore leaks the slot of a request that times
out in that queue)."""

import asyncio
import contextlib

import httpx

from services.common.http_client import http_client

BURST = 150  # past httpx's default max_connections (100)
HOLD = 1.0  # each answer takes this long: with a cap, request 101 would wait this long for a slot


async def _slow_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while True:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                head += chunk
            await asyncio.sleep(HOLD)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()


async def test_a_burst_past_the_default_cap_is_answered_whole_without_waiting_for_a_connection():
    server = await asyncio.start_server(_slow_server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    # Waiting for a connection at all is a failure here: a slot frees only after HOLD.
    no_wait = httpx.Timeout(30, pool=HOLD / 2)
    try:
        async with http_client(base_url=f"http://127.0.0.1:{port}", timeout=no_wait) as client:
            answers = await asyncio.gather(*(client.get("/") for _ in range(BURST)), return_exceptions=True)
            assert [a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers] == [
                200
            ] * BURST
            assert (await client.get("/")).status_code == 200  # and the pool is whole afterwards
    finally:
        server.close()
        await server.wait_closed()
