"""The reporting service (port 8003): projections from the event feed and the reports on them.

Every report takes a period (`start`, `end`: local dates, both included), a time zone (`tz`)
and filters (`tier`, `type`, `channel`, `group`, `person`), and answers JSON, or CSV with
`format=csv`. Readers: group leads and up with their staff token, or the operator's token.
"""

import uuid
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, FastAPI, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.common.http_client import http_client
from services.common.service import service_app, service_database
from services.common.service_auth import outgoing_headers, service_caller
from services.common.web import ApiError
from services.reporting import dashboard, exports, reports, review_page, reviews, simulator
from services.reporting.access import AnyStaff, ReportReader, StaffToken, StaffTokens
from services.reporting.directory import Directory
from services.reporting.projector import Projector, feed_reader

MIGRATIONS = Path(__file__).parent / "migrations"


@asynccontextmanager
async def lifespan(app: FastAPI):
    async with (
        service_database("reporting", MIGRATIONS) as (settings, pool),
        http_client(timeout=10, headers=outgoing_headers(settings)) as http,
        http_client(base_url=settings.url_of("workflow"), timeout=10) as sign_in_http,
    ):
        app.state.pool = pool
        app.state.zone = settings.time_zone
        app.state.console_url = f"{settings.url_of('workflow')}/console"  # the dashboard's way back
        app.state.staff_tokens = StaffTokens(sign_in_http)
        app.state.directory = Directory(sign_in_http)
        projector = Projector(pool, feed_reader(http, f"{settings.url_of('workflow')}/v1/events"))
        app.state.projector = projector
        action_messages = reviews.ActionMessages(
            pool, http, settings.url_of("notify"), app.state.console_url, settings.time_zone
        )
        async with (
            app.state.loops.supervised("projector", projector.one_pass, settings.reporting_poll_seconds),
            app.state.loops.supervised("review-action-messages", action_messages.send_once, 5.0),
        ):
            yield


app = service_app("reporting", "Reporting service", "Timeliness reports built from the complaint event feed.", lifespan)
app.include_router(dashboard.router)
app.include_router(review_page.router)


class Summary(BaseModel):
    total: int
    by_status: dict[str, int]
    by_tier: dict[str, int]
    events_read_up_to: int  # the feed position this report reflects


@app.get("/v1/reports/summary", response_model=Summary, tags=["reports"])
async def summary(reader: ReportReader) -> Summary:
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


def period_of(
    start: Annotated[date | None, Query(description="first local date (default: 29 days before end)")] = None,
    end: Annotated[date | None, Query(description="last local date, included (default: today)")] = None,
    tz: Annotated[str | None, Query(max_length=64, description="IANA zone (default: the organisation's)")] = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    complaint_type: Annotated[str | None, Query(alias="type", max_length=50)] = None,
    channel: Annotated[str | None, Query(max_length=50)] = None,
    group: Annotated[str | None, Query(max_length=100)] = None,
    person: Annotated[str | None, Query(max_length=100)] = None,
) -> reports.Period:
    """The period and filters every report takes: declared once, so each report can be narrowed
    the same way (a group's targets, a person's satisfaction)."""
    try:
        zone = ZoneInfo(tz) if tz else app.state.zone
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ApiError(422, "invalid_request", f"tz: unknown time zone '{tz}'", field="tz") from exc
    return reports.Period.asked(
        start, end, zone, tier=tier, complaint_type=complaint_type, channel=channel, group=group, person=person
    )


AskedPeriod = Annotated[reports.Period, Depends(period_of)]
Format = Annotated[Literal["json", "csv"], Query(description="csv: one row per line, for spreadsheets")]


async def _read(report, *args):
    async with app.state.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await report(conn, *args)


@app.get("/v1/reports/timeliness", response_model=reports.TimelinessReport, tags=["reports"])
async def timeliness(
    reader: ReportReader,
    period: AskedPeriod,
    by: Annotated[reports.Dimension | None, Query(description="drill down by this, per tier")] = None,
    format: Format = "json",
):
    """Source 000's complaint response timeliness report, per tier: first response and
    resolution (average, median, p90; wall and business time), each target's share within
    target and breach rate, escalations by level, time to accept transfers and time in each
    department, and a drill-down (`by`)."""
    report = await _read(reports.timeliness, period, by)
    return report if format == "json" else exports.timeliness(report)


@app.get("/v1/reports/distributions", response_model=reports.Distributions, tags=["reports"])
async def distributions(reader: ReportReader, period: AskedPeriod, format: Format = "json"):
    """Complaints by type, urgency, responsibility, channel and scope; the frequent causes;
    the trend by day and week (received, breached, escalated)."""
    report = await _read(reports.distributions, period)
    return report if format == "json" else exports.distributions(report)


@app.get("/v1/reports/satisfaction", response_model=reports.Satisfaction, tags=["reports"])
async def satisfaction(reader: ReportReader, period: AskedPeriod, format: Format = "json"):
    """Scores for the result and the speed, the share satisfied (4 or 5 on both) against 85 %,
    what dissatisfied customers wrote, and what the second follow-ups did."""
    report = await _read(reports.satisfaction, period)
    return report if format == "json" else exports.satisfaction(report)


