"""The reporting service (port 8003): projections from the event feed and the reports on them."""

import asyncio
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from services.common.db import create_pool, migrate
from services.common.logs import configure_logging
from services.common.settings import get_settings
from services.common.telemetry import configure_tracing, instrument_app
from services.common.web import install_common_routes
from services.reporting.projector import Projector

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI):
    settings = get_settings()
    configure_logging("reporting", settings.log_level)
    configure_tracing("reporting", settings)
    pool = await create_pool(settings.require_database_url())
    await migrate(pool, "reporting", MIGRATIONS)
    app.state.pool = pool
    async with httpx.AsyncClient(timeout=10) as http:
        projector = Projector(pool, http, f"{settings.url_of('workflow')}/v1/events")
        app.state.projector = projector
        task = asyncio.create_task(projector.run(settings.reporting_poll_seconds))
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await pool.close()


app = FastAPI(
    title="Reporting service",
    description="Timeliness reports built from the complaint event feed.",
    version="0.1.0",
    lifespan=lifespan,
)
install_common_routes(app, "reporting")
instrument_app(app)


class Summary(BaseModel):
    total: int
    by_status: dict[str, int]
    by_tier: dict[str, int]
    events_read_up_to: int  # the feed position this report reflects


@app.get("/v1/reports/summary", response_model=Summary, tags=["reports"])
async def summary() -> Summary:
    pool = app.state.pool
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        by_status = await conn.fetch("SELECT status, count(*) AS n FROM reporting.complaints GROUP BY status")
        by_tier = await conn.fetch(
            "SELECT coalesce(tier::text, 'unassigned') AS tier, count(*) AS n FROM reporting.complaints GROUP BY 1"
        )
        position = await conn.fetchval(
            "SELECT coalesce(max(position), 0) FROM reporting.checkpoints"
        )
    statuses = {r["status"]: r["n"] for r in by_status}
    return Summary(
        total=sum(statuses.values()),
        by_status=statuses,
        by_tier={r["tier"]: r["n"] for r in by_tier},
        events_read_up_to=position,
    )
