"""The reporting service (port 8003): projections from the event feed and the reports on them."""

from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers
from services.reporting.projector import Projector

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with (
        service_database("reporting", MIGRATIONS) as (settings, pool),
        httpx.AsyncClient(timeout=10, headers=outgoing_headers(settings)) as http,
    ):
        app.state.pool = pool
        projector = Projector(pool, http, f"{settings.url_of('workflow')}/v1/events")
        async with app.state.loops.supervised("projector", projector.catch_up_once, settings.reporting_poll_seconds):
            yield


app = service_app("reporting", "Reporting service", "Timeliness reports built from the complaint event feed.", lifespan)


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
        position = await conn.fetchval("SELECT coalesce(max(position), 0) FROM reporting.checkpoints")
    statuses = {r["status"]: r["n"] for r in by_status}
    return Summary(
        total=sum(statuses.values()),
        by_status=statuses,
        by_tier={r["tier"]: r["n"] for r in by_tier},
        events_read_up_to=position,
    )
