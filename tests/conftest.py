"""Shared fixtures: one real PostgreSQL for the whole run (embedded, or DATABASE_URL), and a
fresh database per test that asks for one, so tests never see each other's rows."""

import os
import secrets
import tempfile
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from services.common.db import create_pool, database_url_for, ensure_database, migrate, start_embedded_postgres

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"


@pytest.fixture(scope="session")
def postgres_admin_url():
    """URL of a maintenance database on a real PostgreSQL server."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="complaints-test-pg-") as tmp:
        server = start_embedded_postgres(Path(tmp))
        try:
            yield server.get_uri("postgres")
        finally:
            server.cleanup()


@pytest_asyncio.fixture
async def fresh_database_url(postgres_admin_url):
    name = f"test_{secrets.token_hex(6)}"
    await ensure_database(postgres_admin_url, name)
    yield database_url_for(postgres_admin_url, name)
    conn = await asyncpg.connect(postgres_admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest_asyncio.fixture
async def store(fresh_database_url):
    """A real event store in a fresh database, projecting the staff inbox as in production."""
    from services.workflow import inbox
    from services.workflow.eventstore import EventStore

    pool = await migrated_pool(fresh_database_url, "workflow")
    yield EventStore(pool, project=inbox.project)
    await pool.close()


async def migrated_pool(database_url: str, *services: str) -> asyncpg.Pool:
    pool = await create_pool(database_url)
    for service in services:
        await migrate(pool, service, SERVICES_DIR / service / "migrations")
    return pool


def pytest_terminal_summary(terminalreporter):
    """Print the classification accuracy in `make test`'s output (domain target: tier ≥ 90 %)."""
    from tests.unit.test_classification import ACCURACY

    if ACCURACY:
        terminalreporter.section("classification accuracy (domain target: tier >= 90 %)")
        for name, result in ACCURACY.items():
            terminalreporter.write_line(f"{name}: {result}")
