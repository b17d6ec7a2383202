"""The services' connection pool against a real PostgreSQL: a connection asyncpg finds still
inside an earlier operation (as after PostgreSQL went away mid-query) leaves the pool, and its
caller gets a connection error, which the edge answers with 503."""

import asyncpg
import pytest

from services.common.db import create_pool
from services.common.dependencies import unavailable_dependency


@pytest.fixture
async def pool(fresh_database_url):
    pool = await create_pool(fresh_database_url, min_size=1, max_size=1)
    yield pool
    await pool.close()


def _broken_once(monkeypatch, method: str) -> None:
    """The next call of asyncpg's `method` meets a connection left inside an earlier operation."""
    original = getattr(asyncpg.Connection, method)

    async def broken(self, *args, **kwargs):
        monkeypatch.setattr(asyncpg.Connection, method, original)
        raise asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")

    monkeypatch.setattr(asyncpg.Connection, method, broken)


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("_do_execute", lambda conn: conn.fetchval("SELECT $1::int", 1)),  # a query with arguments
        ("execute", lambda conn: conn.execute("SELECT 1")),  # a plain query
    ],
)
async def test_a_connection_left_broken_leaves_the_pool(pool, monkeypatch, method, query):
    async with pool.acquire() as conn:
        first = conn._con  # the connection behind the pool's proxy
        _broken_once(monkeypatch, method)
        with pytest.raises(asyncpg.ConnectionDoesNotExistError) as failed:
            await query(conn)
    assert first.is_closed()
    assert unavailable_dependency(failed.value) == "the database"  # 503 with Retry-After at the edge

    async with pool.acquire() as conn:  # the pool's one slot holds a fresh connection
        assert conn._con is not first
        assert await conn.fetchval("SELECT $1::int", 2) == 2
