"""What every service does at start and stop: logs, traces, its database schema, and the
FastAPI app with the shared error shape, /healthz and its supervised background loops."""

from collections.abc import Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.common.db import create_pool, migrate
from services.common.logs import configure_logging
from services.common.loops import Loops
from services.common.metrics import install_metrics
from services.common.settings import Settings, get_settings
from services.common.telemetry import configure_tracing, instrument_app
from services.common.web import install_common_routes

VERSION = "0.1.0"


@asynccontextmanager
async def service_database(service: str, migrations: Path, schema: str | None = None):
    """Configure traces, open the pool, apply the migrations of the service's schema
    (`schema`: the worker's process writes the workflow service's)."""
    settings: Settings = get_settings()
    configure_tracing(service, settings)
    pool: asyncpg.Pool = await create_pool(settings.require_database_url())
    try:
        await migrate(pool, schema or service, migrations)
        yield settings, pool
    finally:
        await pool.close()


def service_app(
    service: str, title: str, description: str, lifespan, larger_bodies: Mapping[str, int] | None = None
) -> FastAPI:
    """`larger_bodies`: paths whose requests may be larger than MAX_BODY_BYTES, and how large."""
    # Logs first, as the server imports the app: its own first lines ("Started server process")
    # are then JSON like every other, not the plain text a log shipper cannot parse.
    configure_logging(service, get_settings().log_level)
    app = FastAPI(title=title, description=description, version=VERSION, lifespan=lifespan)
    app.state.loops = Loops()  # its background loops, supervised and reported by /healthz
    install_common_routes(app, service, larger_bodies)
    instrument_app(app)
    install_metrics(app, service)
    return app
