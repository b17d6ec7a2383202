"""Shared fixtures: one real PostgreSQL for the whole run (embedded, or DATABASE_URL), and a
fresh database per test that asks for one, so tests never see each other's rows."""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from services.common.db import (
    create_pool,
    database_url_for,
    ensure_database,
    migrate,
    start_embedded_postgres,
)
from services.common.service_auth import bearer, digest, new_service_tokens
from services.run import free_port

SERVICES_DIR = Path(__file__).resolve().parents[1] / "services"

# Property tests judge results, never speed: an example that pays for a lazy import or a
# collector's pause on a busy machine must not fail the run (Hypothesis's default is 200 ms),
# nor may slow generation of examples.
settings.register_profile("complaints", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("complaints")


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
    yield EventStore(pool, inbox=inbox.changes_of)
    await pool.close()


async def migrated_pool(database_url: str, *services: str) -> asyncpg.Pool:
    pool = await create_pool(database_url)
    for service in services:
        await migrate(pool, service, SERVICES_DIR / service / "migrations")
    return pool


TOKENS = new_service_tokens()  # the services' tokens, for tests that start one service
AS_WORKFLOW = bearer(TOKENS["workflow"])


@pytest_asyncio.fixture
async def notify(fresh_database_url, tmp_path):
    """The notify service as its own process on a real port, on the test's database, taking
    messages from whoever holds the workflow service's token."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": fresh_database_url,
        "COMPLAINTS_DATA_DIR": str(tmp_path),
        "COMPLAINTS_NOTIFY_PORT": str(port),
        "COMPLAINTS_NOTIFY_POLL_SECONDS": "0.2",
        "COMPLAINTS_CALLER_TOKENS": json.dumps({caller: digest(t) for caller, t in TOKENS.items()}),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "services.notify.api:app", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(timeout=2) as http:
            for _ in range(150):
                try:
                    if (await http.get(f"{url}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError("notify did not start")
        yield url
    finally:
        process.terminate()
        process.wait(15)


def pytest_terminal_summary(terminalreporter):
    """Print the classification accuracy in `make test`'s output (domain target: tier ≥ 90 %)."""
    from tests.unit.test_classification import ACCURACY

    if ACCURACY:
        terminalreporter.section("classification accuracy (domain target: tier >= 90 %)")
        for name, result in ACCURACY.items():
            terminalreporter.write_line(f"{name}: {result}")
