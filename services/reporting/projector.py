"""Follows the workflow service's event feed into reporting's own tables, exactly once:
each page of events and the checkpoint that says it was read commit in one transaction."""

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import httpx
from prometheus_client import Gauge

from services.common.events import EventPage, StoredEvent
from services.reporting.facts import ComplaintFacts, fold

log = logging.getLogger(__name__)

PROJECTION = "complaints"


JSON_COLUMNS = ("targets", "escalations", "transfers", "departments", "consultations")
SIDE_TABLES = ("targets", "escalations", "departments", "transfers", "consultations")
_COLUMNS = [c for c in ComplaintFacts.__dataclass_fields__ if c != "complaint_id"]
_UPSERT = f"""INSERT INTO reporting.complaints
    SELECT * FROM jsonb_populate_recordset(NULL::reporting.complaints, $1::jsonb)
    ON CONFLICT (complaint_id) DO UPDATE
    SET ({", ".join(_COLUMNS)}) = ({", ".join(f"EXCLUDED.{c}" for c in _COLUMNS)})"""


async def apply_page(conn: asyncpg.Connection, events: list[StoredEvent]) -> None:
    """Fold a page of events into the rows of the complaints they touch: one read and one
    write for the page, however many events it holds."""
    ids = sorted({e.stream_id for e in events})
    rows = await conn.fetch("SELECT * FROM reporting.complaints WHERE complaint_id = ANY($1)", ids)
    facts: dict[str, ComplaintFacts] = {}
    for row in rows:
        values = dict(row)
        for column in JSON_COLUMNS:
            values[column] = json.loads(values[column])
        facts[row["complaint_id"]] = ComplaintFacts.from_row(values)
    for event in events:
        fold(facts.setdefault(event.stream_id, ComplaintFacts(event.stream_id)), event)
    await conn.execute(_UPSERT, json.dumps([f.row() for f in facts.values()]))
    side: dict[str, list] = {name: [] for name in SIDE_TABLES}
    for f in facts.values():
        for name, rows in f.side_rows().items():
            side[name] += rows
    for name, rows in side.items():
        await conn.execute(f"DELETE FROM reporting.complaint_{name} WHERE complaint_id = ANY($1)", ids)
        if rows:
            await conn.execute(
                f"""INSERT INTO reporting.complaint_{name}
                    SELECT * FROM jsonb_populate_recordset(NULL::reporting.complaint_{name}, $1::jsonb)""",
                json.dumps(rows),
            )


ReadPage = Callable[[int, int], Awaitable[EventPage]]


def feed_reader(http: httpx.AsyncClient, feed_url: str) -> ReadPage:
    """The workflow service's event feed over HTTP (reporting's token in the client's headers)."""

    async def read(after: int, limit: int) -> EventPage:
        response = await http.get(feed_url, params={"after": after, "limit": limit})
        response.raise_for_status()
        return EventPage.model_validate(response.json())

    return read


LAG_SECONDS = Gauge("projection_lag_seconds", "how old the newest event the report projection has read was when read")
LAG_PAGES = Gauge("projection_full_pages", "1 while the projection reads full pages (catching up), else 0")


class Projector:
    def __init__(self, pool: asyncpg.Pool, read_page: ReadPage, page_size: int = 1000):
        self.pool, self.read_page, self.page_size = pool, read_page, page_size

    async def checkpoint(self) -> int:
        position = await self.pool.fetchval(
            "SELECT position FROM reporting.checkpoints WHERE projection = $1", PROJECTION
        )
        return position or 0

    async def one_pass(self) -> bool:
        """The projector loop's pass: read on at once only after a full page (behind, catching
        up). A page that was not full means the projection is current; the next pass waits for
        the poll, so events written meanwhile are read together rather than a page per few."""
        return await self.catch_up_once() >= self.page_size

    async def catch_up_once(self) -> int:
        """Read and apply one page; returns how many events it applied."""
        after = await self.checkpoint()
        page = await self.read_page(after, self.page_size)
        LAG_PAGES.set(1 if len(page.events) >= self.page_size else 0)
        if not page.events:
            LAG_SECONDS.set(0)
            return 0
        LAG_SECONDS.set(max(0.0, (datetime.now(UTC) - page.events[-1].recorded_at).total_seconds()))
        async with self.pool.acquire() as conn, conn.transaction():
            # Guard against a second projector replica having moved on meanwhile.
            current = await conn.fetchval(
                "SELECT position FROM reporting.checkpoints WHERE projection = $1 FOR UPDATE", PROJECTION
            )
            if (current or 0) != after:
                return 0
            await apply_page(conn, page.events)
            await conn.execute(
                """INSERT INTO reporting.checkpoints (projection, position) VALUES ($1, $2)
                   ON CONFLICT (projection) DO UPDATE SET position = excluded.position""",
                PROJECTION,
                page.next_after,
            )
        return len(page.events)

    async def rebuild(self) -> None:
        """Forget the projection and read the feed again from its start (the loop catches up)."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("LOCK TABLE reporting.checkpoints IN EXCLUSIVE MODE")
            await conn.execute(
                "TRUNCATE reporting.complaints, " + ", ".join(f"reporting.complaint_{name}" for name in SIDE_TABLES)
            )
            await conn.execute("UPDATE reporting.checkpoints SET position = 0 WHERE projection = $1", PROJECTION)
