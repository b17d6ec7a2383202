"""The intake service (port 8000): channel adapters submit complaints (`channel_api`);
customers follow them and answer by an unguessable tracking token (`customer_api` in JSON,
`customer_pages` in HTML). Here: what runs at start, and the background loops."""

import logging
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI

from services.common.http_client import http_client
from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers
from services.common.telemetry import instrument_http_client
from services.common.temporal import connect
from services.intake import accepted, channel_api, customer_api, customer_pages, erasure, staff_recorded, starter
from services.intake.alerts import StaffAlerts, SurgeMonitor
from services.intake.keys import KeyStore, RateLimiter
from services.intake.state import Intake
from services.intake.submissions import IntakeRules, Submissions
from services.notify.contract import ReplyAddresses
from services.workflow.contract import (
    ComplaintClient,
)

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with (
        service_database("intake", MIGRATIONS) as (settings, pool),
        http_client(timeout=10, headers=outgoing_headers(settings)) as http,
    ):
        # Lazy: intake keeps accepting complaints while Temporal is down; the starter starts them.
        complaints = ComplaintClient(
            await connect(settings, lazy=True),
            settings.temporal_task_queue,
            reads_in_flight=settings.engine_reads_in_flight,
        )
        instrument_http_client(http)
        alerts = StaffAlerts(http, settings.url_of("notify"))
        surge = SurgeMonitor(pool, settings.surge_per_minute, alerts)
        rules = IntakeRules.from_settings(settings)
        submissions = Submissions(
            pool, complaints, settings.url_of("intake"), rules, settings.default_policy, surge, alerts
        )
        if settings.mail_reply_key is None:
            log.warning("COMPLAINTS_MAIL_REPLY_KEY is unset: customers' e-mail answers start complaints of their own")
        app.state.intake = Intake(
            submissions=submissions,
            complaints=complaints,
            keys=KeyStore(pool),
            limiter=RateLimiter(settings.intake_rate_per_minute, settings.intake_rate_burst),
            http=http,
            notify_url=settings.url_of("notify"),
            workflow_url=settings.url_of("workflow"),
            zone=settings.time_zone,
            replies=ReplyAddresses.from_settings(settings),
        )
        loops = app.state.loops
        async with (
            loops.supervised("starter", submissions.hand_over_pending, 2.0),
            loops.supervised("metrics", partial(starter.refresh_gauges, pool), 5.0),
            loops.supervised("surge-count", surge.refresh, 1.0),
            loops.supervised("after-accept", submissions.after_accept, 0.2, on_stop=submissions.flush_started),
        ):
            yield


app = service_app(
    "intake",
    "Intake service",
    "Where every channel hands over a complaint, and where customers follow it.",
    lifespan,
    larger_bodies={channel_api.EMAIL_PATH: channel_api.MAX_EMAIL_BYTES},
)
app.include_router(channel_api.router)
app.include_router(customer_api.router)
app.include_router(customer_pages.router)
app.include_router(erasure.router)
app.include_router(accepted.router)
app.include_router(staff_recorded.router)
