"""Closed complaints stay readable after Temporal forgets them.

A complaint's view (`ComplaintView`) comes from its workflow's query. Temporal deletes a closed
workflow once the namespace's retention has passed (a day on the dev server), and staff, the
customer's page and audits still read the complaint long after. So a background pass keeps each
closed complaint's final view in the workflow service's database, and `view_of` answers from it
once the engine no longer knows the workflow. The event store keeps what happened in any case;
this keeps what the pages show.

An erasure deletes the kept view (`forget`), and a pass never keeps one after the complaint's
`CustomerDataErased` event: both take the same per-complaint lock, so neither can undo the other.

`staff_view` is the one answer to what staff read of a complaint, whatever the engine's state:
live, kept, as its events recorded it while the engine cannot answer, or as received while
intake holds it unstarted.
"""

from datetime import timedelta

import asyncpg
import httpx
from prometheus_client import Gauge

from services.workflow import inbox, not_started
from services.workflow.contract import (
    LIVE_VIEW_WAIT,
    ComplaintClient,
    ComplaintNotFound,
    ComplaintView,
    EngineUnavailable,
    Stage,
)
from services.workflow.eventstore import EventStore

BATCH = 50
# Closed complaints the pass has not kept yet: not kept before the namespace's retention, a
# complaint's view is gone (its events stay). Alerted on well before (deploy/prometheus/alerts.yml).
OLDEST_WAITING = Gauge(
    "kept_views_oldest_waiting_seconds", "time since the oldest closed complaint not kept yet was closed"
)
_WAITING = """FROM workflow.inbox i
           WHERE i.stage = 'closed'
             AND NOT EXISTS (SELECT 1 FROM workflow.kept_views k WHERE k.complaint_id = i.complaint_id)
             AND NOT EXISTS (SELECT 1 FROM workflow.events e
                             WHERE e.stream_id = i.complaint_id AND e.type = 'CustomerDataErased')"""


async def keep_closed(pool: asyncpg.Pool, complaints: ComplaintClient) -> bool:
    """One pass: the final view of closed complaints not kept yet. Busy when a full batch was seen."""
    waiting = await pool.fetch(f"SELECT i.complaint_id {_WAITING} ORDER BY i.updated_at LIMIT $1", BATCH)
    for row in waiting:
        complaint_id = row["complaint_id"]
        try:
            view: ComplaintView | None = await complaints.status(complaint_id)
        except ComplaintNotFound:
            view = None  # gone before it was kept (the service was down past the retention): noted once
        if view is not None and view.stage != Stage.closed:
            continue  # the inbox ran ahead of the workflow's last step: next pass
        await _keep(pool, complaint_id, view)
    return len(waiting) == BATCH


async def refresh_gauge(pool: asyncpg.Pool) -> None:
    waited = await pool.fetchval(f"SELECT coalesce(extract(epoch FROM now() - min(i.updated_at)), 0) {_WAITING}")
    OLDEST_WAITING.set(max(0.0, float(waited or 0)))


async def _keep(pool: asyncpg.Pool, complaint_id: str, view: ComplaintView | None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('kept-view/' || $1))", complaint_id)
        await conn.execute(
            """INSERT INTO workflow.kept_views (complaint_id, view)
               SELECT $1, $2::jsonb
               WHERE NOT EXISTS (SELECT 1 FROM workflow.events
                                 WHERE stream_id = $1 AND type = 'CustomerDataErased')
               ON CONFLICT (complaint_id) DO NOTHING""",
            complaint_id,
            view.model_dump_json() if view else None,
        )


async def forget(pool: asyncpg.Pool, complaint_id: str) -> int:
    """An erasure's part: the kept view goes (after the complaint's CustomerDataErased event)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('kept-view/' || $1))", complaint_id)
        deleted = await conn.execute("DELETE FROM workflow.kept_views WHERE complaint_id = $1", complaint_id)
    return int(deleted.split()[-1])


async def was_kept(pool: asyncpg.Pool, complaint_id: str) -> bool:
    """Whether the complaint closed and was kept: an action on it is refused as on any closed one."""
    return bool(await pool.fetchval("SELECT 1 FROM workflow.kept_views WHERE complaint_id = $1", complaint_id))


async def view_of(
    pool: asyncpg.Pool, complaints: ComplaintClient, complaint_id: str, rpc_timeout: timedelta | None = None
) -> ComplaintView:
    """The complaint as its workflow shows it, or as it was kept once the engine forgot it."""
    try:
        return await complaints.status(complaint_id, rpc_timeout=rpc_timeout)
    except ComplaintNotFound:
        kept = await pool.fetchval("SELECT view FROM workflow.kept_views WHERE complaint_id = $1", complaint_id)
        if kept is None:
            raise
        return ComplaintView.model_validate_json(kept)


async def staff_view(
    pool: asyncpg.Pool, complaints: ComplaintClient, events: EventStore, intake: httpx.AsyncClient, complaint_id: str
) -> ComplaintView:
    """What staff read (the console and the staff API): the live (or kept) view; while the engine
    cannot answer within `LIVE_VIEW_WAIT`, what the events recorded (`live` false), since someone
    on the phone with the customer still needs it; and one the engine does not know yet, as
    received, while intake holds it unstarted (`not_started`)."""
    try:
        return await view_of(pool, complaints, complaint_id, LIVE_VIEW_WAIT)
    except EngineUnavailable as engine_said:
        found = await recorded(pool, events, complaint_id)
        if found is not None:
            return found
        return await not_started.accepted_view(intake, complaint_id, engine_said)
    except ComplaintNotFound as engine_said:
        return await not_started.accepted_view(intake, complaint_id, engine_said)


async def recorded(pool: asyncpg.Pool, events: EventStore, complaint_id: str) -> ComplaintView | None:
    """The complaint as its events recorded it (`inbox.recorded_view`), None before its receipt."""
    row = await inbox.row_of(pool, complaint_id)
    return inbox.recorded_view(row, await events.read_stream(complaint_id) if row else ())