@app.get("/v1/reports/targets", response_model=reports.Targets, tags=["reports"])
async def targets(reader: ReportReader, period: AskedPeriod, format: Format = "json"):
    """The period against the domain's targets: responses within target ≥ 95 %, completed
    within target ≥ 95 %, written results that reached the customer ≥ 95 % and surveys ≥ 90 %
    (a message given up on every address the customer gave did not), satisfied ≥ 85 %,
    escalations for slowness down 35 % on the previous period of the same length."""
    report = await _read(reports.against_targets, period)
    return report if format == "json" else exports.targets(report)


@app.post("/v1/projection/rebuild", status_code=202, tags=["operators"],
          dependencies=[Depends(service_caller("operator"))])  # fmt: skip
async def rebuild_projection() -> dict[str, str]:
    """Forget the projection and rebuild it from the feed's start (reports fill up as it reads)."""
    await app.state.projector.rebuild()
    return {"status": "rebuilding from position 0"}


# ---------------------------------------------------------------- root-cause reviews (source 003)


@app.post("/v1/reviews", status_code=201, response_model=reviews.Review, tags=["reviews"])
async def create_review(
    body: reviews.ReviewBody,
    reader: ReportReader,
    token: StaffToken,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)] = None,
):
    """A 5W1H review of a complaint or a batch incident, with improvement actions (owner, deadline).
    Sent again with the same Idempotency-Key, the first review is the answer (200,
    `Idempotent-Replayed: true`); the same key with another review is a 409."""
    owners = {f"actions.{n}.owner": a.owner for n, a in enumerate(body.actions)}
    await reviews.check_owners(app.state.directory, reader, token, owners)
    review, written = await reviews.create(app.state.pool, body, reader.who, idempotency_key)
    answer = JSONResponse(status_code=201 if written else 200, content=review.model_dump(mode="json"))
    if not written:
        answer.headers["Idempotent-Replayed"] = "true"
    return answer


@app.post("/v1/reviews/{review_id}/actions", response_model=reviews.Review, tags=["reviews"])
async def add_review_action(
    review_id: uuid.UUID, body: reviews.ActionBody, reader: ReportReader, token: StaffToken
) -> reviews.Review:
    await reviews.check_owners(app.state.directory, reader, token, {"owner": body.owner})
    review = await reviews.add_action(app.state.pool, review_id, body)
    if review is None:
        raise ApiError(404, "not_found", f"no review {review_id}", field="review_id")
    return review


@app.post("/v1/review-actions/{action_id}/done", response_model=reviews.Action, tags=["reviews"])
async def review_action_done(action_id: uuid.UUID, staff: AnyStaff) -> reviews.Action:
    """Its owner, or a group lead and up, marks an improvement action done."""
    return await reviews.mark_done(app.state.pool, action_id, staff)


@app.post("/v1/review-actions/{action_id}/owner", response_model=reviews.Action, tags=["reviews"])
async def give_review_action(
    action_id: uuid.UUID, body: reviews.OwnerBody, reader: ReportReader, token: StaffToken
) -> reviews.Action:
    """A group lead and up gives an open improvement action to another owner (its owner is away,
    or it fits someone else better); the move is kept in `moves` and the new owner is told. Given
    to the one who has it, nothing changes; a done action is a 409."""
    await reviews.check_owners(app.state.directory, reader, token, {"owner": body.owner})
    return await reviews.give_to(app.state.pool, action_id, body.owner, reader)


@app.get("/v1/reviews", response_model=list[reviews.Review], tags=["reviews"])
async def list_reviews(
    reader: ReportReader,
    status: Annotated[Literal["open", "closed", "all"], Query()] = "all",
    owner: Annotated[
        str | None, Query(min_length=1, max_length=100, description="with an open action of theirs")
    ] = None,
    after: Annotated[uuid.UUID | None, Query(description="the last review of the page before")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = reviews.REVIEWS_PAGE,
    format: Format = "json",
):
    """Reviews with their actions, newest first, `limit` at a time (the next page: `after` the
    last one's id); `open`: an action is not done yet; `owner`: with an open action of that
    person's. CSV: one line per action."""
    found = await reviews.listed(app.state.pool, status, owner=owner, after=after, limit=limit)
    if format == "json":
        return found
    rows = [[r.review_id, r.complaint_id or "", r.batch_id or "", a.action, a.owner, a.due_at.isoformat(),
             a.done_at.isoformat() if a.done_at else "", a.overdue] for r in found for a in r.actions]  # fmt: skip
    return exports.csv_file(
        "review-actions", ["review", "complaint", "batch", "action", "owner", "due", "done", "overdue"], rows
    )


# ---------------------------------------------------------------- the policy simulator


@app.post("/v1/simulations", response_model=simulator.Simulation, tags=["reports"])
async def simulate_policy(request: simulator.SimulationRequest, reader: ReportReader) -> simulator.Simulation:
    """Replay a period's complaints against a proposed policy beside the policy in force: the
    breach rate per tier and target under each, and the complaints whose outcome would change."""
    return await simulator.run(app.state.pool, app.state.zone, request)
